import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { STAGING_SWEEP_MS } from '../src/files/file-store.ts';
import { mintToken, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { BOUNDARY, closeServer, multipartHead, uploadFile } from './helpers/uploads.ts';

const PNG = readFileSync(new URL('./fixtures/media/photo.png', import.meta.url));

/** Issue 11, fix 3: a client that disconnects mid-upload must not leave its staged file behind. */
describe('aborted uploads', () => {
  let t: TestServer;
  let token: string;
  let staging: string;
  const sockets: Socket[] = [];

  const staged = () => (existsSync(staging) ? readdirSync(staging) : []);

  /** Opens a raw connection and sends an upload's head and `first` bytes of the file, announcing `total`. */
  const startUpload = async (first: Buffer, total: number) => {
    const socket = connect(Number(new URL(t.url).port), '127.0.0.1');
    sockets.push(socket);
    const head = multipartHead('partial.png');
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const answer = { text: '' };
    socket.on('data', (d) => (answer.text += d.toString()));
    socket.on('error', () => {});
    socket.write(
      [
        'POST /api/v1/upload HTTP/1.1',
        `Host: 127.0.0.1`,
        `X-Pulse-Key: ${t.publishableKey}`,
        `X-Pulse-Token: ${token}`,
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
        `Content-Length: ${head.length + total + tail.length}`,
        '',
        '',
      ].join('\r\n'),
    );
    socket.write(Buffer.concat([head, first]));
    return { socket, tail, answer };
  };

  beforeAll(async () => {
    t = await startTestServer();
    token = await mintToken(t, 'aborter');
    staging = join(t.options.dataDir, 'files', '.staging');
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });
  afterAll(() => closeServer(t));

  it('deletes the staged file as soon as the client disconnects mid-body', async () => {
    const uploads = [];
    for (let i = 0; i < 5; i++) uploads.push(await startUpload(Buffer.concat([PNG, Buffer.alloc(256 * 1024, 1)]), 5 * 1024 * 1024));
    // The server has staged what arrived so far…
    await waitFor(() => staged().length === 5 && staged().every((f) => (statSync(join(staging, f), { throwIfNoEntry: false })?.size ?? 0) > 0), 3000, 'five staged files');
    // …and the clients go away without finishing.
    for (const u of uploads) u.socket.destroy();
    await waitFor(() => staged().length === 0, 2000, 'the staging folder to empty');
    // The server is fine afterwards.
    expect((await uploadFile(t, token, 'after.png', PNG)).status).toBe(200);
    expect(staged()).toEqual([]);
  });

  it('gives up on a client that disconnects before sending any of the file', async () => {
    const { socket } = await startUpload(Buffer.alloc(0), 1024);
    socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await uploadFile(t, token, 'after.png', PNG)).status).toBe(200);
    expect(staged()).toEqual([]);
  });

  it('a slow upload that completes is accepted (the abort handling does not cut live uploads)', async () => {
    const rest = Buffer.alloc(64 * 1024, 2);
    const u = await startUpload(PNG, PNG.length + rest.length);
    await waitFor(() => staged().length === 1, 3000, 'a staged file');
    await new Promise((r) => setTimeout(r, 200));
    u.socket.write(Buffer.concat([rest, u.tail]));
    const answer = await waitFor(() => (u.answer.text.endsWith('}') ? u.answer.text : ''), 3000, 'the answer');
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(answer).toContain('"filename":"partial.png"');
    expect(staged()).toEqual([]);
  });

  it('drops an upload waiting for its media check when its client leaves, and keeps nothing', async () => {
    const queue = t.server.attachments.mediaQueue;
    const saved = queue.concurrency;
    queue.concurrency = 0; // nothing is checked: every upload waits
    try {
      const u = await startUpload(PNG, PNG.length);
      u.socket.write(u.tail);
      await waitFor(() => queue.waiting === 1, 3000, 'the upload to wait for its check');
      expect(staged()).toHaveLength(1);
      u.socket.destroy();
      await waitFor(() => queue.waiting === 0 && staged().length === 0, 2000, 'the waiting upload to be dropped');
    } finally {
      queue.concurrency = saved;
    }
    expect(queue.running).toBe(0);
    expect((await uploadFile(t, token, 'after.png', PNG)).status).toBe(200);
  });

  it('sweeps staged files no live upload holds: at once if this server left them, after an idle age if another did', async () => {
    const u = await startUpload(PNG, PNG.length + 1024);
    await waitFor(() => staged().length === 1, 3000, 'a staged file');
    const [live] = staged();
    const hourAgo = new Date(Date.now() - 3600_000);
    // A live upload's file is kept even if its clock says it is old.
    utimesSync(join(staging, live!), hourAgo, hourAgo);
    // Another node's (shared volume) upload: fresh is kept, idle for an hour is removed.
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, 'othernode-1-fresh'), 'x');
    writeFileSync(join(staging, 'othernode-1-stale'), 'x');
    utimesSync(join(staging, 'othernode-1-stale'), hourAgo, hourAgo);
    const removed = await t.server.attachments.files.cleanStaging();
    expect(staged().sort()).toEqual([live, 'othernode-1-fresh'].sort());
    expect(removed).toBe(1);
    u.socket.destroy();
    await waitFor(() => staged().length === 1, 2000, 'the aborted upload to be removed');
    expect(staged()).toEqual(['othernode-1-fresh']);
  });
});

describe('staging sweep', () => {
  it('runs every STAGING_SWEEP_MS while the server runs, not only at start', async () => {
    // Only setInterval is faked, and only while the server starts: its sweeper is then driven by hand.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let t: TestServer | undefined;
    try {
      t = await startTestServer();
      const staging = join(t.options.dataDir, 'files', '.staging');
      mkdirSync(staging, { recursive: true });
      const abandoned = join(staging, 'crashed-1-upload');
      writeFileSync(abandoned, 'x');
      const old = new Date(Date.now() - 3600_000);
      utimesSync(abandoned, old, old);
      vi.advanceTimersByTime(STAGING_SWEEP_MS - 1000);
      await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(abandoned)).toBe(true);
      vi.advanceTimersByTime(1000);
      await waitFor(() => !existsSync(abandoned), 2000, 'the sweep to remove the abandoned file');
    } finally {
      vi.useRealTimers();
      await closeServer(t);
    }
  });
});
