import type { DurableRoomEvent } from '@pulse/protocol';

/** Where domain services announce durable changes; the realtime layer fans them out. */
export interface RoomEventSink {
  roomEvent(envId: string, roomId: string, event: DurableRoomEvent): void;
}

/** Used until a realtime layer is attached, and by tools (CLI) that have no sockets. */
export const noRoomEvents: RoomEventSink = { roomEvent() {} };
