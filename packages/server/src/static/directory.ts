import { PulseError, type PulseUser } from '@pulse/protocol';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { RetryLaterError } from '../retry-later.ts';
import { DIRECTORY_SEARCH_BURST, DIRECTORY_SEARCHES_AT_ONCE, DIRECTORY_SEARCHES_PER_MINUTE, UserRateLimiter } from '../user-rate-limiter.ts';

const MAX_IDS = 100;
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
  let searching = 0;
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'X-Pulse-Key, X-Pulse-Token', 'access-control-max-age': '600' };
  app.options('/api/v1/directory/users', async (_request, reply) => reply.headers(cors).status(204).send());
  app.get('/api/v1/directory/users', async (request, reply) => {
    void reply.headers(cors);
    const pk = request.headers['x-pulse-key'];
    const token = request.headers['x-pulse-token'];
    if (typeof pk !== 'string' || typeof token !== 'string') throw new PulseError('unauthorized', 'Send X-Pulse-Key and X-Pulse-Token.');
    const { environmentId: envId, user } = await ctx.tokens.verify(pk, token);
    const query = request.query as { ids?: string; q?: string };
    if (typeof query.ids === 'string') {
      const ids = [...new Set(query.ids.split(',').map((s) => s.trim()).filter(Boolean))].slice(0, MAX_IDS);
      // One read for them all, in the order asked.
      const found = new Map((await ctx.store.getUsers(envId, ids)).map((u) => [u.externalId, u]));
      return { items: ids.flatMap((id) => (found.has(id) ? [toPulseUser(found.get(id)!)] : [])) };
    }
    if (typeof query.q === 'string') {
      searches.take(envId, user.externalId);
      if (searching >= DIRECTORY_SEARCHES_AT_ONCE) throw new RetryLaterError('service_unavailable', 'Too many user searches under way; retry in a moment.', 1);
      searching++;
      try {
        const q = query.q.trim().slice(0, 100);
        return { items: (await ctx.store.searchUsers(envId, q, SEARCH_RESULTS)).map(toPulseUser) };
      } finally {
        searching--;
      }
    }
    throw new PulseError('validation_failed', 'Pass ids=… or q=….');
  });
}
