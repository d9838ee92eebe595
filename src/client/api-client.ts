import { resolveToken } from './token-source.js';

/** A NeutronError (or a transport failure) as the CLI and the lab see it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Json = Record<string, unknown>;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);
const causeCode = (error: unknown): string | undefined =>
  (error as { cause?: { code?: string } }).cause?.code;

/** What a transport answers: the status and the body's text. */
export interface TransportResponse {
  readonly status: number;
  readonly text: string;
}

/**
 * Sends one request. Rejects on a transport failure (the cause's `code`, e.g. ECONNRESET, tells which); an HTTP
 * error status is an answer. The default is fetch; a benchmark may pass a cheaper one (bench/control/http-transport.ts).
 */
export type Transport = (
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string | undefined,
) => Promise<TransportResponse>;

/**
 * A kept-alive connection the server closed as the request went out is reset before any answer: an idempotent
 * request is safely sent once more, on a new connection. A POST never is. For every transport.
 */
export function sendWithResetRetry<T>(method: string, send: () => Promise<T>): Promise<T> {
  return send().catch((error: unknown) => {
    if (IDEMPOTENT.has(method) && RESET_CODES.has(causeCode(error) ?? '')) return send();
    throw error;
  });
}

const fetchTransport: Transport = async (method, url, headers, body) => {
  const response = await sendWithResetRetry(method, () =>
    fetch(url, { method, headers, ...(body !== undefined && { body }) }),
  );
  return { status: response.status, text: await response.text() };
};

/**
 * A thin client of sfip's Neutron-shaped API, shared by the CLI, the lab and the benchmarks. Without a token
 * it uses the local admin token that `sfip serve` publishes for an API on loopback (see resolveToken), so
 * tools on the daemon's own machine need no configuration.
 */
export class ApiClient {
  private readonly token: string | undefined;

  constructor(
    readonly baseUrl: string,
    token?: string,
    private readonly transport: Transport = fetchTransport,
  ) {
    this.token = token ?? resolveToken(baseUrl, {});
  }

  async request<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    let response: TransportResponse;
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(this.token && { 'x-auth-token': this.token }),
    };
    try {
      response = await this.transport(
        method,
        new URL(path, this.baseUrl),
        headers,
        body === undefined ? undefined : JSON.stringify(body),
      );
    } catch (error) {
      const cause = causeCode(error) ?? (error as Error).message;
      throw new ApiError(
        0,
        'ConnectionFailed',
        `Cannot reach the sfip API at ${this.baseUrl} (${cause}): is 'sfip serve' running?`,
      );
    }
    const { status, text } = response;
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (status < 200 || status > 299) {
      const neutron = (parsed as { NeutronError?: { type: string; message: string } } | undefined)
        ?.NeutronError;
      throw new ApiError(status, neutron?.type ?? `HTTP${status}`, neutron?.message ?? text);
    }
    return parsed as T;
  }

  get<T = Json>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = Json>(path: string, body: unknown) {
    return this.request<T>('POST', path, body);
  }
  put<T = Json>(path: string, body: unknown) {
    return this.request<T>('PUT', path, body);
  }
  delete(path: string) {
    return this.request('DELETE', path);
  }

  /**
   * Finds a resource by id, name or (for floating IPs) address, the way the openstack CLI does: try it as an id,
   * then list and match. Ambiguity is an error rather than a guess.
   */
  /** `collection` is the path below /v2.0/ (`qos/policies`); its last segment is the list's key (`policies`). */
  async find(collection: string, member: string, ref: string): Promise<Json> {
    // The list's key: `qos/policies` lists `policies`, `bgp-speakers` lists `bgp_speakers`.
    const key = collection.split('/').at(-1)!.replaceAll('-', '_');
    try {
      return (await this.get<Record<string, Json>>(`/v2.0/${collection}/${encodeURIComponent(ref)}`))[
        member
      ]!;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
    const attribute = collection === 'floatingips' ? 'floating_ip_address' : 'name';
    const found = (
      await this.get<Record<string, Json[]>>(`/v2.0/${collection}?${attribute}=${encodeURIComponent(ref)}`)
    )[key]!;
    if (found.length === 0) {
      throw new ApiError(404, 'NotFound', `No ${member} found for '${ref}'${await this.choices(collection)}`);
    }
    if (found.length > 1) {
      throw new ApiError(
        409,
        'Ambiguous',
        `More than one ${member} matches '${ref}': use an id (${found.map((f) => f.id).join(', ')})`,
      );
    }
    return found[0]!;
  }

  /** The valid choices for an error message: `; floating IPs: ...`, `; routers: r1, r2`, or that there are none. */
  private async choices(collection: string): Promise<string> {
    const attribute = collection === 'floatingips' ? 'floating_ip_address' : 'name';
    const rows = await this.get<Record<string, Json[]>>(`/v2.0/${collection}?limit=21`).then(
      (r) => r[collection.split('/').at(-1)!.replaceAll('-', '_')] ?? [],
      () => undefined,
    );
    if (rows === undefined) return '';
    const shown = rows.slice(0, 20).map((r) => String(r[attribute] || r.id));
    if (shown.length === 0) return `; there are no ${collection} yet`;
    return `; ${collection}: ${shown.join(', ')}${rows.length > 20 ? ', ...' : ''}`;
  }
}
