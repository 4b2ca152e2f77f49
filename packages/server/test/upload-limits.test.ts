import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, MAX_IMAGE_PIXELS } from '@pulse/protocol';
import { mintToken, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { closeServer, uploadFile, type UploadAnswer } from './helpers/uploads.ts';

const PNG = readFileSync(new URL('./fixtures/media/photo.png', import.meta.url));

/** Issue 11, fix 6: decompression-heavy images, media work starving file serving, upload floods. */
describe('upload limits', () => {
  let t: TestServer;
  /** 12000 × 12000 (144 megapixels) in about 440 KB. */
  let bomb: Buffer;
  /** 6000 × 6000, 16 bits per channel: allowed (36 megapixels) but slow to decode. */
  let heavy: Buffer;

  beforeAll(async () => {
    t = await startTestServer();
    bomb = await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#fff' } }).png({ compressionLevel: 9 }).toBuffer();
    heavy = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: '#36c' } }).toColourspace('rgb16').png({ compressionLevel: 9 }).toBuffer();
  }, 60_000);
  afterAll(() => closeServer(t));

  it('refuses an image of more than 40 megapixels with 413 file_too_large, before decoding it', async () => {
    expect(MAX_IMAGE_PIXELS).toBe(40_000_000);
    const token = await mintToken(t, 'bomber');
    const started = performance.now();
    const res = await uploadFile(t, token, 'bomb.png', bomb);
    const ms = performance.now() - started;
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('file_too_large');
    expect(res.body.error.message).toMatch(/40 megapixels.*12000 × 12000/);
    console.log(`[measure] 144 MP PNG refused in ${ms.toFixed(0)} ms`);
    // Just over the cap is refused too; a large image under it is accepted.
    const over = await sharp({ create: { width: 6400, height: 6251, channels: 3, background: '#fff' } }).png().toBuffer();
    expect((await uploadFile(t, token, 'over.png', over)).body.error.code).toBe('file_too_large');
    const ok = await uploadFile(t, token, 'heavy.png', heavy);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ width: 6000, height: 6000, mimeType: 'image/png' });
  });

  it('serves files while many heavy images are being processed', async () => {
    const token = await mintToken(t, 'heavy-user');
    const existing = (await uploadFile(t, token, 'small.png', PNG)).body;
    const queue = t.server.attachments.mediaQueue;
    const uploads = Array.from({ length: 8 }, (_, i) => uploadFile(t, token, `heavy-${i}.png`, heavy));
    await waitFor(() => queue.running > 0, 5000, 'media processing to start');
    const latencies: number[] = [];
    // Reads started while images are being decoded (the loop only runs while they are).
    while (queue.running > 0) {
      const started = performance.now();
      const res = await fetch(existing.url);
      const bytes = Buffer.from(await res.arrayBuffer());
      latencies.push(performance.now() - started);
      expect(res.status).toBe(200);
      expect(bytes.equals(PNG)).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
    }
    const answers = await Promise.all(uploads);
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(latencies.length).toBeGreaterThan(0);
    console.log(`[measure] ${latencies.length} GET /files during 8 heavy uploads: max ${Math.max(...latencies).toFixed(0)} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]!.toFixed(0)} ms`);
  });

  it('refuses uploads while a user has 20 not attached to a comment, before reading the body', async () => {
    const limiter = t.server.attachments.uploadLimiter;
    const burst = limiter.burst;
    limiter.burst = 1000;
    try {
      const token = await mintToken(t, 'hoarder');
      const kept = [];
      for (let i = 0; i < LIMITS.pendingUploadsPerUser; i++) kept.push(await uploadFile(t, token, `p-${i}.png`, PNG));
      expect(kept.map((a) => a.status)).toEqual(Array(LIMITS.pendingUploadsPerUser).fill(200));
      const refused = await uploadFile(t, token, 'one-more.png', PNG);
      expect(refused.status).toBe(429);
      expect(refused.body.error).toMatchObject({ code: 'too_many_pending_uploads', message: expect.stringContaining('not attached') });
      // Another user is not held back; attaching one makes room again.
      expect((await uploadFile(t, await mintToken(t, 'not-hoarding'), 'mine.png', PNG)).status).toBe(200);
      const created = await t.api('POST', '/api/v1/rooms/pending-room/threads', { userId: 'hoarder', body: 'here it is', attachmentIds: [kept[0]!.body.id] });
      expect(created.status).toBe(201);
      expect((await uploadFile(t, token, 'one-more.png', PNG)).status).toBe(200);
      // Uploads under way count: sent all at once, no more than the cap get through.
      const rushToken = await mintToken(t, 'rusher');
      const rush = await Promise.all(Array.from({ length: LIMITS.pendingUploadsPerUser + 5 }, (_, i) => uploadFile(t, rushToken, `r-${i}.png`, PNG)));
      expect(rush.filter((a) => a.status === 200)).toHaveLength(LIMITS.pendingUploadsPerUser);
      expect(rush.filter((a) => a.status === 429).every((a) => a.body.error.code === 'too_many_pending_uploads')).toBe(true);
    } finally {
      limiter.burst = burst;
    }
  });

  it('answers 503 service_unavailable with Retry-After when too many uploads wait for processing', async () => {
    const token = await mintToken(t, 'queue-user');
    const queue = t.server.attachments.mediaQueue;
    const saved = queue.maxWaiting;
    queue.maxWaiting = 1;
    try {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => uploadFile(t, token, `q-${i}.png`, heavy)));
      const statuses = answers.map((a) => a.status);
      const busy = answers.filter((a) => a.status === 503);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3); // two running + one waiting
      expect(busy.length).toBeGreaterThanOrEqual(1);
      for (const b of busy) {
        expect(b.body.error.code).toBe('service_unavailable');
        expect(Number(b.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    } finally {
      queue.maxWaiting = saved;
    }
    expect(queue.running).toBe(0);
    expect(queue.waiting).toBe(0);
  });

  it('rate-limits an upload flood from one user with 429 rate_limited and Retry-After', async () => {
    const token = await mintToken(t, 'flooder');
    const answers: UploadAnswer[] = await Promise.all(Array.from({ length: 26 }, (_, i) => uploadFile(t, token, `f-${i}.png`, PNG)));
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(ok.length + limited.length).toBe(26);
    expect(ok.length).toBeGreaterThanOrEqual(20); // the burst
    expect(limited.length).toBeGreaterThanOrEqual(3); // 6 over the burst, less what refilled meanwhile
    for (const l of limited) {
      expect(l.body.error.code).toBe('rate_limited');
      expect(Number(l.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Per user and per environment: others are not affected.
    expect((await uploadFile(t, await mintToken(t, 'bystander'), 'b.png', PNG)).status).toBe(200);
    const other = await t.server.ctx.environments.create('Flood elsewhere');
    const elsewhere = await t.api('POST', '/auth/token', { userId: 'flooder', name: 'flooder' }, other.secretKey);
    const res = await fetch(`${t.url}/api/v1/upload`, {
      method: 'POST',
      headers: { 'x-pulse-key': other.publishableKey, 'x-pulse-token': elsewhere.body.token },
      body: (() => {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(PNG)]), 'e.png');
        return form;
      })(),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });
});
