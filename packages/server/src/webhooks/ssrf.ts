import { lookup as dnsLookup, promises as dns, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { WEBHOOKS_ALLOW_PRIVATE_ENV } from '@pulse/protocol';

/** Appended to every refusal: how a developer lifts it. */
export const ALLOW_PRIVATE_HINT = `${WEBHOOKS_ALLOW_PRIVATE_ENV}=1 on the server allows private addresses for local development`;

/**
 * Where webhooks may not go unless PULSE_WEBHOOKS_ALLOW_PRIVATE=1: loopback, private,
 * carrier-grade NAT, link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254),
 * unspecified, multicast and reserved ranges. Checked on the addresses a name resolves to,
 * and the connection then goes to the checked address (no second lookup to rebind).
 */
const BLOCKED: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a shared (carrier-grade NAT) address'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local (cloud metadata) address'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.0.0.0', 24, 'ipv4', 'a reserved address'],
  ['192.0.2.0', 24, 'ipv4', 'a documentation address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['198.51.100.0', 24, 'ipv4', 'a documentation address'],
  ['203.0.113.0', 24, 'ipv4', 'a documentation address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['::', 128, 'ipv6', 'an unspecified address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['64:ff9b:1::', 48, 'ipv6', 'a private (local NAT64) address'],
  ['100::', 64, 'ipv6', 'a discard address'],
  ['2001::', 32, 'ipv6', 'a Teredo tunnel address'],
  ['2001:db8::', 32, 'ipv6', 'a documentation address'],
  ['fc00::', 7, 'ipv6', 'a private (unique local) address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['fec0::', 10, 'ipv6', 'a site-local address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
];

const lists = BLOCKED.map(([net, prefix, type, reason]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, type);
  return { list, type, reason };
});

/** The eight 16-bit groups of an IPv6 address (in any notation URL parsing accepts). */
function ipv6Groups(ip: string): number[] | undefined {
  let host: string;
  try {
    // URL parsing writes it in one canonical form: hex groups, no dotted quad, `::` once at most.
    host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [left, right] = host.split('::') as [string, string | undefined];
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const groups = right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.length === 8 ? groups.map((g) => parseInt(g, 16)) : undefined;
}

const ipv4Of = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/**
 * The IPv4 address an IPv6 address carries and is routed to: IPv4-mapped (`::ffff:127.0.0.1`,
 * also written `::ffff:7f00:1`), IPv4-translated, IPv4-compatible (`::127.0.0.1`), NAT64
 * (`64:ff9b::/96`) and 6to4 (`2002::/16`). Checked as that IPv4 address.
 */
function embeddedIpv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  if (!g) return undefined;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return ipv4Of(g[6]!, g[7]!);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return ipv4Of(g[6]!, g[7]!);
  if (zero(0, 6) && (g[6] !== 0 || g[7]! > 1)) return ipv4Of(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return ipv4Of(g[6]!, g[7]!);
  if (g[0] === 0x2002) return ipv4Of(g[1]!, g[2]!);
  return undefined;
}

/** Why a webhook may not be sent to this IP address, or undefined when it may. */
export function blockedAddressReason(address: string): string | undefined {
  // A zone (`fe80::1%eth0`) names an interface, not another address.
  const ip = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(ip);
  if (family === 0) return 'not an IP address';
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    if (v4 !== undefined) {
      const reason = blockedAddressReason(v4);
      return reason && `${ip} (${reason})`;
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const hit = lists.find((l) => l.type === type && l.list.check(ip, type));
  return hit && `${ip} is ${hit.reason}`;
}

/** Resolves a name to its addresses (tests give their own). */
export type NameResolver = (hostname: string) => Promise<string[]>;
export const systemResolver: NameResolver = async (hostname) => (await dns.lookup(hostname, { all: true })).map((a) => a.address);

/** How long an endpoint's name is given to resolve when it is added or changed. */
const NAME_CHECK_MS = 2000;

/**
 * Why webhooks may not go to this name, judged on what it resolves to now; undefined when they
 * may, or when it does not resolve (yet): sending checks every address again anyway.
 */
export async function blockedNameReason(hostname: string, resolve: NameResolver = systemResolver): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), NAME_CHECK_MS)));
    for (const address of await Promise.race([resolve(hostname), timeout])) {
      const reason = blockedAddressReason(address);
      if (reason) return `${hostname} resolves to an address webhooks may not reach (${reason})`;
    }
  } catch {
    // Not resolvable now: the name may not be live yet.
  } finally {
    clearTimeout(timer);
  }
  return undefined;
}

export class BlockedAddressError extends Error {
  readonly code = 'EWEBHOOKBLOCKED';
}

/** Decides whether an address may be reached; the default refuses the ranges above. */
export type AddressPolicy = (address: string) => string | undefined;
export const defaultAddressPolicy: AddressPolicy = blockedAddressReason;
export const allowAll: AddressPolicy = () => undefined;

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for http.request that refuses names resolving to a refused address. */
export function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const reason = policy(a.address);
        if (reason) return callback(new BlockedAddressError(`refused: ${hostname} resolves to an address webhooks may not reach (${reason}); ${ALLOW_PRIVATE_HINT}`), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
