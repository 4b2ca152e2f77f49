import type { Generated } from 'kysely';
import type { DeletedKind } from './types.ts';

/**
 * Table shapes, identical on SQLite and PostgreSQL. Timestamps are ISO 8601 text (sortable),
 * booleans are 0/1 integers and JSON is text, so both drivers read back the same values.
 * Every row of environment data carries `environment_id` as the first column of its key.
 */
export interface Database {
  environments: {
    id: string;
    name: string;
    config: string;
    created_at: string;
  };
  api_keys: {
    id: string;
    environment_id: string;
    kind: 'publishable' | 'secret';
    key_hash: string;
    prefix: string;
    value: string | null;
    created_at: string;
    revoked_at: string | null;
  };
  users: {
    environment_id: string;
    external_id: string;
    name: string;
    avatar: string | null;
    color: string;
    created_at: string;
    updated_at: string;
    email: Generated<string | null>;
    email_opt_out: Generated<number>;
    emailed_at: Generated<string | null>;
  };
  rooms: {
    environment_id: string;
    id: string;
    seq: number;
    metadata: string | null;
    created_at: string;
    drawing_bytes: Generated<number>;
    /** What its threads hold, estimated from above (see room-content.ts). */
    content_bytes: Generated<number>;
  };
  /** Deleted threads, comments and strokes (see migration 0014). */
  deleted_ids: {
    environment_id: string;
    kind: DeletedKind;
    id: string;
    room_id: string;
    /** The comment's thread (comments only). */
    thread_id: string | null;
    /** The author: a thread's creator, a comment's or a stroke's author. */
    user_id: string;
    deleted_at: string;
  };
  threads: {
    environment_id: string;
    id: string;
    room_id: string;
    resolved: number;
    position: string | null;
    created_by: string;
    created_at: string;
    updated_at: string;
  };
  comments: {
    environment_id: string;
    id: string;
    thread_id: string;
    room_id: string;
    user_id: string;
    body: string;
    mentions: string;
    created_at: string;
    edited_at: string | null;
  };
  reactions: {
    environment_id: string;
    id: string;
    comment_id: string;
    room_id: string;
    user_id: string;
    emoji: string;
    created_at: string;
  };
  notifications: {
    environment_id: string;
    id: string;
    user_id: string;
    kind: 'mention' | 'reply';
    room_id: string;
    thread_id: string;
    comment_id: string;
    actor_id: string;
    preview: string;
    created_at: string;
    read_at: string | null;
    /** `notification.unread` recorded (migration 0013). */
    unread_announced_at: string | null;
  };
  activity: {
    environment_id: string;
    id: string;
    room_id: string;
    user_id: string | null;
    kind: string;
    thread_id: string | null;
    comment_id: string | null;
    preview: string | null;
    created_at: string;
  };
  strokes: {
    environment_id: string;
    id: string;
    room_id: string;
    user_id: string;
    points: string;
    color: string;
    width: number;
    created_at: string;
  };
  attachments: {
    environment_id: string;
    id: string;
    user_id: string;
    comment_id: string | null;
    type: 'image' | 'audio' | 'video';
    filename: string;
    mime_type: string;
    size_bytes: number;
    width: number | null;
    height: number | null;
    duration_ms: number | null;
    has_thumbnail: number;
    position: number;
    created_at: string;
  };
  control_events: {
    id: Generated<number>;
    environment_id: string | null;
    kind: string;
    created_at: string;
  };
  admins: {
    id: string;
    email: string;
    name: string;
    role: 'admin' | 'member';
    password_hash: string;
    created_at: string;
  };
  admin_sessions: {
    id: string;
    admin_id: string;
    csrf_token: string;
    created_at: string;
    expires_at: string;
  };
  login_failures: {
    id: Generated<number>;
    key: string;
    created_at: string;
  };
  audit_log: {
    id: string;
    environment_id: string | null;
    actor_id: string | null;
    actor_name: string;
    actor_email: string | null;
    action: string;
    detail: string | null;
    created_at: string;
  };
  /** One row per user per UTC day they were seen (connected or updated): "active users per day". */
  user_days: {
    environment_id: string;
    user_id: string;
    day: string;
  };
  /** P2P shared data: each room's merged Yjs document state (an update), replaced as a whole. */
  p2p_shared_state: {
    environment_id: string;
    room_id: string;
    state: Uint8Array;
    bytes: number;
    /** Incremented by every write: a write names the version it read (compare-and-set). */
    version: number;
    updated_at: string;
    /** Deleted by the sweeper after this (updated_at + the environment's p2pStateTTLDays). */
    expires_at: string;
  };
  email_sends: {
    environment_id: string;
    notification_id: string;
    user_id: string;
    batch_id: string;
    status: 'sending' | 'retry' | 'sent' | 'failed';
    attempts: number;
    claimed_until: string | null;
    next_attempt_at: string | null;
    last_error: string | null;
    created_at: string;
    sent_at: string | null;
  };
  webhook_endpoints: {
    id: string;
    environment_id: string;
    url: string;
    description: string;
    /** JSON array of event types; empty: every type. */
    events: string;
    enabled: number;
    secret: string;
    /** After a rotation: the previous secret, which also signs until `previous_secret_until`. */
    previous_secret: string | null;
    previous_secret_until: string | null;
    disabled_reason: string | null;
    failing_since: string | null;
    created_at: string;
    updated_at: string;
  };
  webhook_events: {
    id: string;
    environment_id: string;
    type: string;
    /** The JSON body sent to receivers, exactly as signed. */
    payload: string;
    dispatched: Generated<number>;
    /** While a node sends the event's first attempts from memory (no delivery rows yet): until when it holds it. */
    claimed_until: string | null;
    created_at: string;
  };
  webhook_deliveries: {
    id: string;
    environment_id: string;
    endpoint_id: string;
    event_id: string;
    event_type: string;
    status: 'pending' | 'succeeded' | 'failed';
    attempts: number;
    next_attempt_at: string | null;
    give_up_at: string;
    claimed_until: string | null;
    last_status_code: number | null;
    last_error: string | null;
    last_latency_ms: number | null;
    last_response: string | null;
    created_at: string;
    updated_at: string;
  };
}
