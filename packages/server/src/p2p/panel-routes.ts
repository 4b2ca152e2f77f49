import { LIMITS } from '@pulse/protocol';
import type { ServerContext } from '../context.ts';
import { audit, clip } from '../panel-api/audit.ts';
import { param } from '../panel-api/input.ts';
import { Status, type PanelRouter, type SignedInCall } from '../panel-api/routing.ts';
import { p2pOfContext } from './handlers.ts';

/**
 * The data browser's view of P2P shared data: the rooms with stored state, one room's shared
 * objects, and clearing them (admins only, audited).
 */
export function registerSharedStatePanelRoutes(router: PanelRouter, ctx: ServerContext): void {
  const env = async ({ params }: SignedInCall) => {
    const envId = param(params.envId, 'envId', 128);
    await ctx.environments.get(envId);
    return envId;
  };

  router.route('GET', '/environments/:envId/shared', 'member', async (call) => {
    const envId = await env(call);
    return { items: await ctx.store.listSharedState(envId, 200) };
  });

  router.route('GET', '/environments/:envId/rooms/:roomId/shared', 'member', async (call) => {
    const envId = await env(call);
    const roomId = param(call.params.roomId, 'roomId', LIMITS.roomIdLength);
    return (await p2pOfContext(ctx).view(envId, roomId)) ?? { roomId, bytes: 0, version: null, updatedAt: null, expiresAt: null, objects: [] };
  });

  router.route('DELETE', '/environments/:envId/rooms/:roomId/shared', 'admin', async (call) => {
    const envId = await env(call);
    const roomId = param(call.params.roomId, 'roomId', LIMITS.roomIdLength);
    const deleted = await p2pOfContext(ctx).reset(envId, roomId);
    await audit(ctx.store, call.signedIn.admin, envId, 'shared_state.cleared', `P2P shared state of room "${clip(roomId, 60)}"${deleted ? '' : ' (nothing was stored)'}`);
    return new Status(204);
  });
}
