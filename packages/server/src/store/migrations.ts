import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { roomContentSize } from './kysely/room-content.ts';

export type Dialect = 'sqlite' | 'postgres';

/** One set of migrations for both drivers; the few dialect differences are spelled out inline. */
function migrations(dialect: Dialect): Record<string, Migration> {
  const autoId = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    '0001_initial': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('environments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('config', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('api_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('value', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema.createIndex('api_keys_env').on('api_keys').columns(['environment_id', 'created_at']).execute();

        await db.schema
          .createTable('users')
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('external_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('avatar', 'text')
          .addColumn('color', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('users_pk', ['environment_id', 'external_id'])
          .execute();
        await db.schema.createIndex('users_env_created').on('users').columns(['environment_id', 'created_at', 'external_id']).execute();

        await db.schema
          .createTable('rooms')
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('metadata', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('rooms_pk', ['environment_id', 'id'])
          .execute();
        await db.schema.createIndex('rooms_env_created').on('rooms').columns(['environment_id', 'created_at', 'id']).execute();

        await db.schema
          .createTable('threads')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('resolved', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('position', 'text')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('threads_pk', ['environment_id', 'id'])
          .addForeignKeyConstraint('threads_room_fk', ['environment_id', 'room_id'], 'rooms', ['environment_id', 'id'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('threads_room').on('threads').columns(['environment_id', 'room_id', 'created_at', 'id']).execute();

        await db.schema
          .createTable('comments')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('thread_id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('mentions', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('edited_at', 'text')
          .addPrimaryKeyConstraint('comments_pk', ['environment_id', 'id'])
          .addForeignKeyConstraint('comments_thread_fk', ['environment_id', 'thread_id'], 'threads', ['environment_id', 'id'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('comments_thread').on('comments').columns(['environment_id', 'thread_id', 'created_at', 'id']).execute();
        // The panel's Users page counts each user's comments (browse.ts).
        await db.schema.createIndex('comments_user').on('comments').columns(['environment_id', 'user_id']).execute();
        await db.schema.createIndex('comments_env_created').on('comments').columns(['environment_id', 'created_at']).execute();
        await db.schema.createIndex('comments_room').on('comments').columns(['environment_id', 'room_id']).execute();

        await db.schema
          .createTable('reactions')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('comment_id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('emoji', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('reactions_pk', ['environment_id', 'id'])
          .addUniqueConstraint('reactions_one_per_user', ['environment_id', 'comment_id', 'user_id', 'emoji'])
          .addForeignKeyConstraint('reactions_comment_fk', ['environment_id', 'comment_id'], 'comments', ['environment_id', 'id'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('reactions_room').on('reactions').columns(['environment_id', 'room_id']).execute();

        await db.schema
          .createTable('control_events')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('environment_id', 'text')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('admins')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0002_realtime': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('notifications')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('thread_id', 'text', (c) => c.notNull())
          .addColumn('comment_id', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text', (c) => c.notNull())
          .addColumn('preview', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('read_at', 'text')
          .addPrimaryKeyConstraint('notifications_pk', ['environment_id', 'id'])
          .addForeignKeyConstraint('notifications_comment_fk', ['environment_id', 'comment_id'], 'comments', ['environment_id', 'id'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('notifications_user').on('notifications').columns(['environment_id', 'user_id', 'created_at']).execute();
        await db.schema.createIndex('notifications_comment').on('notifications').columns(['environment_id', 'comment_id']).execute();

        await db.schema
          .createTable('activity')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('thread_id', 'text')
          .addColumn('comment_id', 'text')
          .addColumn('preview', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('activity_pk', ['environment_id', 'id'])
          .execute();
        await db.schema.createIndex('activity_room').on('activity').columns(['environment_id', 'room_id', 'created_at']).execute();

        await db.schema
          .createTable('strokes')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('points', 'text', (c) => c.notNull())
          .addColumn('color', 'text', (c) => c.notNull())
          .addColumn('width', 'real', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('strokes_pk', ['environment_id', 'id'])
          .addForeignKeyConstraint('strokes_room_fk', ['environment_id', 'room_id'], 'rooms', ['environment_id', 'id'], (c) =>
            c.onDelete('cascade'),
          )
          .execute();
        await db.schema.createIndex('strokes_room').on('strokes').columns(['environment_id', 'room_id', 'created_at']).execute();
      },
    },
    '0003_attachments': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('attachments')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('comment_id', 'text')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('filename', 'text', (c) => c.notNull())
          .addColumn('mime_type', 'text', (c) => c.notNull())
          .addColumn('size_bytes', 'integer', (c) => c.notNull())
          .addColumn('width', 'integer')
          .addColumn('height', 'integer')
          .addColumn('duration_ms', 'integer')
          .addColumn('has_thumbnail', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('attachments_pk', ['environment_id', 'id'])
          .execute();
        await db.schema.createIndex('attachments_comment').on('attachments').columns(['environment_id', 'comment_id']).execute();
        await db.schema.createIndex('attachments_unattached').on('attachments').columns(['comment_id', 'created_at']).execute();
      },
    },
    '0004_admin_panel': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('admin_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('admin_id', 'text', (c) => c.notNull().references('admins.id').onDelete('cascade'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('admin_sessions_admin').on('admin_sessions').columns(['admin_id']).execute();
        await db.schema.createIndex('admin_sessions_expiry').on('admin_sessions').columns(['expires_at']).execute();

        await db.schema
          .createTable('login_failures')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('login_failures_key').on('login_failures').columns(['key', 'created_at']).execute();
        await db.schema.createIndex('login_failures_created').on('login_failures').columns(['created_at']).execute();

        await db.schema
          .createTable('audit_log')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('environment_id', 'text')
          .addColumn('actor_id', 'text')
          .addColumn('actor_name', 'text', (c) => c.notNull())
          .addColumn('actor_email', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('detail', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_env').on('audit_log').columns(['environment_id', 'created_at']).execute();

        await db.schema
          .createTable('user_days')
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('day', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('user_days_pk', ['environment_id', 'day', 'user_id'])
          .execute();
        // Analytics read comments and reactions per environment and day.
        await db.schema.createIndex('reactions_env_created').on('reactions').columns(['environment_id', 'created_at']).execute();
      },
    },
    '0005_thread_participants': {
      async up(db: Kysely<any>) {
        // Who took part in a thread is asked on every reply (reply notifications): answer it from an index.
        await db.schema.createIndex('comments_thread_user').on('comments').columns(['environment_id', 'thread_id', 'user_id']).execute();
      },
    },
    '0006_drawing_bytes': {
      async up(db: Kysely<any>) {
        // A room's drawing is capped by its size (what every joiner downloads), kept as a running total.
        await db.schema.alterTable('rooms').addColumn('drawing_bytes', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await sql`update rooms set drawing_bytes = (select coalesce(sum(length(s.points)), 0) from strokes s
          where s.environment_id = rooms.environment_id and s.room_id = rooms.id)`.execute(db);
      },
    },
    '0007_p2p_shared_state': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('p2p_shared_state')
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('state', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
          .addColumn('bytes', 'integer', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('p2p_shared_state_pk', ['environment_id', 'room_id'])
          .execute();
        await db.schema.createIndex('p2p_shared_state_expiry').on('p2p_shared_state').columns(['expires_at']).execute();
      },
    },
    '0008_webhooks': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('webhook_endpoints')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('events', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('disabled_reason', 'text')
          .addColumn('failing_since', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('webhook_endpoints_env').on('webhook_endpoints').columns(['environment_id', 'created_at']).execute();

        // The outbox: one row per event, written in the transaction of the change it describes.
        await db.schema
          .createTable('webhook_events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('dispatched', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('webhook_events_pending').on('webhook_events').columns(['dispatched', 'created_at']).execute();

        // One row per event per endpoint, made by the dispatcher from the outbox.
        await db.schema
          .createTable('webhook_deliveries')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('endpoint_id', 'text', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
          .addColumn('event_id', 'text', (c) => c.notNull().references('webhook_events.id').onDelete('cascade'))
          .addColumn('event_type', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'text')
          .addColumn('give_up_at', 'text', (c) => c.notNull())
          .addColumn('claimed_until', 'text')
          .addColumn('last_status_code', 'integer')
          .addColumn('last_error', 'text')
          .addColumn('last_latency_ms', 'integer')
          .addColumn('last_response', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('webhook_deliveries_once', ['endpoint_id', 'event_id'])
          .execute();
        await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
        await db.schema.createIndex('webhook_deliveries_endpoint').on('webhook_deliveries').columns(['endpoint_id', 'created_at']).execute();
        await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').columns(['event_id']).execute();
      },
    },
    '0009_email': {
      async up(db: Kysely<any>) {
        // Email notifications: the address (never shown to other users), the user's own opt-out,
        // and when they were last emailed (one email per user per delay window).
        await db.schema.alterTable('users').addColumn('email', 'text').execute();
        await db.schema.alterTable('users').addColumn('email_opt_out', 'integer', (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('users').addColumn('emailed_at', 'text').execute();
        // One row per notification emailed (or being emailed): its key makes "never twice" hold
        // across nodes and restarts.
        await db.schema
          .createTable('email_sends')
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('notification_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('batch_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('claimed_until', 'text')
          .addColumn('next_attempt_at', 'text')
          .addColumn('last_error', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('sent_at', 'text')
          .addPrimaryKeyConstraint('email_sends_pk', ['environment_id', 'notification_id'])
          .execute();
        await db.schema.createIndex('email_sends_batch').on('email_sends').columns(['batch_id']).execute();
        await db.schema.createIndex('email_sends_due').on('email_sends').columns(['status', 'next_attempt_at']).execute();
        await db.schema.createIndex('notifications_unread_created').on('notifications').columns(['read_at', 'created_at']).execute();
      },
    },
    '0010_webhook_claims': {
      async up(db: Kysely<any>) {
        // Claims walk each endpoint's pending deliveries in due order: the cost of a claim does not
        // grow with the backlog. The index claims used before goes (one index less per delivery).
        await db.schema
          .createIndex('webhook_deliveries_pending')
          .on('webhook_deliveries')
          .columns(['status', 'endpoint_id', 'next_attempt_at', 'id'])
          .execute();
        await db.schema.dropIndex('webhook_deliveries_due').execute();
      },
    },
    '0011_notifications_fk': {
      async up(db: Kysely<any>) {
        // PostgreSQL checks a notification's foreign key by locking its comment's row, a WAL record
        // per notification: over half of a reply's database time. The store deletes a comment's
        // notifications with it instead (the only two places comments are deleted). SQLite keeps
        // the key: its check is an index lookup, and dropping it would mean rebuilding the table.
        if (dialect === 'postgres') await db.schema.alterTable('notifications').dropConstraint('notifications_comment_fk').execute();
      },
    },
    '0012_webhook_previous_secret': {
      async up(db: Kysely<any>) {
        // A rotated secret keeps signing (beside the new one) for a while, as Standard Webhooks allows.
        await db.schema.alterTable('webhook_endpoints').addColumn('previous_secret', 'text').execute();
        await db.schema.alterTable('webhook_endpoints').addColumn('previous_secret_until', 'text').execute();
      },
    },
    '0013_notification_unread': {
      async up(db: Kysely<any>) {
        // When `notification.unread` was recorded for the notification: once per notification, on
        // any node. No index: the poller reads unread notifications by creation time
        // (notifications_unread_created) from a point it keeps, and nothing is added to the writes
        // of a comment.
        await db.schema.alterTable('notifications').addColumn('unread_announced_at', 'text').execute();
      },
    },
    '0014_deleted_ids': {
      async up(db: Kysely<any>) {
        // Ids of deleted threads, comments and strokes, kept so that a create replayed after its
        // delete (an offline queue whose acks were lost) is recognised instead of bringing the
        // object back. One small row per deleted object; kept for good, like the ids themselves.
        await db.schema
          .createTable('deleted_ids')
          .addColumn('environment_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('thread_id', 'text')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('deleted_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('deleted_ids_pk', ['environment_id', 'kind', 'id'])
          .execute();
      },
    },
    '0015_room_content': {
      async up(db: Kysely<any>) {
        // What a room's threads hold (see room-content.ts), counted once for the rooms there are.
        await db.schema
          .alterTable('rooms')
          .addColumn('content_bytes', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await sql`update rooms set content_bytes = ${roomContentSize(dialect, sql.ref('rooms.environment_id'), sql.ref('rooms.id'))}`.execute(db);
      },
    },
    '0016_pending_uploads': {
      async up(db: Kysely<any>) {
        // A user's uploads not attached yet, counted before each upload (see pendingUploads).
        await db.schema.createIndex('attachments_user_pending').on('attachments').columns(['environment_id', 'user_id', 'comment_id']).execute();
      },
    },
    '0017_fewer_comment_indexes': {
      async up(db: Kysely<any>) {
        // Each index a comment goes into costs every comment a page of its own written at commit
        // (rows of different threads and rooms sit apart); these two earned less than that.
        // A room's comments are reached through its threads (threads_room, then comments_thread).
        await db.schema.dropIndex('comments_room').execute();
        // On SQLite one process writes every comment and keeps each thread's participants in
        // memory (participants-cache.ts): the index answered only the first question per thread.
        // PostgreSQL asks on every reply, and keeps it.
        if (dialect === 'sqlite') await db.schema.dropIndex('comments_thread_user').execute();
      },
    },
    '0018_fewer_webhook_index_writes': {
      async up(db: Kysely<any>) {
        // Three deliveries per comment with three endpoints: each index they go into is a hot page
        // per endpoint written at every commit. The indexes that find work now hold only the work
        // still to do (partial), so a delivery leaves them once sent instead of moving to another
        // part of the same index. An endpoint's delivery list is read through the
        // (endpoint_id, event_id) key: event ids are time-ordered.
        await sql`create index webhook_events_undispatched on webhook_events (created_at) where dispatched = 0`.execute(db);
        await db.schema.dropIndex('webhook_events_pending').execute();
        await sql`create index webhook_deliveries_due on webhook_deliveries (endpoint_id, next_attempt_at, id) where status = 'pending'`.execute(db);
        await db.schema.dropIndex('webhook_deliveries_pending').execute();
        await db.schema.dropIndex('webhook_deliveries_endpoint').execute();
      },
    },
    '0019_webhook_event_claims': {
      async up(db: Kysely<any>) {
        // A node claims a fresh event and sends its first attempts from memory; each delivery's row
        // is written once, with its outcome. The lease lets another node (or this one, restarted)
        // send what a node that died was holding.
        await db.schema.alterTable('webhook_events').addColumn('claimed_until', 'text').execute();
      },
    },
  };
}

export class PulseMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}
