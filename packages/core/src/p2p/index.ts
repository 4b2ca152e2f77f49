export { P2PManager, type P2PHost } from './manager.ts';
export { P2PError } from './errors.ts';
export { SharedMap, type SharedMapChange } from './shared-map.ts';
export { SharedList, type SharedListChange } from './shared-list.ts';
export { SharedCounter, type SharedCounterChange } from './shared-counter.ts';
export type { P2PEvents, P2PMessageEvent, P2PTransport, PeerState } from './types.ts';
