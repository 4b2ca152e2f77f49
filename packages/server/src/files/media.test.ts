import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectMedia } from './media.ts';

const dir = mkdtempSync(join(tmpdir(), 'pulse-media-'));
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/media/', import.meta.url));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A WebM header, a segment of unknown size, then `voidBytes` of two-byte Void elements: minutes of parsing for a megabyte. */
function craftedWebm(voidBytes: number): string {
  const voids = Buffer.alloc(voidBytes);
  for (let i = 0; i < voids.length; i += 2) voids.set([0xec, 0x80], i);
  const header = Buffer.from('1a45dfa3874282847765626d', 'hex'); // EBML header: DocType "webm"
  const path = join(dir, `crafted-${voidBytes}.webm`);
  writeFileSync(path, Buffer.concat([header, Buffer.from('1853806701ffffffffffffff', 'hex'), voids]));
  return path;
}

describe('inspectMedia on audio and video', () => {
  it('gives up on a file the parsers cannot read in time, and the server thread stays free meanwhile', async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      await expect(inspectMedia(craftedWebm(1024 * 1024), 500)).rejects.toMatchObject({ code: 'unsupported_file_type', message: expect.stringContaining('could not be read within 0.5 s') });
    } finally {
      clearInterval(ticker);
    }
    // Timers kept running while the worker parsed (on this thread they would have waited for it).
    expect(ticks).toBeGreaterThan(5);
    // The late worker was ended; the next files get a fresh one, then reuse it.
    for (const file of ['tone.mp3', 'recorded-audio.webm']) {
      expect(await inspectMedia(join(FIXTURES, file))).toMatchObject({ type: 'audio', durationMs: expect.any(Number) });
    }
  });
});
