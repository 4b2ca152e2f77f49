import { LIMITS, PulseError } from '@pulse/protocol';
import type { ServerContext } from '../context.ts';
import type { Actor } from '../domain/actor.ts';
import { audit, clip } from './audit.ts';
import { body, noFields, PAGED, paged, pageQuery, param, SEARCHABLE, text } from './input.ts';
import { Status, type PanelRouter, type SignedInCall } from './routing.ts';

/**
 * The data browser (rooms → threads → comments, users) and moderation. Moderation goes through
 * CollabService like every other change, so connected widgets see it at once.
 */
export function registerDataRoutes(router: PanelRouter, ctx: ServerContext): void {
  const { store, environments, collab } = ctx;
  /** The environment of the path, which must exist (404 otherwise). */
  const env = async ({ params }: SignedInCall) => {
    const envId = param(params.envId, 'envId', 128);
    await environments.get(envId);
    return envId;
  };
  const admin = (call: SignedInCall): Actor => ({ kind: 'admin', adminId: call.signedIn.admin.id });

  router.route(
    'GET',
    '/environments/:envId/rooms',
    'member',
    async (call) => {
      const envId = await env(call);
      const page = pageQuery(call.request.query);
      return paged(page, await store.browseRooms(envId, page));
    },
    { query: SEARCHABLE, heavy: true },
  );

  router.route('GET', '/environments/:envId/rooms/:roomId/threads', 'member', async (call) => {
    const envId = await env(call);
    const roomId = param(call.params.roomId, 'roomId', LIMITS.roomIdLength);
    const page = pageQuery(call.request.query);
    const room = await store.getRoom(envId, roomId);
    if (!room) throw new PulseError('room_not_found');
    return { room: { id: room.id, createdAt: room.createdAt }, ...paged(page, await store.browseThreads(envId, roomId, page)) };
  }, { query: PAGED });

  router.route('GET', '/environments/:envId/threads/:threadId/comments', 'member', async (call) => {
    const envId = await env(call);
    const threadId = param(call.params.threadId, 'threadId', LIMITS.idLength);
    const page = pageQuery(call.request.query);
    const thread = await store.getThread(envId, threadId);
    if (!thread) throw new PulseError('thread_not_found');
    const { id, roomId, resolved, createdAt, updatedAt } = thread;
    return { thread: { id, roomId, resolved, createdAt, updatedAt }, ...paged(page, await store.browseComments(envId, threadId, page)) };
  }, { query: PAGED });

  router.route(
    'GET',
    '/environments/:envId/users',
    'member',
    async (call) => {
      const envId = await env(call);
      const page = pageQuery(call.request.query);
      return paged(page, await store.browseUsers(envId, page));
    },
    { query: SEARCHABLE, heavy: true },
  );

  router.route('DELETE', '/environments/:envId/threads/:threadId', 'admin', async (call) => {
    noFields(call.request.body);
    const envId = await env(call);
    const threadId = param(call.params.threadId, 'threadId', LIMITS.idLength);
    const thread = await store.getThreadWithComments(envId, threadId);
    if (!thread) throw new PulseError('thread_not_found');
    await collab.deleteThread(envId, admin(call), threadId);
    const first = thread.comments[0];
    await audit(
      store,
      call.signedIn.admin,
      envId,
      'thread.deleted',
      `thread ${threadId} in room "${clip(thread.roomId, 60)}" with ${thread.comments.length} comment${thread.comments.length === 1 ? '' : 's'}${first ? ` ("${clip(first.body, 60)}")` : ''}`,
    );
    return new Status(204);
  });

  router.route('DELETE', '/environments/:envId/comments/:commentId', 'admin', async (call) => {
    noFields(call.request.body);
    const envId = await env(call);
    const commentId = param(call.params.commentId, 'commentId', LIMITS.idLength);
    const before = await store.getComment(envId, commentId);
    if (!before) throw new PulseError('comment_not_found');
    const { threadDeleted } = await collab.deleteComment(envId, admin(call), commentId);
    await audit(
      store,
      call.signedIn.admin,
      envId,
      'comment.deleted',
      `comment ${commentId} by ${before.userId} ("${clip(before.body, 60)}")${threadDeleted ? `; thread ${before.threadId} removed with it` : ''}`,
    );
    return { threadDeleted };
  });

  router.route('PATCH', '/environments/:envId/comments/:commentId', 'admin', async (call) => {
    const envId = await env(call);
    const commentId = param(call.params.commentId, 'commentId', LIMITS.idLength);
    const input = body(call.request.body, ['body']);
    const newBody = text(input, 'body', { max: LIMITS.commentBodyLength });
    const before = await store.getComment(envId, commentId);
    if (!before) throw new PulseError('comment_not_found');
    const comment = await collab.editComment(envId, admin(call), commentId, { body: newBody });
    await audit(store, call.signedIn.admin, envId, 'comment.edited', `comment ${commentId} by ${before.userId}: "${clip(before.body, 60)}" → "${clip(newBody, 60)}"`);
    return { comment };
  });
}
