/**
 * Where clients reach this API, for the absolute links Neutron puts in version discovery and pagination. Taken
 * from configuration (`sfip serve --public-url`, else the address serve listens on), never from the request's
 * Host header, which a client chooses: a reflected Host would let anyone make the API hand out links to a host of
 * their choosing (cache poisoning, credential phishing through a followed `next` link).
 */
export type PublicUrl = () => string;

/** What buildApi uses when given none (in-process tests): a local sfip on Neutron's port. */
export const DEFAULT_PUBLIC_URL = 'http://localhost:9696';

/** Checks a configured public URL: http or https, a host, nothing after the path; returned without a trailing slash. */
export function parsePublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      `'${text}' is not a valid --public-url: expected an absolute URL like https://sfip.example:9696`,
    );
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new Error(
      `'${text}' is not a valid --public-url: expected http or https, without credentials, query or fragment`,
    );
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
