import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileKey } from '../src/domain/attachments.ts';
import { safeFilename } from '../src/files/filename.ts';
import { mintToken } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { closeServer, uploadFile } from './helpers/uploads.ts';

const PNG = readFileSync(new URL('./fixtures/media/photo.png', import.meta.url));
const OGG = readFileSync(new URL('./fixtures/media/tone.ogg', import.meta.url));

/** Issue 11: names that lie about the type, or hide their real extension with bidi tricks. */
describe('upload file names', () => {
  let t: TestServer;
  let token: string;

  beforeAll(async () => {
    t = await startTestServer();
    token = await mintToken(t, 'namer');
  });
  afterAll(() => closeServer(t));

  const served = async (url: string) => {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.headers.get('content-disposition')!;
  };

  it('gives a PNG uploaded as evil.html a .png name, stored and served', async () => {
    const res = await uploadFile(t, token, 'evil.html', PNG);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ mimeType: 'image/png', filename: 'evil.png' });
    expect(await served(res.body.url)).toBe(`inline; filename="evil.png"; filename*=UTF-8''evil.png`);
    expect(await served(res.body.thumbnailUrl)).toBe(`inline; filename="evil.png.jpg"; filename*=UTF-8''evil.png.jpg`);
  });

  it('strips bidi overrides, format and control characters', async () => {
    // Displayed as "invoice‮gnp.html" → "invoicelmth.png" in a bidi-aware UI: the real extension hidden.
    const res = await uploadFile(t, token, 'invoice\u202Egnp.html', PNG);
    expect(res.status).toBe(200);
    expect(res.body.filename).toBe('invoicegnp.png');
    const withControls = await uploadFile(t, token, 'a\u0007b\u200B\u2066c\u2069\u200Fd\u0085.ogg', OGG);
    expect(withControls.body).toMatchObject({ mimeType: 'audio/ogg', filename: 'abcd.ogg' });
    const header = await served(res.body.url);
    expect(header).not.toMatch(/%E2%80%AE|\u202E/i);
    expect(header).toContain(`filename*=UTF-8''invoicegnp.png`);
  });

  it('keeps a matching extension (any spelling) and appends one where there is none', async () => {
    expect((await uploadFile(t, token, 'Voice Note.OGA', OGG)).body.filename).toBe('Voice Note.OGA');
    expect((await uploadFile(t, token, 'clipboard', PNG)).body.filename).toBe('clipboard.png');
    expect((await uploadFile(t, token, 'Shot 10.30.45', PNG)).body.filename).toBe('Shot 10.30.45.png');
    expect((await uploadFile(t, token, '.htaccess', PNG)).body.filename).toBe('htaccess.png');
    expect((await uploadFile(t, token, 'photo.jpg', PNG)).body.filename).toBe('photo.png');
    expect((await uploadFile(t, token, '', OGG)).body.filename).toBe('attachment.ogg');
  });

  it('cleans names stored before these rules when serving them', async () => {
    const id = 'f'.repeat(32);
    await t.server.attachments.files.put(fileKey(t.envId, id), PNG);
    await t.server.ctx.store.createAttachment(t.envId, {
      id,
      userId: 'namer',
      type: 'image',
      filename: 'old\u202Elmth.html',
      mimeType: 'image/png',
      sizeBytes: PNG.length,
      hasThumbnail: false,
      createdAt: new Date().toISOString(),
    });
    expect(await served(`${t.url}/files/${t.envId}/${id}`)).toBe(`inline; filename="oldlmth.png"; filename*=UTF-8''oldlmth.png`);
  });

  it('safeFilename is idempotent and bounded', () => {
    for (const [name, mime] of [
      ['evil.html', 'image/png'],
      ['x'.repeat(500) + '.exe', 'video/mp4'],
      ['😀'.repeat(300), 'image/gif'],
      ['a/b\\..\\c .png . ', 'image/png'],
    ] as const) {
      const once = safeFilename(name, mime);
      expect(safeFilename(once, mime)).toBe(once);
      expect(Array.from(once).length).toBeLessThanOrEqual(200);
    }
  });
});
