/**
 * React bindings for Pulse: `<PulseProvider>` connects a room, the hooks read its live state with
 * `useSyncExternalStore` (a component re-renders only when what it reads changed), and
 * `<PulseWidget>` renders the `<pulse-widget>` element. Safe to import during server-side rendering.
 */
export { PulseProvider, type PulseProviderProps } from './provider.ts';
export {
  useClient,
  useConnectionState,
  useMyPresence,
  useNotifications,
  useOthers,
  useSelf,
  useThread,
  useThreads,
  type NotificationsState,
} from './hooks.ts';
export {
  useP2P,
  useP2PPeers,
  useP2PTransport,
  useSharedCounter,
  useSharedList,
  useSharedMap,
  type P2PState,
  type SharedValue,
} from './p2p-hooks.ts';
export { PulseWidget, type PulseWidgetProps } from './widget.ts';
export type {
  ClientThread,
  ConnectionState,
  P2PManager,
  P2PTransport,
  PeerState,
  PulseClient,
  PulseErrorEvent,
  SharedCounter,
  SharedList,
  SharedMap,
  TokenProvider,
} from '@pulse/core';
