import { LIMITS, PulseError } from '@pulse/protocol';
import { sql, type Expression, type Kysely, type Transaction } from 'kysely';
import type { Dialect } from '../migrations.ts';
import type { Database } from '../schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Every joiner receives all of a room's threads (auth:ok, room:state), so what a room holds is
 * bounded (LIMITS.roomContentBytes): without it one user, within the rate limits, made a room
 * whose join took seconds of the event loop and tens of MB per socket. A room's size is the JSON
 * its threads take in a snapshot, from above: texts as JSON (bodies escaped, mention lists,
 * positions, ids) plus a fixed allowance per object for its field names, times and links.
 */
const FIXED = { thread: 256, comment: 192, reaction: 128, attachment: 1536 } as const;

const jsonBytes = (text: string) => Buffer.byteLength(JSON.stringify(text));

export const contentCost = {
  /** A comment's text and mentions (what an edit changes). */
  text: (body: string, mentionsJson: string) => jsonBytes(body) + Buffer.byteLength(mentionsJson),
  comment: (c: { id: string; threadId: string; userId: string; body: string; mentionsJson: string }, attachments = 0) =>
    contentCost.text(c.body, c.mentionsJson) + c.id.length + c.threadId.length + jsonBytes(c.userId) + FIXED.comment + contentCost.attachments(attachments),
  thread: (t: { id: string; roomId: string; createdBy: string; positionJson: string | null }) =>
    t.id.length + jsonBytes(t.roomId) + jsonBytes(t.createdBy) + Buffer.byteLength(t.positionJson ?? '') + FIXED.thread,
  reaction: (r: { id: string; commentId: string; userId: string; emoji: string }) =>
    r.id.length + r.commentId.length + jsonBytes(r.userId) + Buffer.byteLength(r.emoji) + FIXED.reaction,
  attachments: (n: number) => n * FIXED.attachment,
};

/** The exact size of a room (see contentCost), as an SQL expression of its environment and id. */
export function roomContentSize(dialect: Dialect, envId: Expression<string>, roomId: Expression<string>) {
  const bytes = (column: string) => sql.raw(dialect === 'sqlite' ? `coalesce(length(cast(${column} as blob)), 0)` : `coalesce(octet_length(${column}), 0)`);
  const json = (column: string) => sql.raw(dialect === 'sqlite' ? `length(cast(json_quote(${column}) as blob))` : `octet_length(to_json(${column})::text)`);
  // A room's comments through its threads, in that order (see commentsOfRoom in rooms.ts).
  const ofRoom = sql`ct.environment_id = ${envId} and ct.room_id = ${roomId} and c.environment_id = ct.environment_id and c.thread_id = ct.id`;
  return sql<number>`(
    (select coalesce(sum(${json('c.body')} + ${bytes('c.mentions')} + length(c.id) + length(c.thread_id) + ${json('c.user_id')} + ${FIXED.comment}), 0)
      from threads ct cross join comments c where ${ofRoom})
    + (select coalesce(sum(length(r.id) + length(r.comment_id) + ${json('r.user_id')} + ${bytes('r.emoji')} + ${FIXED.reaction}), 0)
      from reactions r where r.environment_id = ${envId} and r.room_id = ${roomId})
    + (select count(*) * ${FIXED.attachment} from threads ct cross join comments c cross join attachments a
      where ${ofRoom} and a.environment_id = c.environment_id and a.comment_id = c.id)
    + (select coalesce(sum(length(t.id) + ${json('t.room_id')} + ${json('t.created_by')} + ${bytes('t.position')} + ${FIXED.thread}), 0)
      from threads t where t.environment_id = ${envId} and t.room_id = ${roomId})
  )`;
}

const roomContentFull = () =>
  new PulseError(
    'room_content_full',
    `This room holds as many comments as it may (about ${LIMITS.roomContentBytes / 1024 / 1024} MB, which everyone who opens it receives); delete threads or comments to add more.`,
  );

/** How long a room found full is refused without counting it again (see roomRecounter). */
const FULL_KEPT_MS = 1000;

/**
 * `rooms.content_bytes` is an estimate that only grows (what each write added; deletions are not
 * subtracted, so they cost nothing more). A write that would take it past the limit has the room
 * counted exactly instead, with the write's own rows in it (and `pending`: what the write adds
 * after the count, its attachments): refused (`room_content_full`) only if the room really is
 * full; otherwise the exact size is kept. Bumps the room's seq and returns it.
 *
 * The room's row is locked first (PostgreSQL): another node's write to the room then commits
 * before the count rather than after it. A room found full is remembered with its seq and its
 * size without the refused write: until a write changes the seq (a deletion, a shorter edit),
 * and for a second at most (the seq may have been read in a batch then rolled back), a write
 * that cannot fit is refused without counting the room again (milliseconds for a full one).
 */
export function roomRecounter(dialect: Dialect) {
  const lock = sql.raw(dialect === 'postgres' ? ' for update' : '');
  const full = new Map<string, { seq: number; without: number; at: number }>();
  return async (db: Db, envId: string, roomId: string, growth: number, pending = 0): Promise<number> => {
    const key = `${envId}\u0000${roomId}`;
    const { rows } = await sql<{ seq: number | string }>`select seq from rooms where environment_id = ${envId} and id = ${roomId}${lock}`.execute(db);
    if (!rows[0]) throw new Error(`room ${roomId} is missing`);
    const seq = Number(rows[0].seq);
    const known = full.get(key);
    if (known && known.seq === seq && performance.now() - known.at < FULL_KEPT_MS && known.without + growth > LIMITS.roomContentBytes) throw roomContentFull();
    const counted = await sql<{ bytes: number | string }>`select ${roomContentSize(dialect, sql.val(envId), sql.val(roomId))} as bytes`.execute(db);
    const exact = Number(counted.rows[0]?.bytes ?? 0) + pending;
    if (exact > LIMITS.roomContentBytes) {
      if (full.size >= 1000) full.clear();
      full.set(key, { seq, without: exact - growth, at: performance.now() });
      throw roomContentFull();
    }
    const updated = await sql<{ seq: number }>`update rooms set seq = seq + 1, content_bytes = ${exact} where environment_id = ${envId} and id = ${roomId} returning seq`.execute(db);
    return Number(updated.rows[0]!.seq);
  };
}
