export { attachP2P, p2pOf, p2pOfContext, P2P_HANDLERS } from './handlers.ts';
export { registerSharedStatePanelRoutes } from './panel-routes.ts';
export { P2PService } from './service.ts';
