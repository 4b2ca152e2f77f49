import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signed one-click unsubscribe links: an HMAC of the environment and user under a key derived from the server secret. */
export class UnsubscribeLinks {
  readonly #key: Buffer;
  readonly #base: () => string;

  constructor(serverSecret: string | Buffer, base: () => string) {
    this.#key = createHmac('sha256', serverSecret).update('pulse email unsubscribe').digest();
    this.#base = base;
  }

  #sign(envId: string, userId: string): string {
    return createHmac('sha256', this.#key).update(`${envId}\u0000${userId}`).digest('base64url');
  }

  url(envId: string, userId: string): string {
    const q = new URLSearchParams({ env: envId, user: userId, sig: this.#sign(envId, userId) });
    return `${this.#base()}/email/unsubscribe?${q}`;
  }

  verify(envId: string, userId: string, sig: string): boolean {
    const expected = Buffer.from(this.#sign(envId, userId));
    const given = Buffer.from(sig);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
