/** A listen failure in words: EADDRINUSE alone does not say that another serve (or program) holds the port. */
export function explainListenError(error: unknown, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new Error(
      `Cannot listen on ${host}:${port}: the port is already in use, perhaps by another 'sfip serve'. ` +
        `Stop that one, or pick another with --port (and point the CLI at it with --url or SFIP_URL).`,
      { cause: error },
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new Error(`Cannot listen on ${host}:${port}: no interface of this host has that address.`, {
      cause: error,
    });
  }
  if (code === 'EACCES') {
    return new Error(
      `Cannot listen on ${host}:${port}: ports below 1024 need root or CAP_NET_BIND_SERVICE.`,
      {
        cause: error,
      },
    );
  }
  return error as Error;
}
