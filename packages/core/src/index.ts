export {
  PulseClient,
  type ClientEvents,
  type ConnectionState,
  type DurableRequest,
  type PulseClientOptions,
  type PulseErrorCode,
  type PulseErrorEvent,
  type TokenProvider,
} from './client.ts';
export { PulseState, type ClientThread, type StateEvents } from './state.ts';
export { httpBase, UploadError, type UploadOptions } from './upload.ts';
export type { SocketConstructor, SocketLike } from './socket.ts';
export * from './p2p/index.ts';
export type * from '@pulse/protocol/lite';
