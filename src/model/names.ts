import { invalidInput } from './errors.js';

/**
 * Linux interface names: at most IFNAMSIZ-1 = 15 bytes, no '/', ':' or whitespace. We are stricter and allow
 * only what real router devices use, so a name can never be read as an option or a path by a kernel tool.
 */
const DEVICE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** Network namespace names become files under /run/netns: no '/', no leading '.' or '-'. */
const NAMESPACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function isDeviceName(name: string): boolean {
  return DEVICE.test(name) && name !== '.' && name !== '..';
}

export function isNamespaceName(name: string): boolean {
  return NAMESPACE.test(name) && !name.includes('..');
}

export function parseDeviceName(name: unknown, field = 'gateway_device'): string {
  if (typeof name !== 'string' || !isDeviceName(name)) {
    throw invalidInput(
      `'${String(name)}' is not a valid device name for ${field}: expected 1-15 characters from A-Z a-z 0-9 _ . - not starting with . or -`,
    );
  }
  return name;
}

export function parseNamespaceName(name: unknown, field = 'namespace'): string {
  if (typeof name !== 'string' || !isNamespaceName(name)) {
    throw invalidInput(
      `'${String(name)}' is not a valid network namespace name for ${field}: expected 1-64 characters from A-Z a-z 0-9 _ . - not starting with . or -`,
    );
  }
  return name;
}

/** Ethernet MAC as nft and ip print it: six lower- or upper-case hex pairs separated by colons. */
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export function isMacAddress(mac: string): boolean {
  return MAC.test(mac);
}

export function parseMacAddress(mac: unknown, field = 'mac_address'): string {
  if (typeof mac !== 'string' || !isMacAddress(mac)) {
    throw invalidInput(
      `'${String(mac)}' is not a valid MAC address for ${field}: expected six hex pairs like fa:16:3e:00:00:01`,
    );
  }
  return mac.toLowerCase();
}

/** Network node names (`sfip agent --node NAME`): host-name-like, because they name the node in keys and logs. */
const NODE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function parseNodeName(name: unknown, field = 'node'): string {
  if (typeof name !== 'string' || !NODE.test(name)) {
    throw invalidInput(
      `'${String(name)}' is not a valid node name for ${field}: expected 1-63 characters from A-Z a-z 0-9 _ . - starting with a letter or digit`,
    );
  }
  return name;
}
