const KEY = 'sfip-dashboard-token';

/**
 * The token comes from the URL fragment (`/dashboard/#token=...`: a fragment never reaches the server or its
 * logs), or from the form; it is kept for this browser tab only.
 */
export function initialToken(): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    const token = decodeURIComponent(match[1]!);
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
    return token;
  }
  return sessionStorage.getItem(KEY);
}

export function rememberToken(token: string | null): void {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}
