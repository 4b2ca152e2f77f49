import { PulseError, roomId as roomIdSchema } from '@pulse/protocol';
import type { FastifyInstance } from 'fastify';
import { authenticateSecretKey } from '../auth/keys.ts';
import type { ServerContext } from '../context.ts';
import { parseParam, refuseQuery } from '../rest/validation.ts';
import { p2pOfContext } from './handlers.ts';

/**
 * `GET /api/v1/rooms/:roomId/shared`: a room's P2P shared objects as JSON.
 * `DELETE /api/v1/rooms/:roomId/shared`: deletes them (stored and live: connected peers start over).
 */
export function registerSharedStateApi(app: FastifyInstance, ctx: ServerContext): void {
  const room = async (request: { headers: { authorization?: string | undefined }; params: unknown; query: unknown }) => {
    const key = await authenticateSecretKey(ctx.store, request.headers.authorization);
    refuseQuery(request);
    const roomId = parseParam(roomIdSchema, (request.params as { roomId: string }).roomId, 'roomId');
    return { envId: key.environmentId, roomId };
  };
  app.get('/api/v1/rooms/:roomId/shared', async (request) => {
    const { envId, roomId } = await room(request);
    const view = await p2pOfContext(ctx).view(envId, roomId);
    if (!view) throw new PulseError('not_found', 'No shared state is stored for this room.');
    return view;
  });
  app.delete('/api/v1/rooms/:roomId/shared', async (request, reply) => {
    const { envId, roomId } = await room(request);
    await p2pOfContext(ctx).reset(envId, roomId);
    return reply.status(204).send();
  });
}
