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
 *   DATA_DIR=/tmp/x PORT=0 npx tsx bench/baseline/naive-comments.ts
 * Prints `listening at http://127.0.0.1:PORT` when ready.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';

const dataDir = process.env.DATA_DIR ?? './naive-data';
mkdirSync(dataDir, { recursive: true });
const db = new Database(join(dataDir, 'naive.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`
  create table if not exists rooms (id text primary key, seq integer not null default 0);
  create table if not exists threads (id text primary key, room_id text not null, created_by text not null, created_at text not null);
  create table if not exists comments (
    id text primary key, thread_id text not null references threads(id), user_id text not null,
    body text not null, created_at text not null);
  create index if not exists comments_thread on comments(thread_id, created_at);
`);
const ensureRoom = db.prepare('insert into rooms (id) values (?) on conflict do nothing');
const bumpSeq = db.prepare('update rooms set seq = seq + 1 where id = ? returning seq');
const insertThread = db.prepare('insert into threads (id, room_id, created_by, created_at) values (?, ?, ?, ?)');
const insertComment = db.prepare('insert into comments (id, thread_id, user_id, body, created_at) values (?, ?, ?, ?, ?)');
const threadRoom = db.prepare('select room_id from threads where id = ?').pluck();

const createThread = db.transaction((room: string, id: string, commentId: string, user: string, body: string, at: string) => {
  insertThread.run(id, room, user, at);
  insertComment.run(commentId, id, user, body, at);
  return (bumpSeq.get(room) as { seq: number }).seq;
});
const createComment = db.transaction((room: string, id: string, threadId: string, user: string, body: string, at: string) => {
  insertComment.run(id, threadId, user, body, at);
  return (bumpSeq.get(room) as { seq: number }).seq;
});

const rooms = new Map<string, Set<WebSocket>>();
const broadcast = (room: string, message: unknown) => {
  const frame = JSON.stringify(message);
  for (const ws of rooms.get(room) ?? []) if (ws.readyState === 1) ws.send(frame);
};

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ ok: true }));
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
  ws.on('message', (data) => {
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
          ensureRoom.run(room);
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
          const seq = createThread(room, m.id, commentId, user, m.body, at);
          broadcast(room, {
            type: 'thread:created',
            seq,
            thread: { id: m.id, roomId: room, createdAt: at, comments: [{ id: commentId, threadId: m.id, userId: user, body: m.body, createdAt: at }] },
          });
          return ack(m.id, seq);
        }
        case 'comment:create': {
          if (!room) return;
          if (threadRoom.get(m.threadId) !== room) return ws.send(JSON.stringify({ type: 'error', code: 'thread_not_found', ref: m.ref }));
          const at = new Date().toISOString();
          const id = m.id ?? randomUUID();
          const seq = createComment(room, id, m.threadId, user, m.body, at);
          broadcast(room, {
            type: 'comment:created',
            seq,
            comment: { id, threadId: m.threadId, userId: user, body: m.body, mentions: [], attachments: [], reactions: [], createdAt: at, editedAt: null },
          });
          return ack(id, seq);
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
  void app.close().then(() => {
    db.close();
    process.exit(0);
  });
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
