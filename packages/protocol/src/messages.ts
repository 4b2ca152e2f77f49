import { z } from 'zod';
import type { EnvConfig } from './config.ts';
import type { ErrorCode } from './errors.ts';
import type { DurableRoomEvent } from './events.ts';
import {
  attachmentIds,
  clientId,
  commentBody,
  deviceType,
  emoji,
  hexColor,
  mentions,
  pinPosition,
  requestRef as ref,
  roomId,
} from './fields.ts';
import { LIMITS } from './limits.ts';
import { p2pClientMessages, type P2PServerMessage } from './p2p.ts';
import type { AuthOkPayload, Notification, PresenceMember, PresenceStatus, RoomState } from './realtime-models.ts';

/**
 * The WebSocket protocol. Every frame is one JSON object with a `type`. A client request may
 * carry a `ref` (any short string); the server answers a durable request with `ack` (same ref)
 * or `error` (same ref). Field names follow the published protocol reference.
 */

export const PROTOCOL_VERSION = 1;

const unit = z.number().min(0).max(1);
const pixels = z.number().finite().min(-1e7).max(1e7);

export const cursorPosition = z.object({ x: unit, y: unit, pageX: pixels, pageY: pixels }).strict();
export type CursorPosition = z.infer<typeof cursorPosition>;

export const viewportState = z
  .object({
    scrollX: pixels,
    scrollY: pixels,
    width: pixels.nonnegative(),
    height: pixels.nonnegative(),
    /** Scroll position relative to the scrollable height (0–1), robust to different window sizes. */
    ratioX: unit.optional(),
    ratioY: unit.optional(),
  })
  .strict();
export type ViewportState = z.infer<typeof viewportState>;

export const textSelection = z
  .object({
    text: z.string().max(1000),
    selector: z.string().max(LIMITS.selectorLength).optional(),
    /** Boxes covering the selection, relative to the document (0–1). */
    rects: z.array(z.object({ x: unit, y: unit, width: unit, height: unit }).strict()).max(50).optional(),
  })
  .strict();
export type TextSelection = z.infer<typeof textSelection>;

const strokePoint = z.tuple([unit, unit]);

const m = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ref, ...shape }).strict();

export const authMessage = m('auth', {
  apiKey: z.string().max(200),
  token: z.string().max(8192),
  room: roomId,
  deviceType: deviceType.optional(),
  /** Protocol version the client speaks. */
  version: z.number().int().optional(),
});

export const clientMessageSchema = z.discriminatedUnion('type', [
  authMessage,
  // Ephemeral: relayed to the room, never stored.
  m('cursor:move', { position: cursorPosition }),
  m('cursor:leave', {}),
  m('click', { position: cursorPosition }),
  m('viewport', { viewport: viewportState }),
  m('selection', { selection: textSelection.nullable() }),
  m('typing:start', { threadId: clientId }),
  m('typing:stop', { threadId: clientId }),
  m('emoji:drop', { emoji, position: cursorPosition }),
  // Presence.
  m('presence:update', { status: z.enum(['online', 'idle']) }),
  m('presence:heartbeat', {}),
  m('presence:appear-offline', { appearOffline: z.boolean() }),
  // Durable: stored, sequenced, acknowledged.
  m('thread:create', {
    id: clientId,
    /** Client-generated id of the first comment (optional; makes optimistic updates exact). */
    commentId: clientId.optional(),
    body: commentBody,
    mentions,
    position: pinPosition.nullable(),
    attachmentIds: attachmentIds.optional(),
  }),
  m('thread:resolve', { threadId: clientId, resolved: z.boolean() }),
  m('thread:delete', { threadId: clientId }),
  m('comment:create', {
    id: clientId.optional(),
    threadId: clientId,
    body: commentBody,
    mentions: mentions.optional(),
    attachmentIds: attachmentIds.optional(),
  }),
  m('comment:edit', { commentId: clientId, body: commentBody, mentions: mentions.optional(), attachmentIds: attachmentIds.optional() }),
  m('comment:delete', { commentId: clientId }),
  m('reaction:add', { targetId: clientId, targetType: z.literal('comment').optional(), emoji }),
  // By its id, or (one's own reaction) by comment and emoji: what a client can name before the
  // add that made it is acknowledged.
  m('reaction:remove', { reactionId: clientId.optional(), targetId: clientId.optional(), emoji: emoji.optional() }),
  m('draw:stroke', {
    id: clientId.optional(),
    points: z.array(strokePoint).min(1).max(LIMITS.strokePoints),
    color: hexColor,
    width: z.number().min(0.5).max(64),
  }),
  m('draw:clear', {}),
  m('notifications:read', { ids: z.array(clientId).max(LIMITS.notificationsReadIds).optional(), all: z.boolean().optional() }),
  m('room:resync', {}),
  ...p2pClientMessages,
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ClientMessageType = ClientMessage['type'];
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

export const EPHEMERAL_TYPES = ['cursor:move', 'cursor:leave', 'click', 'viewport', 'selection', 'typing:start', 'typing:stop', 'emoji:drop'] as const;
export const DURABLE_TYPES = [
  'thread:create',
  'thread:resolve',
  'thread:delete',
  'comment:create',
  'comment:edit',
  'comment:delete',
  'reaction:add',
  'reaction:remove',
  'draw:stroke',
  'draw:clear',
  'notifications:read',
] as const;

// ---------------------------------------------------------------------------------------------
// Server → client

/** One ephemeral event inside a `batch` frame, stamped with the sender's userId. */
export type EphemeralEvent =
  | { type: 'cursor:move'; userId: string; position: CursorPosition }
  | { type: 'cursor:leave'; userId: string }
  | { type: 'click'; userId: string; position: CursorPosition }
  | { type: 'viewport'; userId: string; viewport: ViewportState }
  | { type: 'selection'; userId: string; selection: TextSelection | null }
  | { type: 'typing'; userId: string; threadId: string; typing: boolean }
  | { type: 'emoji:drop'; userId: string; emoji: string; position: CursorPosition };

export type ServerMessage =
  | ({ type: 'auth:ok' } & AuthOkPayload)
  | { type: 'auth:error'; code: ErrorCode; message: string }
  | { type: 'error'; code: ErrorCode; message: string; ref?: string }
  | { type: 'ack'; ref: string; seq?: number; id?: string }
  /** Ephemeral events of one room tick; includes the recipient's own events, which it ignores. */
  | { type: 'batch'; events: EphemeralEvent[] }
  | { type: 'presence:join'; member: PresenceMember }
  | { type: 'presence:update'; member: PresenceMember }
  | { type: 'presence:leave'; userId: string }
  | DurableRoomEvent
  | { type: 'notification:created'; notification: Notification }
  | { type: 'notifications:read'; ids: string[]; all: boolean }
  | { type: 'config:updated'; config: EnvConfig }
  | { type: 'room:state'; room: RoomState }
  | P2PServerMessage;

export type ServerMessageType = ServerMessage['type'];
export type { PresenceStatus };
