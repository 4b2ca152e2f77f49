import type { Connection } from './connection.ts';

/**
 * Sends sockets already in a room its state (`room:state`), read by `read`. As for auth:ok, what
 * they are sent while it is read waits and follows it (durable frames; ephemeral ones are
 * dropped), and until it is sent they count as not sent the room's state: a presence batch sent
 * meanwhile tells them of a user who came and went, whom the state read may show
 * (see LocalRoom's presence batches). Sockets still authenticating get it after their auth:ok.
 */
export async function sendRoomState(conns: Iterable<Connection>, read: () => Promise<Buffer>): Promise<void> {
  const authenticating: Connection[] = [];
  const waiting = new Map<Connection, number | undefined>();
  for (const conn of conns) {
    if (conn.backlog) authenticating.push(conn);
    else {
      waiting.set(conn, conn.stateSentAt);
      conn.backlog = [];
      conn.stateSentAt = undefined;
    }
  }
  let frame: Buffer | undefined;
  try {
    frame = await read();
  } finally {
    const sentAt = performance.now();
    for (const [conn, before] of waiting) {
      conn.releaseBacklog(frame);
      conn.stateSentAt = frame ? sentAt : before;
    }
    if (frame) for (const conn of authenticating) conn.sendFrame(frame, 'durable');
  }
}
