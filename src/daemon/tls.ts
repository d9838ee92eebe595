import { readFileSync } from 'node:fs';

/** The certificate chain and key for HTTPS, read once at start; a path that cannot be read is named. */
export function loadTlsFiles(certPath: string, keyPath: string): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`Cannot read the TLS ${what} ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const cert = read(certPath, 'certificate');
  const key = read(keyPath, 'key');
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`The TLS certificate ${certPath} is not a PEM certificate (no BEGIN CERTIFICATE line).`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString())) {
    throw new Error(`The TLS key ${keyPath} is not a PEM private key (no BEGIN PRIVATE KEY line).`);
  }
  return { cert, key };
}
