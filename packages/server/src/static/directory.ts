import { isUnstorableText, LIMITS, PulseError, type PulseUser } from '@pulse/protocol';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { RetryLaterError } from '../retry-later.ts';
import { DIRECTORY_SEARCH_BURST, DIRECTORY_SEARCHES_AT_ONCE, DIRECTORY_SEARCHES_PER_MINUTE, UserRateLimiter } from '../user-rate-limiter.ts';

const SEARCH_RESULTS = 10;

const toPulseUser = (u: { externalId: string; name: string; avatar: string | null; color: string }): PulseUser => ({
  id: u.externalId,
  name: u.name,
  avatar: u.avatar,
  color: u.color,
});

/**
 * GET /api/v1/directory/users?ids=a,b | ?q=text — names and colours of the environment's users
 * for the widget (comment authors who are offline, @mention suggestions). Same credentials as
 * the WebSocket: X-Pulse-Key (pk_) and X-Pulse-Token (user JWT).
 */
export function registerDirectory(app: FastifyInstance, ctx: ServerContext): void {
  // A search reads every user of the environment: charged per user, like uploads.
  const searches = new UserRateLimiter('directory searches', DIRECTORY_SEARCH_BURST, DIRECTORY_SEARCHES_PER_MINUTE);
  const underWay = new SearchSlots();
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'X-Pulse-Key, X-Pulse-Token', 'access-control-max-age': '600' };
  app.options('/api/v1/directory/users', async (_request, reply) => reply.headers(cors).status(204).send());
  app.get('/api/v1/directory/users', async (request, reply) => {
    void reply.headers(cors);
    const pk = request.headers['x-pulse-key'];
    const token = request.headers['x-pulse-token'];
    if (typeof pk !== 'string' || typeof token !== 'string') throw new PulseError('unauthorized', 'Send X-Pulse-Key and X-Pulse-Token.');
    const { environmentId: envId, user } = await ctx.tokens.verify(pk, token);
    const query = request.query as { ids?: string; q?: string };
    // A NUL would cut SQLite's pattern short (matching everyone) and PostgreSQL refuses it outright.
    for (const field of ['ids', 'q'] as const) {
      const value = query[field];
      if (typeof value === 'string' && isUnstorableText(value)) throw new PulseError('validation_failed', `${field} must not contain control characters or broken Unicode`);
    }
    if (typeof query.ids === 'string') {
      const ids = [...new Set(query.ids.split(',').map((s) => s.trim()).filter(Boolean))];
      if (ids.length > LIMITS.directoryIds) throw new PulseError('validation_failed', `ids: at most ${LIMITS.directoryIds} at a time (got ${ids.length})`);
      // One read for them all, in the order asked.
      const found = new Map((await ctx.store.getUsers(envId, ids)).map((u) => [u.externalId, u]));
      return { items: ids.flatMap((id) => (found.has(id) ? [toPulseUser(found.get(id)!)] : [])) };
    }
    if (typeof query.q === 'string') {
      // Slots first: a search refused for want of one does not use up the user's allowance.
      const release = underWay.take(envId, user.externalId);
      try {
        searches.take(envId, user.externalId);
        const q = query.q.trim().slice(0, 100);
        return { items: (await ctx.store.searchUsers(envId, q, SEARCH_RESULTS)).map(toPulseUser) };
      } finally {
        release();
      }
    }
    throw new PulseError('validation_failed', 'Pass ids=… or q=….');
  });
}

/** Searches under way: per user, per environment and in all (DIRECTORY_SEARCHES_AT_ONCE). */
class SearchSlots {
  readonly #byKey = new Map<string, number>();
  #total = 0;

  /** Takes a slot, or refuses; returns what gives it back. */
  take(envId: string, userId: string): () => void {
    const userKey = `${envId}\u0000${userId}`;
    const limits = DIRECTORY_SEARCHES_AT_ONCE;
    if ((this.#byKey.get(userKey) ?? 0) >= limits.perUser) throw new RetryLaterError('rate_limited', 'One user search at a time: wait for the last one.', 1);
    if ((this.#byKey.get(envId) ?? 0) >= limits.perEnvironment || this.#total >= limits.total) {
      throw new RetryLaterError('service_unavailable', 'Too many user searches under way; retry in a moment.', 1);
    }
    const add = (key: string, n: number) => {
      const next = (this.#byKey.get(key) ?? 0) + n;
      if (next > 0) this.#byKey.set(key, next);
      else this.#byKey.delete(key);
    };
    add(userKey, 1);
    add(envId, 1);
    this.#total++;
    return () => {
      add(userKey, -1);
      add(envId, -1);
      this.#total--;
    };
  }
}
