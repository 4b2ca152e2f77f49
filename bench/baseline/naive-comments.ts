/**
 * Baseline for bench/comment-delivery.ts: a naive comment server. Fastify for HTTP, `ws` on the
 * same port, better-sqlite3 (WAL, synchronous=NORMAL like Pulse's default), no auth, no
 * validation beyond JSON.parse, no rate limits, no notifications or activity log. It speaks just
 * enough of Pulse's protocol for the same load generator to drive it:
 *
 *   {type:'auth', room}                       → {type:'auth:ok', user:{id}} (any token is fine)
 *   {type:'thread:create', id, body, ref}     → insert, broadcast thread:created, ack
 *   {type:'comment:create', id?, threadId, body, ref}
 *                                             → insert + bump the room's seq in one synchronous
 *                                               transaction, broadcast comment:created (serialised
 *                                               once) to every socket of the room, ack
 *
 * and the REST routes bench/rest-comments.ts compares (no auth, no validation beyond a type check):
 *
 *   POST /api/v1/rooms/:roomId/threads      {userId, body, id?}  → 201 {thread}
 *   POST /api/v1/threads/:threadId/comments {userId, body}       → 201 {comment} (also broadcast)
 *   GET  /api/v1/threads/:threadId                               → {thread, comments}
 *
 * Storage: SQLite by default; with NAIVE_DATABASE_URL (and NAIVE_DB_SCHEMA, created when
 * missing) PostgreSQL through a pg.Pool of 10, one statement per comment (insert + seq bump in a
 * CTE, so atomic without an explicit transaction).
 *
 *   DATA_DIR=/tmp/x PORT=0 npx tsx bench/baseline/naive-comments.ts
 * Prints `listening at http://127.0.0.1:PORT` when ready.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

interface CommentRow {
  id: string;
  thread_id: string;
  user_id: string;
  body: string;
  created_at: string;
}
interface Storage {
  ensureRoom(room: string): Promise<void> | void;
  threadRoom(threadId: string): Promise<string | undefined> | string | undefined;
  createThread(room: string, id: string, commentId: string, user: string, body: string, at: string): Promise<number> | number;
  createComment(room: string, id: string, threadId: string, user: string, body: string, at: string): Promise<number> | number;
  getThread(threadId: string): Promise<{ thread: Record<string, unknown>; comments: CommentRow[] } | undefined> | { thread: Record<string, unknown>; comments: CommentRow[] } | undefined;
  close(): Promise<void> | void;
}

const SCHEMA = `
  create table if not exists rooms (id text primary key, seq integer not null default 0);
  create table if not exists threads (id text primary key, room_id text not null, created_by text not null, created_at text not null);
  create table if not exists comments (
    id text primary key, thread_id text not null references threads(id), user_id text not null,
    body text not null, created_at text not null);
  create index if not exists comments_thread on comments(thread_id, created_at);
`;

function sqliteStorage(): Storage {
  const dataDir = process.env.DATA_DIR ?? './naive-data';
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'naive.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(SCHEMA);
  const ensureRoom = db.prepare('insert into rooms (id) values (?) on conflict do nothing');
  const bumpSeq = db.prepare('update rooms set seq = seq + 1 where id = ? returning seq');
  const insertThread = db.prepare('insert into threads (id, room_id, created_by, created_at) values (?, ?, ?, ?)');
  const insertComment = db.prepare('insert into comments (id, thread_id, user_id, body, created_at) values (?, ?, ?, ?, ?)');
  const threadRoom = db.prepare('select room_id from threads where id = ?').pluck();
  const thread = db.prepare('select * from threads where id = ?');
  const comments = db.prepare('select * from comments where thread_id = ? order by created_at, id');
  return {
    ensureRoom: (room) => void ensureRoom.run(room),
    threadRoom: (id) => threadRoom.get(id) as string | undefined,
    createThread: db.transaction((room: string, id: string, commentId: string, user: string, body: string, at: string) => {
      insertThread.run(id, room, user, at);
      insertComment.run(commentId, id, user, body, at);
      return (bumpSeq.get(room) as { seq: number }).seq;
    }),
    createComment: db.transaction((room: string, id: string, threadId: string, user: string, body: string, at: string) => {
      insertComment.run(id, threadId, user, body, at);
      return (bumpSeq.get(room) as { seq: number }).seq;
    }),
    getThread: (id) => {
      const t = thread.get(id) as Record<string, unknown> | undefined;
      return t && { thread: t, comments: comments.all(id) as CommentRow[] };
    },
    close: () => void db.close(),
  };
}

async function postgresStorage(url: string, schema: string | undefined): Promise<Storage> {
  if (schema) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`create schema if not exists "${schema}"`);
    await c.end();
  }
  const pool = new pg.Pool({ connectionString: url, max: 10, ...(schema ? { options: `-c search_path="${schema}"` } : {}) });
  await pool.query(SCHEMA);
  return {
    ensureRoom: async (room) => void (await pool.query('insert into rooms (id) values ($1) on conflict do nothing', [room])),
    threadRoom: async (id) => (await pool.query('select room_id from threads where id = $1', [id])).rows[0]?.room_id,
    createThread: async (room, id, commentId, user, body, at) =>
      (
        await pool.query(
          `with t as (insert into threads (id, room_id, created_by, created_at) values ($2, $1, $4, $6)),
                c as (insert into comments (id, thread_id, user_id, body, created_at) values ($3, $2, $4, $5, $6))
           update rooms set seq = seq + 1 where id = $1 returning seq`,
          [room, id, commentId, user, body, at],
        )
      ).rows[0].seq,
    createComment: async (room, id, threadId, user, body, at) =>
      (
        await pool.query(
          `with c as (insert into comments (id, thread_id, user_id, body, created_at) values ($2, $3, $4, $5, $6))
           update rooms set seq = seq + 1 where id = $1 returning seq`,
          [room, id, threadId, user, body, at],
        )
      ).rows[0].seq,
    getThread: async (id) => {
      const [t, c] = await Promise.all([
        pool.query('select * from threads where id = $1', [id]),
        pool.query('select * from comments where thread_id = $1 order by created_at, id', [id]),
      ]);
      return t.rows[0] && { thread: t.rows[0], comments: c.rows };
    },
    close: () => pool.end(),
  };
}

const store = process.env.NAIVE_DATABASE_URL ? await postgresStorage(process.env.NAIVE_DATABASE_URL, process.env.NAIVE_DB_SCHEMA) : sqliteStorage();

const rooms = new Map<string, Set<WebSocket>>();
const broadcast = (room: string, message: unknown) => {
  const frame = JSON.stringify(message);
  for (const ws of rooms.get(room) ?? []) if (ws.readyState === 1) ws.send(frame);
};
const toComment = (c: { id: string; threadId: string; userId: string; body: string; createdAt: string }) => ({
  ...c,
  mentions: [],
  attachments: [],
  reactions: [],
  editedAt: null,
});

async function addComment(room: string, threadId: string, user: string, body: string, id = randomUUID()) {
  const at = new Date().toISOString();
  const seq = await store.createComment(room, id, threadId, user, body, at);
  const comment = toComment({ id, threadId, userId: user, body, createdAt: at });
  broadcast(room, { type: 'comment:created', seq, comment });
  return { comment, seq };
}

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ ok: true }));
app.post('/api/v1/rooms/:roomId/threads', async (req, reply) => {
  const room = (req.params as { roomId: string }).roomId;
  const b = req.body as { userId?: unknown; body?: unknown; id?: unknown };
  if (typeof b?.userId !== 'string' || typeof b.body !== 'string') return reply.status(400).send({ error: { code: 'validation_failed' } });
  await store.ensureRoom(room);
  const at = new Date().toISOString();
  const id = typeof b.id === 'string' ? b.id : randomUUID();
  const commentId = randomUUID();
  const seq = await store.createThread(room, id, commentId, b.userId, b.body, at);
  const thread = { id, roomId: room, createdAt: at, comments: [toComment({ id: commentId, threadId: id, userId: b.userId, body: b.body, createdAt: at })] };
  broadcast(room, { type: 'thread:created', seq, thread });
  return reply.status(201).send({ thread });
});
app.post('/api/v1/threads/:threadId/comments', async (req, reply) => {
  const threadId = (req.params as { threadId: string }).threadId;
  const b = req.body as { userId?: unknown; body?: unknown };
  if (typeof b?.userId !== 'string' || typeof b.body !== 'string') return reply.status(400).send({ error: { code: 'validation_failed' } });
  const room = await store.threadRoom(threadId);
  if (!room) return reply.status(404).send({ error: { code: 'thread_not_found' } });
  const { comment } = await addComment(room, threadId, b.userId, b.body);
  return reply.status(201).send({ comment });
});
app.get('/api/v1/threads/:threadId', async (req, reply) => {
  const found = await store.getThread((req.params as { threadId: string }).threadId);
  if (!found) return reply.status(404).send({ error: { code: 'thread_not_found' } });
  return { thread: found.thread, comments: found.comments };
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const wss = new WebSocketServer({ server: app.server, perMessageDeflate: false, clientTracking: false });
let users = 0;

wss.on('connection', (ws) => {
  let room: string | undefined;
  const user = `u${++users}`;
  ws.on('error', () => {});
  ws.on('close', () => {
    if (room) rooms.get(room)?.delete(ws);
  });
  ws.on('message', async (data) => {
    let m: any;
    try {
      m = JSON.parse(data.toString());
    } catch {
      return ws.send(JSON.stringify({ type: 'error', code: 'invalid_message', message: 'not JSON' }));
    }
    const ack = (id: string, seq: number) => m.ref && ws.send(JSON.stringify({ type: 'ack', ref: m.ref, id, seq }));
    try {
      switch (m.type) {
        case 'auth': {
          room = String(m.room);
          await store.ensureRoom(room);
          let members = rooms.get(room);
          if (!members) rooms.set(room, (members = new Set()));
          members.add(ws);
          ws.send(JSON.stringify({ type: 'auth:ok', user: { id: user } }));
          return;
        }
        case 'thread:create': {
          if (!room) return;
          const at = new Date().toISOString();
          const commentId = m.commentId ?? randomUUID();
          const seq = await store.createThread(room, m.id, commentId, user, m.body, at);
          broadcast(room, {
            type: 'thread:created',
            seq,
            thread: { id: m.id, roomId: room, createdAt: at, comments: [toComment({ id: commentId, threadId: m.id, userId: user, body: m.body, createdAt: at })] },
          });
          return ack(m.id, seq);
        }
        case 'comment:create': {
          if (!room) return;
          if ((await store.threadRoom(m.threadId)) !== room) return ws.send(JSON.stringify({ type: 'error', code: 'thread_not_found', ref: m.ref }));
          const { comment, seq } = await addComment(room, m.threadId, user, m.body, m.id ?? randomUUID());
          return ack(comment.id, seq);
        }
        default:
          return; // heartbeats and the rest: ignored
      }
    } catch (err) {
      ws.send(JSON.stringify({ type: 'error', code: 'internal_error', message: String(err), ref: m.ref }));
    }
  });
});

process.stdout.write(`listening at http://127.0.0.1:${(app.server.address() as { port: number }).port}\n`);
const stop = () => {
  wss.close();
  void app
    .close()
    .then(() => store.close())
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
