import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KNOWN_ADDRESS_TTL_MS, KNOWN_DEVICE_TTL_MS } from './limits.ts';
import { KNOWN_DEVICE_COOKIE, readCookies, setCookie } from './cookies.ts';
import type { KnownGood } from './throttle.ts';

const MAX_ADDRESSES = 10_000;

/**
 * Where an account signed in successfully before, so that someone failing logins on purpose
 * cannot lock its owner out (see LoginThrottle):
 * - a browser: a signed cookie (account id + date, HMAC with a key derived from the server secret,
 *   so every node of a cluster accepts it). It proves nothing but an earlier login; the password
 *   is still checked.
 * - a client address: remembered in this process's memory for KNOWN_ADDRESS_TTL_MS.
 */
export class KnownGoodLogins {
  readonly #key: Buffer;
  readonly #addresses = new Map<string, number>();

  constructor(serverSecret: Buffer) {
    this.#key = createHmac('sha256', serverSecret).update('pulse/panel/known-device/v1').digest();
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }

  /** What the request proves for this account. */
  check(request: FastifyRequest, adminId: string | undefined, ip: string): KnownGood {
    if (!adminId) return { device: false, address: false };
    const seen = this.#addresses.get(`${adminId} ${ip}`);
    return { device: this.#deviceMatches(request, adminId), address: seen !== undefined && seen > Date.now() };
  }

  #deviceMatches(request: FastifyRequest, adminId: string): boolean {
    const cookie = readCookies(request)[KNOWN_DEVICE_COOKIE];
    if (!cookie || cookie.length > 300) return false;
    for (const entry of cookie.split('~')) {
      const [id, issued, mac] = entry.split('.');
      if (id !== adminId || !issued || !mac) continue;
      if (!(Number(issued) + KNOWN_DEVICE_TTL_MS > Date.now())) continue;
      const expected = Buffer.from(this.#sign(`${id}.${issued}`));
      const given = Buffer.from(mac);
      if (expected.length === given.length && timingSafeEqual(expected, given)) return true;
    }
    return false;
  }

  /** After a successful login: remember the address, and give the browser (or renew) its cookie. */
  remember(request: FastifyRequest, reply: FastifyReply, adminId: string, ip: string): void {
    const now = Date.now();
    const key = `${adminId} ${ip}`;
    this.#addresses.delete(key);
    this.#addresses.set(key, now + KNOWN_ADDRESS_TTL_MS);
    if (this.#addresses.size > MAX_ADDRESSES) this.#addresses.delete(this.#addresses.keys().next().value!);
    // One browser may be used for a few accounts: keep up to three entries, newest first.
    const others = (readCookies(request)[KNOWN_DEVICE_COOKIE] ?? '')
      .split('~')
      .filter((e) => e && e.length < 100 && !e.startsWith(`${adminId}.`))
      .slice(0, 2);
    const entry = `${adminId}.${now}.${this.#sign(`${adminId}.${now}`)}`;
    setCookie(request, reply, KNOWN_DEVICE_COOKIE, [entry, ...others].join('~'), { httpOnly: true, maxAge: Math.floor(KNOWN_DEVICE_TTL_MS / 1000) });
  }
}
