import type { DurableRoomEvent, EnvConfig, Notification } from '@pulse/protocol';

/** Where domain services announce changes; the realtime layer fans them out to sockets (on every node). */
export interface RealtimeSink {
  roomEvent(envId: string, roomId: string, event: DurableRoomEvent): void;
  notification(envId: string, userId: string, notification: Notification): void;
  notificationsRead(envId: string, userId: string, ids: string[], all: boolean): void;
  configUpdated(envId: string, config: EnvConfig): void;
}

/** Used until a realtime layer is attached, and by tools (CLI) that have no sockets. */
export const noRealtime: RealtimeSink = {
  roomEvent() {},
  notification() {},
  notificationsRead() {},
  configUpdated() {},
};
