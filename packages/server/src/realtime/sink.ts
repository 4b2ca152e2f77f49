import type { DurableRoomEvent, EnvConfig, Notification, ServerMessage } from '@pulse/protocol';
import type { RealtimeSink } from '../domain/events.ts';
import { roomChannel, userChannel, type Bus } from './bus.ts';
import { PAYLOAD, type RoomRegistry } from './registry.ts';

/**
 * Where committed changes leave the domain: serialised once, published once on the bus, and
 * from there delivered by every node to its sockets in the room (or of the user).
 */
export class EventSink implements RealtimeSink {
  readonly #bus: Bus;
  readonly #registry: RoomRegistry;

  constructor(bus: Bus, registry: RoomRegistry) {
    this.#bus = bus;
    this.#registry = registry;
  }

  roomEvent(envId: string, roomId: string, event: DurableRoomEvent): void {
    // Before its delivery: a room open here that keeps its number counts it (see LocalRoom.seq).
    this.#registry.room(envId, roomId)?.eventPublished(event.seq);
    this.#bus.publish(roomChannel(envId, roomId), PAYLOAD.durable + JSON.stringify(event));
  }

  notification(envId: string, userId: string, notification: Notification): void {
    this.#bus.publish(userChannel(envId, userId), JSON.stringify({ type: 'notification:created', notification } satisfies ServerMessage));
  }

  notificationsRead(envId: string, userId: string, ids: string[], all: boolean): void {
    this.#bus.publish(userChannel(envId, userId), JSON.stringify({ type: 'notifications:read', ids, all } satisfies ServerMessage));
  }

  /** Pushes a changed config to this node's sockets of the environment. */
  configUpdated(envId: string, config: EnvConfig): void {
    if (!this.#registry.setConfig(envId, config)) return;
    const frame = Buffer.from(JSON.stringify({ type: 'config:updated', config } satisfies ServerMessage));
    for (const conn of this.#registry.connectionsOf(envId) ?? []) conn.sendFrame(frame, 'durable');
  }
}
