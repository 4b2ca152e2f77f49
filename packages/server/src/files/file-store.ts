import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Where attachment bytes live. Keys look like `<envId>/<id>` and `<envId>/<id>.thumb`. Writes
 * are atomic: a file is staged and renamed into place only when complete, so a crash never
 * leaves a partial file that could be served.
 */
/** A staged upload untouched this long was abandoned by a crash. */
const STALE_STAGING_MS = 60 * 60 * 1000;

export interface FileStore {
  /** A writable stage for an upload in progress. */
  stage(): Promise<StagedFile>;
  /** Moves a complete staged file to its key. */
  commit(staged: StagedFile, key: string): Promise<void>;
  /** Writes a small buffer atomically. */
  put(key: string, data: Buffer): Promise<void>;
  size(key: string): Promise<number | undefined>;
  read(key: string, range?: { start: number; end: number }): ReadStream;
  delete(key: string): Promise<void>;
}

export interface StagedFile {
  path: string;
  stream: WriteStream;
  discard(): Promise<void>;
}

export class DiskFileStore implements FileStore {
  readonly #root: string;
  readonly #staging: string;

  constructor(root: string) {
    this.#root = root;
    this.#staging = join(root, '.staging');
  }

  #path(key: string): string {
    if (!/^[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+(\.thumb)?$/.test(key)) throw new Error(`invalid file key "${key}"`);
    return join(this.#root, key);
  }

  async stage(): Promise<StagedFile> {
    await mkdir(this.#staging, { recursive: true });
    const path = join(this.#staging, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    return {
      path,
      stream,
      discard: async () => {
        stream.destroy();
        await rm(path, { force: true });
      },
    };
  }

  async commit(staged: StagedFile, key: string): Promise<void> {
    const target = this.#path(key);
    await mkdir(dirname(target), { recursive: true });
    // Flush to disk before the rename makes the file visible.
    const handle = await open(staged.path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(staged.path, target);
  }

  async put(key: string, data: Buffer): Promise<void> {
    const staged = await this.stage();
    await new Promise<void>((resolve, reject) => {
      staged.stream.on('error', reject);
      staged.stream.end(data, () => resolve());
    });
    await this.commit(staged, key);
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(key))).size;
    } catch {
      return undefined;
    }
  }

  read(key: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.#path(key), range ?? {});
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  /**
   * Removes staged files left by a crash. Only old ones: with a shared files volume, another
   * node's upload in progress is also in the staging folder.
   */
  async cleanStaging(olderThanMs = STALE_STAGING_MS): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#staging);
    } catch {
      return;
    }
    const cutoff = Date.now() - olderThanMs;
    for (const name of names) {
      const path = join(this.#staging, name);
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) await rm(path, { force: true });
    }
  }
}
