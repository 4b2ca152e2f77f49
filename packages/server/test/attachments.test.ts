import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { UploadError } from '@pulse/core';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectClient, mintToken, RawSocket, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { closeServer } from './helpers/uploads.ts';

const MEDIA = new URL('./fixtures/media/', import.meta.url).pathname;
const fixture = (name: string) => readFileSync(join(MEDIA, name));

describe('attachments', () => {
  let t: TestServer;
  let token: string;

  const upload = async (body: Blob | Buffer, filename: string, opts: { type?: string; key?: string; token?: string | null } = {}) => {
    const form = new FormData();
    form.append('file', body instanceof Blob ? body : new Blob([new Uint8Array(body)], opts.type ? { type: opts.type } : {}), filename);
    const headers: Record<string, string> = { 'x-pulse-key': opts.key ?? t.publishableKey };
    if (opts.token !== null) headers['x-pulse-token'] = opts.token ?? token;
    const res = await fetch(`${t.url}/api/v1/upload`, { method: 'POST', headers, body: form });
    return { status: res.status, body: (await res.json()) as any };
  };

  let uploader = '';
  let uploaders = 0;

  beforeAll(async () => {
    t = await startTestServer();
    // This suite uploads far more than a user's burst allowance (see upload-limits.test.ts).
    t.server.attachments.uploadLimiter.burst = 1000;
  });
  // A user per test: most uploads here are never attached, and a user may keep only 20 such.
  beforeEach(async () => {
    uploader = `uploader-${++uploaders}`;
    token = await mintToken(t, uploader);
  });
  afterEach(async () => {
    await t.server.ctx.environments.updateConfig(t.envId, { allowImages: true, allowAudio: true, allowVideo: true, maxFileSizeMb: 10, maxAttachmentsPerComment: 5 });
  });
  afterAll(() => closeServer(t));

  describe('upload', () => {
    it.each([
      ['photo.png', 'image', 'image/png', { width: 640, height: 400 }],
      ['photo.jpg', 'image', 'image/jpeg', { width: 640, height: 400 }],
      ['photo.webp', 'image', 'image/webp', { width: 640, height: 400 }],
      ['anim.gif', 'image', 'image/gif', { width: 64, height: 40 }],
      ['tone.webm', 'audio', 'audio/webm', { durationMs: 1508 }],
      ['tone.ogg', 'audio', 'audio/ogg', { durationMs: 1500 }],
      ['tone.m4a', 'audio', 'audio/mp4', {}],
      ['tone.mp3', 'audio', 'audio/mpeg', {}],
      ['tone.wav', 'audio', 'audio/wav', { durationMs: 1500 }],
      ['clip.webm', 'video', 'video/webm', { durationMs: 1208 }],
      ['clip.mp4', 'video', 'video/mp4', {}],
      // Recorded by Chromium's MediaRecorder (fake devices): live WebM without a duration header.
      ['recorded-audio.webm', 'audio', 'audio/webm', { durationMs: 1200 }],
      ['recorded-video.webm', 'video', 'video/webm', { durationMs: 1200 }],
    ])('accepts %s as %s (%s)', async (name, type, mimeType, extra) => {
      const bytes = fixture(name);
      // The declared type is deliberately wrong: only the content counts.
      const res = await upload(bytes, name, { type: 'application/octet-stream' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ type, mimeType, filename: name, sizeBytes: bytes.length, ...extra });
      expect(res.body.id).toMatch(/^[0-9a-f]{32}$/);
      expect(res.body.url).toBe(`${t.url}/files/${t.envId}/${res.body.id}`);
      if (type === 'image') {
        expect(res.body.thumbnailUrl).toBe(`${res.body.url}?thumb=1`);
        const thumb = Buffer.from(await (await fetch(res.body.thumbnailUrl)).arrayBuffer());
        expect(await sharp(thumb).metadata()).toMatchObject({ format: 'jpeg', width: 200, height: 200 });
        expect(res.body.durationMs).toBeUndefined();
      } else {
        expect(res.body.thumbnailUrl).toBeUndefined();
        expect(res.body.width).toBeUndefined();
        expect(res.body.durationMs).toBeGreaterThan(1100);
        expect(res.body.durationMs).toBeLessThan(1700);
      }
      const served = await fetch(res.body.url);
      expect(served.headers.get('content-type')).toBe(mimeType);
      expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
    });

    it('refuses files whose content is not a supported type, whatever their name or declared type', async () => {
      const spoofs: [string, Buffer, string][] = [
        ['page.png', Buffer.from('<!doctype html><html><script>alert(1)</script></html>'), 'image/png'],
        ['vector.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'), 'image/svg+xml'],
        ['tool.jpg', readFileSync('/bin/true'), 'image/jpeg'],
        ['notes.mp3', Buffer.from('just some text, not audio at all\n'.repeat(20)), 'audio/mpeg'],
        ['broken.png', fixture('photo.png').subarray(0, 64), 'image/png'],
        ['archive.webm', Buffer.from('PK\u0003\u0004' + 'x'.repeat(200)), 'video/webm'],
      ];
      for (const [name, bytes, type] of spoofs) {
        const res = await upload(bytes, name, { type });
        expect({ name, status: res.status, code: res.body.error?.code }).toEqual({ name, status: 400, code: 'unsupported_file_type' });
      }
      expect((await t.api('GET', '/api/v1/users')).status).toBe(200);
    });

    it('stores the first part named file and discards the other parts around it', async () => {
      const form = new FormData();
      form.append('note', 'a text field');
      form.append('other', new Blob([fixture('photo.jpg')], { type: 'image/jpeg' }), 'other.jpg');
      form.append('file', new Blob([fixture('photo.png')], { type: 'image/png' }), 'chosen.png');
      form.append('file', new Blob([fixture('anim.gif')], { type: 'image/gif' }), 'second.gif');
      const res = await fetch(`${t.url}/api/v1/upload`, { method: 'POST', headers: { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token }, body: form });
      const body = (await res.json()) as any;
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ filename: 'chosen.png', mimeType: 'image/png', sizeBytes: fixture('photo.png').length });
    });

    it('answers 400 when there is no file part, and 401 without valid credentials (before reading the body)', async () => {
      const form = new FormData();
      form.append('other', 'value');
      const noFile = await fetch(`${t.url}/api/v1/upload`, { method: 'POST', headers: { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token }, body: form });
      expect(noFile.status).toBe(400);
      expect(((await noFile.json()) as any).error.code).toBe('no_file');
      const png = fixture('photo.png');
      expect((await upload(png, 'a.png', { token: null })).body.error.code).toBe('unauthorized');
      expect((await upload(png, 'a.png', { token: 'garbage' })).body.error.code).toBe('invalid_token');
      expect((await upload(png, 'a.png', { key: t.secretKey })).body.error.code).toBe('secret_key_not_allowed');
      expect((await upload(png, 'a.png', { key: 'pk_nope' })).status).toBe(401);
    });

    it('enforces the environment’s media flags, live, with a code naming the type', async () => {
      await t.server.ctx.environments.updateConfig(t.envId, { allowImages: false, allowAudio: false, allowVideo: false });
      expect(await upload(fixture('photo.png'), 'a.png')).toMatchObject({ status: 403, body: { error: { code: 'images_disabled' } } });
      expect(await upload(fixture('tone.ogg'), 'a.ogg')).toMatchObject({ status: 403, body: { error: { code: 'audio_disabled' } } });
      expect(await upload(fixture('clip.mp4'), 'a.mp4')).toMatchObject({ status: 403, body: { error: { code: 'video_disabled' } } });
      await t.server.ctx.environments.updateConfig(t.envId, { allowAudio: true });
      expect((await upload(fixture('tone.ogg'), 'a.ogg')).status).toBe(200);
    });

    it('refuses limit + 1 byte with 413, and never stages more than the limit', async () => {
      await t.server.ctx.environments.updateConfig(t.envId, { maxFileSizeMb: 1 });
      const limit = 1024 * 1024;
      const over = Buffer.concat([fixture('photo.png'), Buffer.alloc(limit + 1 - fixture('photo.png').length, 1)]);
      expect(over.length).toBe(limit + 1);
      expect(await upload(over, 'big.png')).toMatchObject({ status: 413, body: { error: { code: 'file_too_large' } } });
      const atLimit = over.subarray(0, limit);
      expect((await upload(atLimit, 'big.png')).status).toBe(200); // a PNG with trailing bytes, exactly at the limit
      const staging = join(t.options.dataDir, 'files', '.staging');
      expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
    });

    it('keeps server memory flat while a client streams ten times the limit', async () => {
      await t.server.ctx.environments.updateConfig(t.envId, { maxFileSizeMb: 10 });
      const total = 100 * 1024 * 1024;
      const chunk = Buffer.alloc(256 * 1024, 7);
      let sent = 0;
      const boundary = 'pulseboundary';
      const body = Readable.from(
        (async function* () {
          yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.bin"\r\nContent-Type: image/png\r\n\r\n`);
          yield fixture('photo.png');
          while (sent < total) {
            sent += chunk.length;
            yield chunk;
          }
          yield Buffer.from(`\r\n--${boundary}--\r\n`);
        })(),
      );
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      let peakStaged = 0;
      const staging = join(t.options.dataDir, 'files', '.staging');
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
        if (existsSync(staging)) for (const f of readdirSync(staging)) peakStaged = Math.max(peakStaged, statSync(join(staging, f), { throwIfNoEntry: false })?.size ?? 0);
      }, 5);
      const res = await fetch(`${t.url}/api/v1/upload`, {
        method: 'POST',
        headers: { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token, 'content-type': `multipart/form-data; boundary=${boundary}` },
        body: Readable.toWeb(body) as ReadableStream,
        duplex: 'half',
      } as RequestInit).catch((err) => ({ status: 0, err }) as const);
      clearInterval(sampler);
      // The server answers 413 and closes the connection without reading the rest.
      if ('json' in res) {
        expect(res.status).toBe(413);
      }
      expect(sent).toBeLessThan(total);
      expect(peakStaged).toBeLessThanOrEqual(10 * 1024 * 1024);
      expect(peak - before).toBeLessThan(64 * 1024 * 1024);
      await waitFor(() => !existsSync(staging) || readdirSync(staging).length === 0);
    });

    it('answers CORS preflights so browsers on other origins can upload', async () => {
      const res = await fetch(`${t.url}/api/v1/upload`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-pulse-key,x-pulse-token' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-headers')).toMatch(/X-Pulse-Token/i);
      const denied = await upload(fixture('photo.png'), 'a.png', { token: 'bad' });
      expect(denied.status).toBe(401);
    });

    it('uploads from PulseClient.upload with progress', async () => {
      const client = await connectClient(t, uploader, 'uploads');
      const progress: number[] = [];
      const file = new File([new Uint8Array(fixture('clip.webm'))], 'clip.webm', { type: 'video/webm' });
      const attachment = await client.upload(file, { onProgress: (p) => progress.push(p.loaded) });
      expect(attachment).toMatchObject({ type: 'video', mimeType: 'video/webm', sizeBytes: file.size });
      expect(progress.at(-1)).toBe(file.size);
      await t.server.ctx.environments.updateConfig(t.envId, { allowVideo: false });
      const err = await client.upload(file).catch((e) => e);
      expect(err).toBeInstanceOf(UploadError);
      expect(err).toMatchObject({ code: 'video_disabled', status: 403 });
      client.disconnect();
    });
  });

  describe('serving files', () => {
    it('serves with safe headers, strong caching, and byte ranges', async () => {
      const a = (await upload(fixture('tone.wav'), 'ünïcode name.wav')).body;
      const res = await fetch(a.url);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-disposition')).toBe(`inline; filename="_n_code name.wav"; filename*=UTF-8''${encodeURIComponent('ünïcode name.wav')}`);
      expect(res.headers.get('cache-control')).toContain('immutable');
      const etag = res.headers.get('etag')!;
      expect((await fetch(a.url, { headers: { 'if-none-match': etag } })).status).toBe(304);
      const part = await fetch(a.url, { headers: { range: 'bytes=100-199' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 100-199/${a.sizeBytes}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(fixture('tone.wav').subarray(100, 200))).toBe(true);
      const suffix = await fetch(a.url, { headers: { range: 'bytes=-10' } });
      expect((await suffix.arrayBuffer()).byteLength).toBe(10);
      expect((await fetch(a.url, { headers: { range: `bytes=${a.sizeBytes}-` } })).status).toBe(416);
      // Several ranges are ignored, as HTTP allows: the whole file.
      const several = await fetch(a.url, { headers: { range: 'bytes=0-1,5-6' } });
      expect(several.status).toBe(200);
      expect((await several.arrayBuffer()).byteLength).toBe(a.sizeBytes);
    });

    it('answers 404 for unknown ids, other environments and path tricks', async () => {
      const a = (await upload(fixture('photo.jpg'), 'a.jpg')).body;
      const other = await t.server.ctx.environments.create('Other files');
      expect((await fetch(`${t.url}/files/${other.id}/${a.id}`)).status).toBe(404);
      expect((await fetch(`${t.url}/files/${t.envId}/${'0'.repeat(32)}`)).status).toBe(404);
      expect((await fetch(`${t.url}/files/${t.envId}/..%2F..%2Fpulse.db`)).status).toBe(404);
      const tone = (await upload(fixture('tone.ogg'), 'a.ogg')).body;
      expect((await fetch(`${tone.url}?thumb=1`)).status).toBe(404); // audio has no thumbnail
    });
  });

  describe('attaching to comments', () => {
    it('attaches uploads over WebSocket, shows them everywhere, and deletes the files with the comment', async () => {
      const alice = await connectClient(t, 'alice', 'attach');
      const bob = await connectClient(t, 'bob', 'attach');
      const file = (name: string, as: string) => new File([new Uint8Array(fixture(name))], as);
      const img = await alice.upload(file('photo.png', 'shot.png'));
      const voice = await alice.upload(file('tone.webm', 'voice.webm'));
      const threadId = alice.createThread('see attached', { attachmentIds: [img.id, voice.id] });
      await alice.sync();
      await waitFor(() => bob.state.thread(threadId));
      expect(bob.state.thread(threadId)!.comments[0]!.attachments.map((x) => x.id)).toEqual([img.id, voice.id]);
      expect(bob.state.thread(threadId)!.comments[0]!.attachments[0]).toMatchObject({ type: 'image', thumbnailUrl: img.thumbnailUrl, url: img.url });

      const late = await connectClient(t, 'late', 'attach');
      expect(late.state.thread(threadId)!.comments[0]!.attachments).toHaveLength(2);
      const rest = await t.api('GET', `/api/v1/threads/${threadId}`);
      expect(rest.body.comments[0].attachments.map((x: any) => x.id)).toEqual([img.id, voice.id]);

      // A reply with only an attachment (a voice note) is fine.
      const note = await alice.upload(file('tone.ogg', 'note.ogg'));
      const replyId = alice.reply(threadId, '', [], [note.id]);
      await alice.sync();
      await waitFor(() => bob.state.comment(replyId));

      alice.deleteThread(threadId);
      await alice.sync();
      for (const a of [img, voice, note]) {
        expect((await fetch(a.url)).status).toBe(404);
        expect(existsSync(join(t.options.dataDir, 'files', t.envId, a.id))).toBe(false);
      }
      expect(existsSync(join(t.options.dataDir, 'files', t.envId, `${img.id}.thumb`))).toBe(false);
      for (const c of [alice, bob, late]) c.disconnect();
    });

    it('refuses someone else’s upload, a reused one, an unknown one, and too many', async () => {
      await t.server.ctx.environments.updateConfig(t.envId, { maxAttachmentsPerComment: 2 });
      const alice = await connectClient(t, 'alice', 'attach-rules');
      const bob = await connectClient(t, 'bob', 'attach-rules');
      const errors: any[] = [];
      alice.on('error', (e) => errors.push(e));
      const bobs = await bob.upload(new File([new Uint8Array(fixture('photo.jpg'))], 'b.jpg'));
      const mine = await Promise.all([1, 2, 3].map((i) => alice.upload(new File([new Uint8Array(fixture('photo.webp'))], `${i}.webp`))));
      alice.createThread('not mine', { attachmentIds: [bobs.id] });
      alice.createThread('too many', { attachmentIds: mine.map((m) => m.id) });
      alice.createThread('unknown', { attachmentIds: ['f'.repeat(32)] });
      const first = alice.createThread('ok', { attachmentIds: [mine[0]!.id] });
      await waitFor(() => errors.length === 3);
      await alice.sync();
      alice.createThread('reused', { attachmentIds: [mine[0]!.id] });
      await waitFor(() => errors.length === 4);
      // Requests are answered as they complete, not in the order sent.
      expect(errors.map((e) => e.code).sort()).toEqual(['attachment_in_use', 'attachment_not_found', 'forbidden', 'too_many_attachments']);
      expect(alice.state.thread(first)!.comments[0]!.attachments).toHaveLength(1);
      const threads = await t.api('GET', '/api/v1/rooms/attach-rules/threads');
      expect(threads.body.items).toHaveLength(1);
      // Another environment cannot attach this environment's upload.
      const other = await t.server.ctx.environments.create('Other attach');
      await t.api('PUT', '/api/v1/users/x', { name: 'X' }, other.secretKey);
      const cross = await t.api('POST', '/api/v1/rooms/r/threads', { userId: 'x', body: 'steal', attachmentIds: [mine[1]!.id] }, other.secretKey);
      expect(cross).toMatchObject({ status: 404, body: { error: { code: 'attachment_not_found' } } });
      alice.disconnect();
      bob.disconnect();
    });

    it('acknowledges a retried create whose attachments it already attached (lost ack)', async () => {
      const s = new RawSocket(t.wsUrl);
      await s.auth(t, 'retrier', 'retry-room');
      const tokenR = await mintToken(t, 'retrier');
      const a = (await upload(fixture('photo.png'), 'a.png', { token: tokenR })).body;
      const create = { type: 'thread:create', id: 'retry-thread', commentId: 'retry-comment', body: 'with file', mentions: [], position: null, attachmentIds: [a.id] };
      s.send({ ...create, ref: 'first' });
      await s.next('ack', 3000, (m) => m.ref === 'first');
      s.send({ ...create, ref: 'again' });
      expect(await s.next('ack', 3000, (m) => m.ref === 'again')).toMatchObject({ id: 'retry-thread' });
      s.send({ type: 'comment:create', ref: 'c1', id: 'retry-reply', threadId: 'retry-thread', body: 'more', attachmentIds: [] });
      await s.next('ack', 3000, (m) => m.ref === 'c1');
      const b = (await upload(fixture('anim.gif'), 'b.gif', { token: tokenR })).body;
      const reply = { type: 'comment:create', id: 'retry-reply-2', threadId: 'retry-thread', body: 'file reply', attachmentIds: [b.id] };
      s.send({ ...reply, ref: 'r1' });
      await s.next('ack', 3000, (m) => m.ref === 'r1');
      s.send({ ...reply, ref: 'r2' });
      expect(await s.next('ack', 3000, (m) => m.ref === 'r2')).toMatchObject({ id: 'retry-reply-2' });
      // Deleted since, its files with it: the replayed queue is still answered as done.
      s.send({ type: 'comment:delete', ref: 'd1', commentId: 'retry-reply-2' });
      await s.next('ack', 3000, (m) => m.ref === 'd1');
      s.send({ ...reply, ref: 'r3' });
      expect(await s.next('ack', 3000, (m) => m.ref === 'r3')).toMatchObject({ id: 'retry-reply-2' });
      s.send({ type: 'thread:delete', ref: 'd2', threadId: 'retry-thread' });
      await s.next('ack', 3000, (m) => m.ref === 'd2');
      s.send({ ...create, ref: 'again2' });
      expect(await s.next('ack', 3000, (m) => m.ref === 'again2')).toMatchObject({ id: 'retry-thread' });
      expect(s.messages.filter((m) => m.type === 'error')).toEqual([]);
      expect((await t.api('GET', '/api/v1/threads/retry-thread')).status).toBe(404);
      s.close();
    });

    it('lets the backend attach any upload over REST, edit the set, and removes detached files', async () => {
      const a = (await upload(fixture('photo.png'), 'a.png')).body;
      const b = (await upload(fixture('anim.gif'), 'b.gif')).body;
      await t.api('PUT', '/api/v1/users/bot', { name: 'Bot' });
      const created = await t.api('POST', '/api/v1/rooms/rest-attach/threads', { userId: 'bot', body: 'by the bot', attachmentIds: [a.id] });
      expect(created.status).toBe(201);
      expect(created.body.thread.comments[0].attachments[0]).toMatchObject({ id: a.id, url: a.url });
      const commentId = created.body.thread.comments[0].id;
      const edited = await t.api('PATCH', `/api/v1/comments/${commentId}`, { body: 'swapped', attachmentIds: [b.id] });
      expect(edited.body.comment.attachments.map((x: any) => x.id)).toEqual([b.id]);
      expect((await fetch(a.url)).status).toBe(404); // detached → deleted
      const keep = await t.api('PATCH', `/api/v1/comments/${commentId}`, { body: 'text only edit' });
      expect(keep.body.comment.attachments.map((x: any) => x.id)).toEqual([b.id]); // left out = unchanged
      await t.api('DELETE', `/api/v1/comments/${commentId}`);
      expect((await fetch(b.url)).status).toBe(404);
    });

    it("deletes the user's own upload that is not attached, and nothing else", async () => {
      const client = await connectClient(t, uploader, 'delete-uploads');
      const mine = (await upload(fixture('photo.png'), 'a.png')).body;
      const kept = (await upload(fixture('photo.png'), 'b.png')).body;
      expect(await t.server.ctx.store.pendingUploads(t.envId, uploader)).toMatchObject({ count: 2 });
      await client.deleteUpload(mine.id);
      expect(await t.server.ctx.store.pendingUploads(t.envId, uploader)).toMatchObject({ count: 1 });
      expect((await fetch(mine.url)).status).toBe(404);
      const again = await client.deleteUpload(mine.id).catch((e) => e);
      expect(again).toMatchObject({ code: 'attachment_not_found', status: 404 });
      // Someone else's, or one attached to a comment: refused, and kept.
      const other = await connectClient(t, 'not-the-uploader', 'delete-uploads');
      expect(await other.deleteUpload(kept.id).catch((e) => e)).toMatchObject({ code: 'forbidden', status: 403 });
      await t.api('POST', '/api/v1/rooms/delete-uploads/threads', { userId: uploader, body: 'with it', attachmentIds: [kept.id] });
      expect(await client.deleteUpload(kept.id).catch((e) => e)).toMatchObject({ code: 'attachment_in_use', status: 409 });
      expect((await fetch(kept.url)).status).toBe(200);
      const unauthenticated = await fetch(`${t.url}/api/v1/upload/${kept.id}`, { method: 'DELETE' });
      expect(unauthenticated.status).toBe(401);
      client.disconnect();
      other.disconnect();
    });

    it('removes uploads never attached after 24 hours', async () => {
      const a = (await upload(fixture('photo.png'), 'stale.png')).body;
      expect(await t.server.attachments.sweep(Date.now())).toBe(0);
      const removed = await t.server.attachments.sweep(Date.now() + 24 * 3600 * 1000 + 60_000);
      expect(removed).toBeGreaterThan(0);
      expect((await fetch(a.url)).status).toBe(404);
    });
  });
});
