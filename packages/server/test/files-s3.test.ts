import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskFileStore, type FileStore } from '../src/files/file-store.ts';
import { S3FileStore, type S3StoreOptions } from '../src/files/s3-store.ts';
import { runClusterCheck } from '../src/cluster-check.ts';
import { filesS3Setting, optionsFromEnv } from '../src/options.ts';
import { mintToken } from './helpers/clients.ts';
import { cleanEnv } from './helpers/hardening.ts';
import { firstRunKeys, killHard, runCli, spawnServer, type ServerProcess } from './helpers/process.ts';
import { apiRequest, startTestServer, type TestServer } from './helpers/server.ts';
import { dropSchema, freshSchema, PG_URL, postgresAvailable } from './helpers/services.ts';
import { closeServer, uploadFile } from './helpers/uploads.ts';

/**
 * Files on S3: the store against a local S3-protocol server (s3rver, on loopback, in a temp
 * dir), the same conformance checks the disk store passes, start-up errors, and two nodes on
 * one database and one bucket, where an upload through one is served by the other.
 */

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
// s3rver ships no types; it is only ever started here.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

const BUCKET = 'pulse-test';
const MEDIA = new URL('./fixtures/media/', import.meta.url).pathname;
const fixture = (name: string) => readFileSync(join(MEDIA, name));

let s3: S3rverInstance;
let s3Dir: string;
let endpoint: string;
const scratch: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};

beforeAll(async () => {
  s3Dir = tempDir('pulse-s3rver-');
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: s3Dir, silent: true, configureBuckets: [{ name: BUCKET }] });
  endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
});
afterAll(async () => {
  await s3?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The environment that points a server at the local bucket (s3rver's fixed credentials). */
const s3Env = (prefix = `run-${randomBytes(4).toString('hex')}/`): NodeJS.ProcessEnv => ({
  PULSE_FILES_S3_BUCKET: BUCKET,
  PULSE_FILES_S3_ENDPOINT: endpoint,
  PULSE_FILES_S3_REGION: 'us-east-1',
  PULSE_FILES_S3_ACCESS_KEY_ID: 'S3RVER',
  PULSE_FILES_S3_SECRET_ACCESS_KEY: 'S3RVER',
  PULSE_FILES_S3_PREFIX: prefix,
});
const s3Options = (env = s3Env()): S3StoreOptions => filesS3Setting(env).filesS3!;

const bytesOf = async (stream: Readable) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** Objects s3rver holds under a key prefix (it keeps each object as a folder of files named `<key>._S3rver_object`). */
function objectsUnder(prefix: string): string[] {
  const root = join(s3Dir, BUCKET);
  if (!existsSync(root)) return [];
  return (readdirSync(root, { recursive: true }) as string[])
    .filter((p) => p.endsWith('._S3rver_object'))
    .map((p) => p.replace(/\._S3rver_object$/, ''))
    .filter((p) => p.startsWith(prefix));
}

const stores: Array<[string, () => Promise<FileStore & { close?(): void }>]> = [
  ['disk', async () => new DiskFileStore(tempDir('pulse-disk-store-'))],
  ['s3', () => S3FileStore.open(s3Options(), join(tempDir('pulse-s3-staging-'), '.staging'))],
];

describe.each(stores)('FileStore conformance: %s', (_name, open) => {
  let store: FileStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(() => store?.close?.());

  const stageBytes = async (data: Buffer) => {
    const staged = await store.stage();
    await new Promise<void>((resolve, reject) => {
      staged.stream.on('error', reject);
      staged.stream.end(data, () => resolve());
    });
    return staged;
  };

  it('puts and reads a small file, whole and by inclusive byte ranges', async () => {
    const data = Buffer.from('0123456789abcdef');
    await store.put('env_a/small', data);
    expect(await store.size('env_a/small')).toBe(16);
    expect((await bytesOf(await store.read('env_a/small'))).toString()).toBe('0123456789abcdef');
    expect((await bytesOf(await store.read('env_a/small', { start: 3, end: 6 }))).toString()).toBe('3456');
    expect((await bytesOf(await store.read('env_a/small', { start: 15, end: 15 }))).toString()).toBe('f');
  });

  it('commits a staged upload larger than several multipart parts, byte for byte, and removes the stage', async () => {
    const data = randomBytes(20 * 1024 * 1024 + 123);
    const staged = await stageBytes(data);
    await store.commit(staged, 'env_a/big');
    expect(existsSync(staged.path)).toBe(false);
    expect(await store.size('env_a/big')).toBe(data.length);
    expect((await bytesOf(await store.read('env_a/big'))).equals(data)).toBe(true);
    const start = 9 * 1024 * 1024 - 5;
    const part = await bytesOf(await store.read('env_a/big', { start, end: start + 99 }));
    expect(part.equals(data.subarray(start, start + 100))).toBe(true);
    expect(await store.cleanStaging(0)).toBe(0);
  });

  it('stores thumbnails under their own key, and deletes each key alone', async () => {
    await store.put('env_a/pic', Buffer.from('picture'));
    await store.put('env_a/pic.thumb', Buffer.from('thumb'));
    await store.delete('env_a/pic');
    expect(await store.size('env_a/pic')).toBeUndefined();
    expect(await store.size('env_a/pic.thumb')).toBe(5);
    await store.delete('env_a/pic.thumb');
    expect(await store.size('env_a/pic.thumb')).toBeUndefined();
  });

  it('reports a missing key as missing, deletes a missing key without error, and refuses keys that are not file keys', async () => {
    expect(await store.size('env_a/never')).toBeUndefined();
    await expect(store.delete('env_a/never')).resolves.toBeUndefined();
    for (const bad of ['../pulse.db', 'env_a/../../x', 'env_a/x.png', '/env_a/x', 'env_a']) {
      await expect(store.put(bad, Buffer.from('x'))).rejects.toThrow(/invalid file key/);
    }
  });

  it('discards a staged upload that is given up, and sweeps abandoned ones', async () => {
    const given = await stageBytes(Buffer.from('abandoned'));
    await given.discard();
    expect(existsSync(given.path)).toBe(false);
    const held = await stageBytes(Buffer.from('in progress'));
    expect(await store.cleanStaging(0)).toBe(0); // an upload in progress here is never swept
    await held.discard();
  });
});

describe('S3 settings', () => {
  it('reads PULSE_FILES_S3_*: path-style on by default with an endpoint, a prefix ends in /', () => {
    expect(filesS3Setting({})).toEqual({});
    expect(filesS3Setting({ PULSE_FILES_S3_BUCKET: 'files' }).filesS3).toEqual({ bucket: 'files', region: 'us-east-1', forcePathStyle: false, prefix: '' });
    expect(filesS3Setting({ ...s3Env('pulse'), PULSE_FILES_S3_ENDPOINT: 'http://minio:9000/' }).filesS3).toEqual({
      bucket: BUCKET,
      endpoint: 'http://minio:9000',
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      forcePathStyle: true,
      prefix: 'pulse/',
    });
    expect(filesS3Setting({ PULSE_FILES_S3_BUCKET: 'files', PULSE_FILES_S3_ENDPOINT: 'https://r2.example', PULSE_FILES_S3_FORCE_PATH_STYLE: 'off' }).filesS3!.forcePathStyle).toBe(false);
  });

  it.each([
    [{ PULSE_FILES_S3_ENDPOINT: 'http://x' }, /PULSE_FILES_S3_ENDPOINT is set but PULSE_FILES_S3_BUCKET is not/],
    [{ PULSE_FILES_S3_BUCKET: 'Bad_Bucket' }, /PULSE_FILES_S3_BUCKET must be a bucket name .*got "Bad_Bucket"/],
    [{ PULSE_FILES_S3_BUCKET: 'files', PULSE_FILES_S3_ENDPOINT: 'minio:9000' }, /PULSE_FILES_S3_ENDPOINT must be an http:\/\/ or https:\/\/ URL, got "minio:9000"/],
    [{ PULSE_FILES_S3_BUCKET: 'files', PULSE_FILES_S3_REGION: 'EU West' }, /PULSE_FILES_S3_REGION must be a region name/],
    [{ PULSE_FILES_S3_BUCKET: 'files', PULSE_FILES_S3_ACCESS_KEY_ID: 'AKIA' }, /go together: set both/],
    [{ PULSE_FILES_S3_BUCKET: 'files', PULSE_FILES_S3_FORCE_PATH_STYLE: 'yes' }, /PULSE_FILES_S3_FORCE_PATH_STYLE must be "on" or "off", got "yes"/],
    [{ PULSE_FILES_S3_BUCKET: 'files', PULSE_FILES_S3_PREFIX: '/abs' }, /PULSE_FILES_S3_PREFIX must be a path/],
  ])('refuses %o with one line naming the setting', (env, message) => {
    expect(() => optionsFromEnv(env)).toThrow(message);
  });

  it('refuses to open a bucket that does not exist, an unreachable server, or wrong credentials, saying which', async () => {
    const staging = join(tempDir('pulse-s3-bad-'), '.staging');
    await expect(S3FileStore.open(s3Options({ ...s3Env(), PULSE_FILES_S3_BUCKET: 'no-such-bucket' }), staging)).rejects.toThrow(
      `Files: the bucket "no-such-bucket" at ${endpoint} is not reachable: the bucket does not exist (create it first)`,
    );
    await expect(S3FileStore.open(s3Options({ ...s3Env(), PULSE_FILES_S3_ENDPOINT: 'http://127.0.0.1:1' }), staging)).rejects.toThrow(
      /^Files: the bucket "pulse-test" at http:\/\/127\.0\.0\.1:1 is not reachable: .*ECONNREFUSED/,
    );
    await expect(S3FileStore.open(s3Options({ ...s3Env(), PULSE_FILES_S3_ACCESS_KEY_ID: 'NOT-A-KEY' }), staging)).rejects.toThrow(
      /is not reachable: access denied \(check PULSE_FILES_S3_ACCESS_KEY_ID and PULSE_FILES_S3_SECRET_ACCESS_KEY\)/,
    );
  });

  it('pulse start exits with one clear line when the bucket is unreachable', async () => {
    const dir = tempDir('pulse-s3-cli-');
    const run = await runCli(['start'], cleanEnv({ PULSE_DATA_DIR: dir, ...s3Env(), PULSE_FILES_S3_BUCKET: 'missing-bucket' }));
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('pulse: Files: the bucket "missing-bucket"');
    expect(run.stderr).not.toContain('Usage:');
  });
});

describe('pulse start --cluster-check', () => {
  const filesLine = async (env: NodeJS.ProcessEnv) => {
    const lines: string[] = [];
    await runClusterCheck(optionsFromEnv(env), (line) => lines.push(line));
    return lines.find((l) => l.includes(' Files '));
  };

  it('checks that the bucket takes writes, and warns when files stay on each node', async () => {
    expect(await filesLine(s3Env('check/'))).toMatch(new RegExp(`✓ Files +bucket "${BUCKET}" at ${endpoint} takes writes, prefix "check/"\\.`));
    expect(await filesLine({ ...s3Env(), PULSE_FILES_S3_BUCKET: 'absent-bucket' })).toMatch(/✗ Files +the bucket "absent-bucket" at .* is not reachable: the bucket does not exist/);
    expect(await filesLine({})).toMatch(/! Files +PULSE_FILES_S3_BUCKET is not set: uploads stay on the disk of the node that received them/);
  });
});

describe('a server with its files on S3', () => {
  let t: TestServer;
  const prefix = `server-${randomBytes(4).toString('hex')}/`;
  beforeAll(async () => {
    t = await startTestServer('sqlite', { filesS3: s3Options(s3Env(prefix)) });
    t.server.attachments.uploadLimiter.burst = 1000;
  });
  afterAll(() => closeServer(t));

  it('keeps the file and its thumbnail in the bucket, serves ranges, and deletes both with the comment', async () => {
    const token = await mintToken(t, 'uploader');
    const photo = await uploadFile(t, token, 'photo.png', fixture('photo.png'));
    expect(photo.status).toBe(200);
    expect(objectsUnder(prefix).sort()).toEqual([`${prefix}${t.envId}/${photo.body.id}`, `${prefix}${t.envId}/${photo.body.id}.thumb`]);
    expect(existsSync(join(t.options.dataDir, 'files', t.envId))).toBe(false); // nothing on local disk
    const thumb = await fetch(photo.body.thumbnailUrl);
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');

    const wav = fixture('tone.wav');
    const audio = (await uploadFile(t, token, 'tone.wav', wav)).body;
    const part = await fetch(audio.url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${wav.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(wav.subarray(100, 200))).toBe(true);
    expect((await fetch(audio.url, { method: 'HEAD' })).headers.get('content-length')).toBe(String(wav.length));
    expect((await fetch(audio.url, { headers: { range: `bytes=${wav.length}-` } })).status).toBe(416);

    const thread = await t.api('POST', '/api/v1/rooms/files/threads', { userId: 'uploader', body: 'both', attachmentIds: [photo.body.id, audio.id] });
    expect(thread.status).toBe(201);
    expect((await t.api('DELETE', `/api/v1/threads/${thread.body.thread.id}`)).status).toBe(200);
    expect((await fetch(photo.body.url)).status).toBe(404);
    expect((await fetch(audio.url)).status).toBe(404);
    expect(objectsUnder(prefix)).toEqual([]);
  });
});

describe('when the bucket fails while the server runs', () => {
  let t: TestServer;
  let own: S3rverInstance;
  const logged: string[] = [];
  beforeAll(async () => {
    // A bucket server of its own, to be stopped under the running Pulse.
    own = new S3rver({ address: '127.0.0.1', port: 0, directory: tempDir('pulse-s3rver-down-'), silent: true, configureBuckets: [{ name: BUCKET }] });
    const port = (await own.run()).port;
    t = await startTestServer('sqlite', { filesS3: s3Options({ ...s3Env(), PULSE_FILES_S3_ENDPOINT: `http://127.0.0.1:${port}` }) });
    (t.server.attachments.files as S3FileStore).log = (_err, what) => logged.push(what);
  });
  afterAll(() => closeServer(t));

  it('answers uploads and downloads 503 service_unavailable with Retry-After, logs why, and keeps nothing staged', async () => {
    const token = await mintToken(t, 'uploader');
    const before = (await uploadFile(t, token, 'tone.ogg', fixture('tone.ogg'))).body;
    await own.close();
    const up = await uploadFile(t, token, 'photo.png', fixture('photo.png'));
    expect(up.status).toBe(503);
    expect(up.body.error.code).toBe('service_unavailable');
    expect(up.body.error.message).toBe('The file storage is not reachable at the moment; try again shortly.');
    expect(up.headers.get('retry-after')).toBe('5');
    const down = await fetch(before.url);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(logged.some((l) => l.startsWith('file storage: storing ') && l.includes(`bucket "${BUCKET}"`))).toBe(true);
    expect(logged.some((l) => l.startsWith('file storage: looking up '))).toBe(true);
    expect(readdirSync(join(t.options.dataDir, 'files', '.staging'))).toEqual([]);
    expect((await t.api('GET', `/api/v1/rooms`)).status).toBe(200); // the rest of Pulse carries on
  });
});

/**
 * Two `pulse start` processes on one PostgreSQL schema and one bucket, each with its own (empty)
 * data dir: files never touch a node's disk. Serving files needs no Redis, and this file must not
 * depend on the Redis that cluster.test.ts restarts, so these nodes run without one.
 */
describe.skipIf(!postgresAvailable)('two nodes sharing one bucket', () => {
  const schema = freshSchema();
  const prefix = `cluster-${randomBytes(4).toString('hex')}/`;
  const nodes: ServerProcess[] = [];
  let keys: { envId: string; publishableKey: string; secretKey: string };
  beforeAll(async () => {
    const env = cleanEnv({
      DATABASE_URL: PG_URL,
      PULSE_DB_SCHEMA: schema,
      PULSE_SECRET: randomBytes(32).toString('hex'),
      PULSE_LOG_LEVEL: 'warn',
      ...s3Env(prefix),
    });
    const dirA = tempDir('pulse-s3-nodeA-');
    nodes.push(await spawnServer({ ...env, PULSE_DATA_DIR: dirA }));
    keys = firstRunKeys(nodes[0]!.output(), dirA);
    nodes.push(await spawnServer({ ...env, PULSE_DATA_DIR: tempDir('pulse-s3-nodeB-') }));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => killHard(n.child)));
    await dropSchema(schema).catch(() => undefined);
  });

  it('serves an upload made through node A from node B, ranges included, and deletes it through B', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const asServer = (url: string) => ({ url, ...keys, api: (m: string, p: string, body?: unknown, key = keys.secretKey) => apiRequest(url, m, p, body, key) }) as unknown as TestServer;
    const token = await mintToken(asServer(a.url), 'ann');
    const clip = fixture('clip.webm');
    const up = await uploadFile(asServer(a.url), token, 'clip.webm', clip);
    expect(up.status).toBe(200);
    expect(up.body.url.startsWith(a.url)).toBe(true);
    const onB = `${b.url}/files/${keys.envId}/${up.body.id}`;

    const whole = await fetch(onB);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/webm');
    expect(Buffer.from(await whole.arrayBuffer()).equals(clip)).toBe(true);
    const seek = await fetch(onB, { headers: { range: 'bytes=1000-' } });
    expect(seek.status).toBe(206);
    expect(seek.headers.get('content-range')).toBe(`bytes 1000-${clip.length - 1}/${clip.length}`);
    expect(Buffer.from(await seek.arrayBuffer()).equals(clip.subarray(1000))).toBe(true);

    const thread = await apiRequest(b.url, 'POST', '/api/v1/rooms/clips/threads', { userId: 'ann', body: 'clip', attachmentIds: [up.body.id] }, keys.secretKey);
    expect(thread.status).toBe(201);
    expect((await apiRequest(b.url, 'DELETE', `/api/v1/threads/${thread.body.thread.id}`, undefined, keys.secretKey)).status).toBe(200);
    expect((await fetch(up.body.url)).status).toBe(404);
    expect(objectsUnder(prefix)).toEqual([]);
  });
});
