import { Type, type TSchema } from '@sinclair/typebox';

/**
 * Response shapes for the OpenAPI document. They document; they do not serialize: the server keeps
 * JSON.stringify (see server.ts) so that a documentation slip can never change what a client receives.
 */
export const NeutronErrorSchema = Type.Object(
  {
    NeutronError: Type.Object({
      type: Type.String({ description: "Neutron's fault type, e.g. FloatingIPNotFound" }),
      message: Type.String(),
      detail: Type.String(),
    }),
  },
  { $id: 'NeutronError', description: 'Every failure, with Neutron type names and status codes' },
);

const errorRef = Type.Ref('NeutronError');

export interface Documented {
  /** URL and list key, e.g. `floatingips`. */
  readonly collection: string;
  /** Body wrapper key, e.g. `floatingip`. */
  readonly member: string;
  readonly responseSchema: TSchema;
}

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, errorRef]));

const Link = Type.Object({ rel: Type.String(), href: Type.String() });

export function collectionResponse(def: Documented) {
  return {
    200: Type.Object({
      [def.collection]: Type.Array(def.responseSchema),
      [`${def.collection}_links`]: Type.Optional(Type.Array(Link)),
    }),
    ...errors(400, 401, 404),
  };
}

export function memberResponse(def: Documented, status = 200) {
  return {
    [status]: Type.Object({ [def.member]: def.responseSchema }),
    ...errors(400, 401, 403, 404, 409, 412),
  };
}

/** Attributes every resource shows (Neutron's standard attributes). */
export const StandardResponse = {
  id: Type.String({ format: 'uuid' }),
  project_id: Type.String(),
  tenant_id: Type.String(),
  description: Type.String(),
  tags: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  revision_number: Type.Integer(),
};

export const NullableString = Type.Union([Type.String(), Type.Null()]);
