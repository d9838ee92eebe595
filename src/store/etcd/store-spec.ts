import { isIPv4 } from 'node:net';
import { StoreError } from '../errors.js';

export interface EtcdSpec {
  /** `http://host:port` for each cluster member. */
  readonly endpoints: readonly string[];
  /** Key prefix under which sfip keeps everything; begins and ends with '/'. */
  readonly prefix: string;
}

const HOST = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PREFIX = /^\/([A-Za-z0-9_.-]+\/)*$/;

/** Parses `etcd://host:port[,host:port...][/prefix/]`. The default prefix is `/sfip/`. */
export function parseEtcdSpec(spec: string): EtcdSpec {
  const bad = (why: string) =>
    new StoreError(
      `Invalid etcd store '${spec}': ${why}. Expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX/]`,
    );
  if (!spec.startsWith('etcd://')) throw bad('it does not start with etcd://');
  const rest = spec.slice('etcd://'.length);
  const slash = rest.indexOf('/');
  const hostList = slash < 0 ? rest : rest.slice(0, slash);
  let prefix = slash < 0 ? '/sfip/' : rest.slice(slash);
  if (!prefix.endsWith('/')) prefix += '/';
  if (prefix === '/' || !PREFIX.test(prefix)) throw bad(`'${prefix}' is not a key prefix like /sfip/`);
  if (hostList === '') throw bad('no host given');
  const endpoints = hostList.split(',').map((member) => {
    const m = /^(.+):(\d{1,5})$/.exec(member);
    if (!m) throw bad(`'${member}' is not HOST:PORT`);
    const [, host, portText] = m as unknown as [string, string, string];
    const port = Number(portText);
    if (port < 1 || port > 65535) throw bad(`port ${portText} is out of range 1-65535`);
    if (!isIPv4(host) && !HOST.test(host)) throw bad(`'${host}' is not a host name or IPv4 address`);
    return `http://${host}:${port}`;
  });
  return { endpoints, prefix };
}
