import { createReadStream } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { RetryLaterError } from '../retry-later.ts';
import { checkKey, LocalStaging, type FileStore, type StagedFile } from './file-store.ts';

/** Where the files of a cluster live: one bucket of S3 or an S3-compatible server (PULSE_FILES_S3_*). */
export interface S3StoreOptions {
  bucket: string;
  /** https://… of an S3-compatible server (MinIO, R2, Ceph, …); unset for AWS S3. */
  endpoint?: string;
  region: string;
  /** Unset: the AWS SDK's own chain (AWS_* variables, shared config, instance or task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`. */
  forcePathStyle: boolean;
  /** Prepended to every object name ("" or ending in "/"), so Pulse can share a bucket. */
  prefix: string;
}

/**
 * Uploads larger than this go up in parts of this size (S3's smallest), two at a time: a file
 * being sent holds a few parts in memory (about 20 MB live at most), whatever its size.
 */
const PART_SIZE = 5 * 1024 * 1024;
const PART_QUEUE = 2;
/** How long the bucket may take to answer the start-up check. */
const CHECK_TIMEOUT_MS = 10_000;
/** The object the start-up check writes and removes. */
const PROBE_KEY = '.pulse-write-check';
/** What a client is told to wait when the bucket fails, in seconds. */
const RETRY_AFTER_S = 5;

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const isMissing = (err: unknown) => status(err) === 404 || ['NotFound', 'NoSuchKey'].includes((err as Error).name);

/**
 * Attachment files in an S3 bucket, so every node of a cluster serves every upload. Uploads are
 * still staged on local disk (the media checks read the whole file and sniff it before anything
 * is kept), then streamed to the bucket in parts; nothing is visible under a key until it is
 * complete, as S3 makes an object appear only when its upload finishes.
 */
export class S3FileStore implements FileStore {
  readonly #client: S3Client;
  readonly #options: S3StoreOptions;
  readonly #staging: LocalStaging;
  /** Where failures of the bucket are reported (the server's log); the client only gets a 503. */
  log: (err: unknown, what: string) => void = () => {};

  constructor(options: S3StoreOptions, stagingDir: string) {
    this.#options = options;
    this.#staging = new LocalStaging(stagingDir);
    // A file being served holds its connection to the bucket for as long as the viewer takes:
    // far more than the SDK's default 50 sockets may be in use at once.
    const agent = { keepAlive: true, maxSockets: 512 };
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      forcePathStyle: options.forcePathStyle,
      // Checksums only where S3 requires them: many S3-compatible servers refuse the newer ones.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5000, httpAgent: new HttpAgent(agent), httpsAgent: new HttpsAgent(agent) },
    });
  }

  /** Opens the store and checks that the bucket exists and takes writes; throws a readable error when not. */
  static async open(options: S3StoreOptions, stagingDir: string): Promise<S3FileStore> {
    const store = new S3FileStore(options, stagingDir);
    try {
      await store.check();
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  get #where(): string {
    const { bucket, endpoint, region } = this.#options;
    return `bucket "${bucket}" at ${endpoint ?? `AWS S3 (${region})`}`;
  }

  /** HEAD of the bucket, then a tiny write and delete: a read-only key is found at start, not at the first upload. */
  async check(): Promise<void> {
    const signal = () => AbortSignal.timeout(CHECK_TIMEOUT_MS);
    const { bucket, prefix } = this.#options;
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal() });
    } catch (err) {
      const code = status(err);
      const reason =
        code === 404
          ? 'the bucket does not exist (create it first)'
          : code === 403
            ? 'access denied (check PULSE_FILES_S3_ACCESS_KEY_ID and PULSE_FILES_S3_SECRET_ACCESS_KEY)'
            : code === 301
              ? 'the bucket is in another region (check PULSE_FILES_S3_REGION)'
              : describe(err);
      throw new Error(`Files: the ${this.#where} is not reachable: ${reason}`);
    }
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + PROBE_KEY, Body: 'ok' }), { abortSignal: signal() });
      await this.#client.send(new DeleteObjectCommand({ Bucket: bucket, Key: prefix + PROBE_KEY }), { abortSignal: signal() });
    } catch (err) {
      throw new Error(`Files: Pulse cannot write to the ${this.#where}: ${describe(err)}`);
    }
  }

  #key(key: string): string {
    return this.#options.prefix + checkKey(key);
  }

  /** A failure of the bucket, logged here, and answered `503 service_unavailable` with Retry-After. */
  #unavailable(err: unknown, what: string): RetryLaterError {
    this.log(err, `file storage: ${what} failed on the ${this.#where}`);
    return new RetryLaterError('service_unavailable', 'The file storage is not reachable at the moment; try again shortly.', RETRY_AFTER_S);
  }

  stage(): Promise<StagedFile> {
    return this.#staging.stage();
  }

  async commit(staged: StagedFile, key: string): Promise<void> {
    try {
      const upload = new Upload({
        client: this.#client,
        params: { Bucket: this.#options.bucket, Key: this.#key(key), Body: createReadStream(staged.path) },
        partSize: PART_SIZE,
        queueSize: PART_QUEUE,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      throw this.#unavailable(err, `storing ${key}`);
    } finally {
      await staged.discard();
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    const name = this.#key(key);
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#options.bucket, Key: name, Body: data }));
    } catch (err) {
      throw this.#unavailable(err, `storing ${key}`);
    }
  }

  async size(key: string): Promise<number | undefined> {
    const name = this.#key(key);
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key: name }));
      return head.ContentLength;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.#unavailable(err, `looking up ${key}`);
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const name = this.#key(key);
    try {
      const object = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#options.bucket, Key: name, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      // In Node the body is the HTTP response itself: streamed through, never buffered.
      return object.Body as Readable;
    } catch (err) {
      throw this.#unavailable(err, `reading ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    const name = this.#key(key);
    try {
      // S3 answers a delete of a missing object with success.
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: name }));
    } catch (err) {
      throw this.#unavailable(err, `deleting ${key}`);
    }
  }

  cleanStaging(olderThanMs?: number): Promise<number> {
    return this.#staging.clean(olderThanMs);
  }

  close(): void {
    this.#client.destroy();
  }
}

/**
 * For `pulse start --cluster-check`: files on S3 are fine once the bucket takes writes; files on
 * a node's own disk are served by that node only.
 */
export async function checkFileStorage(options: S3StoreOptions | undefined): Promise<{ verdict: 'ok' | 'warn' | 'fail'; detail: string }> {
  if (!options) {
    return {
      verdict: 'warn',
      detail: "PULSE_FILES_S3_BUCKET is not set: uploads stay on the disk of the node that received them, and other nodes answer 404 for them. Set it (or mount one shared PULSE_DATA_DIR/files on every node).",
    };
  }
  const store = new S3FileStore(options, '');
  try {
    await store.check();
    return { verdict: 'ok', detail: `bucket "${options.bucket}" at ${options.endpoint ?? `AWS S3 (${options.region})`} takes writes${options.prefix ? `, prefix "${options.prefix}"` : ''}.` };
  } catch (err) {
    return { verdict: 'fail', detail: (err as Error).message.replace(/^Files: /, '') };
  } finally {
    store.close();
  }
}

function describe(err: unknown): string {
  const e = err as Error & { code?: string; cause?: { code?: string } };
  const code = status(err);
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${CHECK_TIMEOUT_MS / 1000} s`;
  const detail = e.code ?? e.cause?.code ?? e.name;
  return `${code ? `HTTP ${code}, ` : ''}${detail && !e.message.includes(detail) ? `${detail}: ` : ''}${e.message || 'no message'}`;
}
