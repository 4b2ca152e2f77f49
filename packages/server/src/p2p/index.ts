export { attachP2P, p2pOf, P2P_HANDLERS } from './handlers.ts';
export { P2PService } from './service.ts';
