import { Agent, request } from 'node:http';
import { sendWithResetRetry, type Transport } from '../../src/client/api-client.js';

/**
 * ApiClient's transport over node:http with kept-alive connections, for the fill benchmarks: the same requests
 * (method, path, headers, JSON body) as the default fetch transport, at a fraction of its CPU. On the 2-core
 * bench machine the 16 fill clients share the cores with the daemon; with fetch (undici's WHATWG streams,
 * abort signals and header lists) they used about 1.3 ms of CPU per floating IP, which the daemon then lacked.
 * Plain HTTP only (the benches serve on loopback). A failure rejects with the socket's error as `cause`, whose
 * code (ECONNRESET) ApiClient and sendWithResetRetry read as they read fetch's.
 */
export function httpTransport(maxSockets: number): Transport {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const once = (method: string, url: URL, headers: Record<string, string>, body: string | undefined) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const fail = (error: Error) => reject(new Error(error.message, { cause: error }));
      const req = request(
        url,
        {
          method,
          agent,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on('error', fail);
        },
      );
      req.on('error', fail);
      req.end(body);
    });
  return (method, url, headers, body) => sendWithResetRetry(method, () => once(method, url, headers, body));
}
