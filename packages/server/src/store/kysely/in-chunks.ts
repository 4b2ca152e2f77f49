/** Rows one statement of a bulk change touches at most: the server goes on with other work in between. */
export const CHUNK_ROWS = 2000;

/**
 * Runs `chunk` (one statement changing at most CHUNK_ROWS rows, returning how many it changed)
 * until one changes fewer, letting other work run in between; returns the rows changed. A single
 * statement over hundreds of thousands of rows held the server for seconds.
 */
export async function inChunks(chunk: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await chunk();
    total += n;
    if (n < CHUNK_ROWS) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
