import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ATTACHMENT_FLAGS, LIMITS, PulseError, UNATTACHED_UPLOAD_TTL_MS, type Attachment, type EnvConfig } from '@pulse/protocol';
import type { FileStore } from '../files/file-store.ts';
import { safeFilename } from '../files/filename.ts';
import { inspectMedia } from '../files/media.ts';
import { mediaQueue, type MediaQueue } from '../files/media-queue.ts';
import { UPLOAD_BURST, UPLOADS_PER_MINUTE, UserRateLimiter } from '../user-rate-limiter.ts';
import { nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { AttachmentRecord } from '../store/types.ts';

/** Attachment ids carry 128 random bits: knowing one is the capability to read the file. */
export const newAttachmentId = () => randomBytes(16).toString('hex');

export const fileKey = (envId: string, id: string) => `${envId}/${id}`;
export const thumbnailKey = (envId: string, id: string) => `${envId}/${id}.thumb`;

const publicShape = ({ userId: _u, commentId: _c, createdAt: _t, ...a }: AttachmentRecord): Attachment => a;

/** Uploads, their checks against the environment's media limits, and the life of their files. */
export class AttachmentService {
  readonly #store: Store;
  readonly #files: FileStore;
  /** Where uploads wait for their media check (shared by the whole process by default). */
  readonly mediaQueue: MediaQueue;
  /** Each user's allowance of uploads. */
  readonly uploadLimiter: UserRateLimiter;
  /** Uploads under way per environment and user (see reservePendingRoom). */
  readonly #uploading = new Map<string, number>();

  constructor(store: Store, files: FileStore, options: { mediaQueue?: MediaQueue; uploadLimiter?: UserRateLimiter } = {}) {
    this.#store = store;
    this.#files = files;
    this.mediaQueue = options.mediaQueue ?? mediaQueue;
    this.uploadLimiter = options.uploadLimiter ?? new UserRateLimiter('uploads', UPLOAD_BURST, UPLOADS_PER_MINUTE);
  }

  get files(): FileStore {
    return this.#files;
  }

  /**
   * Makes room for one more upload of the user, or refuses it (before any of its body is read)
   * while they have too many not attached to a comment: LIMITS.pendingUploadsPerUser files or
   * pendingUploadBytesPerUser bytes, or twice what one comment may hold where the environment
   * allows more. Uploads under way count. Returns the release, for when the upload is over.
   */
  async reservePendingRoom(envId: string, userId: string, config: EnvConfig): Promise<() => void> {
    const key = `${envId}\u0000${userId}`;
    const uploading = (this.#uploading.get(key) ?? 0) + 1;
    this.#uploading.set(key, uploading);
    const release = () => {
      const left = (this.#uploading.get(key) ?? 1) - 1;
      if (left > 0) this.#uploading.set(key, left);
      else this.#uploading.delete(key);
    };
    try {
      const maxCount = Math.max(LIMITS.pendingUploadsPerUser, 2 * config.maxAttachmentsPerComment);
      const maxBytes = Math.max(LIMITS.pendingUploadBytesPerUser, 2 * config.maxAttachmentsPerComment * config.maxFileSizeMb * 1024 * 1024);
      const { count, bytes } = await this.#store.pendingUploads(envId, userId);
      // This upload is among those under way.
      if (count + uploading <= maxCount && bytes < maxBytes) return release;
      throw new PulseError(
        'too_many_pending_uploads',
        `You have ${count + uploading - 1} uploads (${Math.ceil(bytes / 1024 / 1024)} MB) not attached to any comment; at most ${maxCount} or ${Math.round(maxBytes / 1024 / 1024)} MB may wait. Attach or delete (DELETE /api/v1/upload/{id}) some first; unattached uploads are deleted ${UNATTACHED_UPLOAD_TTL_MS / 3_600_000} hours after they were made.`,
      );
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Streams an upload to a staged file, never more than the environment's limit; sniffs and
   * checks it; writes the file, its thumbnail and its record. Nothing is kept on failure, nor
   * when `signal` aborts (the client went away): the staged file is deleted at once.
   */
  async upload(envId: string, userId: string, config: EnvConfig, file: Readable, filename: string, signal?: AbortSignal): Promise<Attachment> {
    const limitBytes = config.maxFileSizeMb * 1024 * 1024;
    const staged = await this.#files.stage();
    let size = 0;
    let tooLarge = false;
    try {
      // At the limit, stop at once: the rest of the body is never read.
      file.on('limit', () => {
        tooLarge = true;
        staged.stream.destroy(new PulseError('file_too_large', `Files are limited to ${config.maxFileSizeMb} MB in this environment.`));
      });
      file.on('data', (chunk: Buffer) => (size += chunk.length));
      await pipeline(file, staged.stream, signal ? { signal } : {}).catch((err) => {
        if (tooLarge) throw new PulseError('file_too_large', `Files are limited to ${config.maxFileSizeMb} MB in this environment.`);
        throw err;
      });
      if (tooLarge || size > limitBytes) throw new PulseError('file_too_large', `Files are limited to ${config.maxFileSizeMb} MB in this environment.`);
      if (size === 0) throw new PulseError('no_file', 'The file is empty.');
      // Decoding is the expensive part: it waits for a turn, so it never starves file serving.
      const media = await this.mediaQueue.run(() => inspectMedia(staged.path), signal, `${envId}\u0000${userId}`);
      // Nobody is waiting for the answer any more: keep nothing.
      signal?.throwIfAborted();
      const flag = ATTACHMENT_FLAGS[media.type];
      if (!config[flag.flag]) throw new PulseError(flag.error);
      const id = newAttachmentId();
      const thumbnail = media.thumbnail;
      await this.#files.commit(staged, fileKey(envId, id));
      if (thumbnail) await this.#files.put(thumbnailKey(envId, id), thumbnail);
      const record = await this.#store.createAttachment(envId, {
        id,
        userId,
        type: media.type,
        filename: safeFilename(filename, media.mimeType),
        mimeType: media.mimeType,
        sizeBytes: size,
        ...(media.width ? { width: media.width } : {}),
        ...(media.height ? { height: media.height } : {}),
        ...(media.durationMs !== undefined ? { durationMs: media.durationMs } : {}),
        hasThumbnail: Boolean(thumbnail),
        createdAt: nowIso(),
      });
      return publicShape(record);
    } catch (err) {
      await staged.discard();
      throw err;
    }
  }

  /**
   * Checks the attachments a comment is about to get: each exists in the environment, is the
   * author's own upload (unless `ownerId` is null: the backend may attach any), and is not
   * attached to another comment; and there are not more than the environment allows.
   */
  async validate(envId: string, ids: string[] | undefined, ownerId: string | null, config: EnvConfig, commentId?: string): Promise<string[]> {
    const unique = [...new Set(ids ?? [])];
    if (unique.length > config.maxAttachmentsPerComment) {
      throw new PulseError('too_many_attachments', `attachmentIds: at most ${config.maxAttachmentsPerComment} attachments per comment in this environment.`);
    }
    for (const id of unique) {
      const a = await this.#store.getAttachment(envId, id);
      if (!a) throw new PulseError('attachment_not_found', `attachmentIds: no attachment "${id}".`);
      if (ownerId !== null && a.userId !== ownerId) throw new PulseError('forbidden', `attachmentIds: "${id}" was uploaded by someone else.`);
      if (a.commentId !== null && a.commentId !== commentId) throw new PulseError('attachment_in_use', `attachmentIds: "${id}" is already attached to another comment.`);
    }
    return unique;
  }

  /**
   * Deletes one of the user's own uploads that is not attached to a comment (a file picked, then
   * removed from the composer), so that it stops counting towards their pending uploads.
   */
  async deleteUnattached(envId: string, userId: string, id: string): Promise<void> {
    if (await this.#store.deleteUnattachedUpload(envId, userId, id)) return this.deleteFiles(envId, [id]);
    const a = await this.#store.getAttachment(envId, id);
    if (!a) throw new PulseError('attachment_not_found', `No upload "${id}".`);
    if (a.userId !== userId) throw new PulseError('forbidden', `The upload "${id}" was made by someone else.`);
    throw new PulseError('attachment_in_use', `The upload "${id}" is attached to a comment: delete it with the comment (or edit the comment's attachments).`);
  }

  /** Deletes the files of attachments whose records are gone. */
  async deleteFiles(envId: string, ids: string[] | undefined): Promise<void> {
    for (const id of ids ?? []) {
      await this.#files.delete(fileKey(envId, id));
      await this.#files.delete(thumbnailKey(envId, id));
    }
  }

  /** Removes uploads never attached within UNATTACHED_UPLOAD_TTL_MS. */
  async sweep(now = Date.now()): Promise<number> {
    const before = new Date(now - UNATTACHED_UPLOAD_TTL_MS).toISOString();
    let removed = 0;
    for (;;) {
      const stale = await this.#store.staleAttachments(before, 200);
      if (stale.length === 0) return removed;
      for (const { envId, id } of stale) {
        await this.#store.deleteAttachments(envId, [id]);
        await this.deleteFiles(envId, [id]);
        removed++;
      }
    }
  }
}
