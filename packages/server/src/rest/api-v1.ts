import {
  colorForUser,
  LIMITS,
  PulseError,
  REST_ROUTES,
  TOKEN_DEFAULT_LIFETIME_S,
  externalUserId,
  roomId as roomIdSchema,
  type RestRouteName,
} from '@pulse/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { authenticateSecretKey } from '../auth/keys.ts';
import { RetryLaterError } from '../retry-later.ts';
import { WriteGate } from './write-gate.ts';
import type { ServerContext } from '../context.ts';
import type { Actor } from '../domain/actor.ts';
import { ThreadViews } from '../domain/thread-views.ts';
import { decodeCursor } from '../store/paging.ts';
import type { KeyRecord, PageRequest } from '../store/types.ts';
import { parseInput, parseParam, refuseBody, refuseQuery } from './validation.ts';
import { p2pOfContext } from '../p2p/handlers.ts';

type Params = Record<string, string>;
type Routes = typeof REST_ROUTES;
/** A route's body, checked against its schema (undefined for routes that take none). */
type BodyOf<N extends RestRouteName> = Routes[N] extends { body: infer S extends z.ZodType } ? z.infer<S> : undefined;
interface Call<N extends RestRouteName> {
  request: FastifyRequest;
  params: Params;
  envId: string;
  key: KeyRecord;
  body: BodyOf<N>;
}
type Handlers = { [N in RestRouteName]: (call: Call<N>) => Promise<unknown> };
/** Any route's handler, called with the body its route's schema gave. */
type AnyHandler = (call: Omit<Call<RestRouteName>, 'body'> & { body: unknown }) => Promise<unknown>;

const BACKEND: Actor = { kind: 'backend' };
const STATUS = Symbol('status');
/** A handler result with another status than the route's default. */
const withStatus = (status: number, body: unknown) => ({ [STATUS]: status, body });
/** A handler result that is JSON text already. */
class JsonText {
  constructor(readonly text: string) {}
}

function page(query: { limit?: number; cursor?: string }): PageRequest {
  return { limit: query.limit ?? LIMITS.pageDefault, ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}) };
}

/** The REST API v1 and POST /auth/token: one handler per entry of the protocol's route table. */
function handlers(ctx: ServerContext): Handlers {
  const { store, collab } = ctx;
  const r = REST_ROUTES;
  const threadViews = new ThreadViews(store, (envId, threadId) => collab.threadRoom(envId, threadId));

  const requireRoom = async (envId: string, roomId: string) => {
    const room = await store.getRoom(envId, roomId);
    if (!room) throw new PulseError('room_not_found');
    const { seq: _seq, ...rest } = room;
    return rest;
  };
  const requireThread = async (envId: string, threadId: string) => {
    const thread = await store.getThread(envId, threadId);
    if (!thread) throw new PulseError('thread_not_found');
    return thread;
  };

  return {
    async mintToken({ envId, key, body }) {
      const { token, expiresAt } = await ctx.tokens.mint(
        key,
        { externalId: body.userId, name: body.name, avatar: body.avatar ?? null, ...(body.color ? { color: body.color } : {}) },
        body.expiresIn ?? TOKEN_DEFAULT_LIFETIME_S,
      );
      // An email in the token body is stored at once (it is not put in the token).
      if (body.email !== undefined) {
        await collab.upsertUser(envId, { externalId: body.userId, name: body.name, avatar: body.avatar ?? null, ...(body.color ? { color: body.color } : {}), email: body.email });
      }
      const existing = await store.getUser(envId, body.userId);
      const user = {
        id: `${envId}:${body.userId}`,
        externalId: body.userId,
        name: body.name,
        avatar: body.avatar ?? null,
        color: body.color ?? existing?.color ?? colorForUser(body.userId),
      };
      return { token, expiresAt: expiresAt.toISOString(), user };
    },

    async listRooms({ request, envId }) {
      return store.listRooms(envId, page(parseInput(r.listRooms.query, request.query, 'query')));
    },

    async getRoom({ envId, params }) {
      const room = await requireRoom(envId, params.roomId!);
      const threads = await store.listThreads(envId, room.id, {}, { limit: 10_000 });
      return { room, threads: threads.items };
    },

    async getPresence({ envId, params }) {
      return { items: await ctx.presence.list(envId, params.roomId!) };
    },

    async getSharedState({ envId, params }) {
      const view = await p2pOfContext(ctx).view(envId, params.roomId!);
      if (!view) throw new PulseError('not_found', 'No shared state is stored for this room.');
      return view;
    },

    async deleteSharedState({ envId, params }) {
      await p2pOfContext(ctx).reset(envId, params.roomId!);
      return undefined;
    },

    async listThreads({ request, envId, params }) {
      const query = parseInput(r.listThreads.query, request.query, 'query');
      await requireRoom(envId, params.roomId!);
      const resolved = query.resolved === undefined ? {} : { resolved: query.resolved === 'true' };
      return store.listThreads(envId, params.roomId!, resolved, page(query));
    },

    async createThread({ envId, params, body }) {
      const thread = await collab.createThread(envId, BACKEND, {
        ...(body.id ? { id: body.id } : {}),
        roomId: params.roomId!,
        authorId: body.userId,
        body: body.body,
        mentions: body.mentions ?? [],
        position: body.position ?? null,
        ...(body.attachmentIds ? { attachmentIds: body.attachmentIds } : {}),
      });
      return withStatus(201, { thread });
    },

    async getThread({ envId, params }) {
      const json = await threadViews.json(envId, params.threadId!);
      if (json === undefined) throw new PulseError('thread_not_found');
      return new JsonText(json);
    },

    async patchThread({ envId, params, body }) {
      return { thread: await collab.setResolved(envId, BACKEND, params.threadId!, body.resolved) };
    },

    async deleteThread({ envId, params }) {
      await collab.deleteThread(envId, BACKEND, params.threadId!);
      return { deleted: true };
    },

    async listComments({ request, envId, params }) {
      const query = parseInput(r.listComments.query, request.query, 'query');
      await requireThread(envId, params.threadId!);
      return store.listComments(envId, params.threadId!, page(query));
    },

    async createComment({ envId, params, body }) {
      const comment = await collab.addComment(envId, BACKEND, {
        ...(body.id ? { id: body.id } : {}),
        threadId: params.threadId!,
        authorId: body.userId,
        body: body.body,
        mentions: body.mentions ?? [],
        ...(body.attachmentIds ? { attachmentIds: body.attachmentIds } : {}),
      });
      return withStatus(201, { comment });
    },

    async patchComment({ envId, params, body }) {
      const comment = await collab.editComment(envId, BACKEND, params.commentId!, {
        body: body.body,
        ...(body.mentions ? { mentions: body.mentions } : {}),
        ...(body.attachmentIds ? { attachmentIds: body.attachmentIds } : {}),
      });
      return { comment };
    },

    async deleteComment({ envId, params }) {
      await collab.deleteComment(envId, BACKEND, params.commentId!);
      return { deleted: true };
    },

    async addReaction({ envId, params, body }) {
      const { reaction, created } = await collab.addReaction(envId, BACKEND, {
        commentId: params.commentId!,
        userId: body.userId,
        emoji: body.emoji,
      });
      return withStatus(created ? 201 : 200, { reaction });
    },

    async deleteReaction({ envId, params }) {
      await collab.removeReaction(envId, BACKEND, params.reactionId!);
      return { deleted: true };
    },

    async listUsers({ request, envId }) {
      return store.listUsers(envId, page(parseInput(r.listUsers.query, request.query, 'query')));
    },

    async putUser({ envId, params, body }) {
      const externalId = parseParam(externalUserId, params.userId, 'userId');
      const user = await collab.upsertUser(envId, {
        externalId,
        name: body.name,
        avatar: body.avatar ?? null,
        ...(body.color ? { color: body.color } : {}),
        ...(body.email !== undefined ? { email: body.email } : {}),
      });
      return { user };
    },
  };
}

const AT_CAPACITY = 'The server is at capacity; retry in a moment.';

export function registerRestApi(app: FastifyInstance, ctx: ServerContext): void {
  const table = handlers(ctx);
  const keys = new WeakMap<FastifyRequest, KeyRecord>();
  const gate = new WriteGate({ atOnce: LIMITS.restWritesAtOnce, waiting: LIMITS.restWritesWaiting, maxWaitMs: LIMITS.restWriteWaitMs });
  /**
   * A write's work, in its turn (see LIMITS.restWritesAtOnce): the turn is held while the work
   * runs, whatever becomes of the client or its response, and given back once it ends.
   */
  const inTurn = async <T>(reply: FastifyReply, work: () => Promise<T>): Promise<T> => {
    const turn = gate.enter();
    if (!(turn === true || (turn !== false && (await turn)))) throw new RetryLaterError('service_unavailable', AT_CAPACITY, 1);
    try {
      // Its client left while it waited, or the server filled up meanwhile: not done.
      if (reply.raw.closed || ctx.writesSaturated()) throw new RetryLaterError('service_unavailable', AT_CAPACITY, 1);
      return await work();
    } finally {
      gate.leave();
    }
  };
  for (const [name, route] of Object.entries(REST_ROUTES) as [RestRouteName, (typeof REST_ROUTES)[RestRouteName]][]) {
    const handler = table[name];
    app.route({
      method: route.method,
      url: route.path,
      // Credentials are checked before the body is read: an unauthenticated caller learns nothing else.
      onRequest: async (request) => {
        keys.set(request, await authenticateSecretKey(ctx.store, request.headers.authorization));
        // Saturated (WebSocket writes too): writes are refused at once, before their body is read.
        if (route.method !== 'GET' && ctx.writesSaturated()) throw new RetryLaterError('service_unavailable', AT_CAPACITY, 1);
      },
      handler: async (request, reply) => {
        const key = keys.get(request)!;
        const params = request.params as Params;
        if (!('query' in route)) refuseQuery(request);
        // A room id that could never exist is bad input (400), not an empty room.
        if (params.roomId !== undefined) parseParam(roomIdSchema, params.roomId, 'roomId');
        // Checked before a write waits for its turn: a bad one is answered at once, and one that
        // waits holds no more than its route accepts.
        const body = 'body' in route ? parseInput(route.body, request.body) : refuseBody(request);
        const run = () => (handler as AnyHandler)({ request, params, envId: key.environmentId, key, body });
        const result = route.method === 'GET' ? await run() : await inTurn(reply, run);
        if (result === undefined) return reply.status(route.status).send(); // 204
        if (result instanceof JsonText) return reply.status(route.status).type('application/json; charset=utf-8').send(result.text);
        const status = (result as { [STATUS]?: number })[STATUS];
        void reply.status(status ?? route.status).send(status ? (result as { body: unknown }).body : result);
        return reply;
      },
    });
  }
}
