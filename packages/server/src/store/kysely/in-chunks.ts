/** Rows one statement of a bulk change touches at most: the server goes on with other work in between. */
export const CHUNK_ROWS = 2000;

/** Resolves in a later turn of the event loop: sockets and timers are served in between. */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs `chunk` (one statement over at most `size` rows, returning how many it covered) until one
 * covers fewer, letting other work run in between; returns the rows covered. A single statement
 * over hundreds of thousands of rows held the server for seconds.
 */
export async function inChunks(chunk: () => Promise<number>, size = CHUNK_ROWS): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await chunk();
    total += n;
    if (n < size) return total;
    await nextTurn();
  }
}
