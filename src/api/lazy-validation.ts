import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyInstance } from 'fastify';
import { yieldToLoop } from '../dataplane/common/yield-to-loop.js';

type BuildValidator = AjvCompiler.BuildCompilerFromPool;
type RouteDefinition = AjvCompiler.RouteDefinition;
/** What Fastify calls per request part: true or false, and the errors of the last false on the function itself. */
type Validate = ReturnType<ReturnType<BuildValidator>>;

/**
 * Route validators compiled on first use instead of when the server starts. Fastify compiles every route's
 * schemas (ajv code generation) while it gets ready: about 130-250 ms of the daemon's start, on the event loop
 * the agent's first pass needs for a converge or a restart, and for schemas most of which no request uses then.
 * Here Fastify's own compiler (@fastify/ajv-compiler, the same options) compiles each validator the first time a
 * request reaches its route, or when `compileAll` runs (the daemon does once its agent is ready), whichever comes
 * first. Every check stays: a request is validated by exactly the function an eager compile would have built.
 */
export class LazyValidators {
  private readonly pending = new Set<() => void>();
  private readonly factory = AjvCompiler();

  /** For Fastify's `schemaController.compilersFactory.buildValidator`. */
  readonly buildValidator: BuildValidator = (externalSchemas, options) => {
    // The ajv instance (formats, shared schemas) is made on first use too: 40 ms of the start in the profile.
    let compile: ReturnType<BuildValidator> | undefined;
    const compileOf = () => (compile ??= this.factory(externalSchemas, options));
    return (route: RouteDefinition) => this.lazy(route, () => compileOf()(route));
  };

  private lazy(route: RouteDefinition, build: () => Validate): Validate {
    let compiled: Validate | undefined;
    const ensure = (): Validate => {
      if (!compiled) {
        // Still pending while it fails: compileAll reports it too.
        try {
          compiled = build();
        } catch (error) {
          // As Fastify's own start would have said it (FST_ERR_SCH_VALIDATION_BUILD): which route, which part.
          throw new Error(
            `Failed building the validation schema for ${route.method} ${route.url}, ${route.httpPart}: ${(error as Error).message}`,
            { cause: error },
          );
        }
        this.pending.delete(ensure);
      }
      return compiled;
    };
    this.pending.add(ensure);
    const validate = (data: unknown, context?: Parameters<Validate>[1]) => {
      const fn = ensure();
      const ok = fn(data, context);
      // Fastify reads a failure's errors from the function it called, not from the compiled one.
      validate.errors = fn.errors;
      return ok;
    };
    validate.errors = undefined as Validate['errors'];
    // Fastify calls it as it would the compiled function; its other members (schema, source) are no one's concern.
    return validate as unknown as Validate;
  }

  /** Validators not compiled yet. */
  get uncompiled(): number {
    return this.pending.size;
  }

  /**
   * Compiles every validator not compiled yet, a turn of the event loop between them (each takes a few ms), so
   * that first requests find them ready and a schema ajv refuses is reported soon. Rejects with the first refusal,
   * naming the route.
   */
  async compileAll(): Promise<void> {
    for (const ensure of [...this.pending]) {
      await yieldToLoop();
      ensure();
    }
  }
}

const registry = new WeakMap<FastifyInstance, LazyValidators>();

export function rememberValidators(app: FastifyInstance, validators: LazyValidators): void {
  registry.set(app, validators);
}

/** The lazy validators of an app built by buildApi (undefined for any other Fastify instance). */
export function validatorsOf(app: FastifyInstance): LazyValidators | undefined {
  return registry.get(app);
}
