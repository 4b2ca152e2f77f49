import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Where attachment bytes live. Keys look like `<envId>/<id>` and `<envId>/<id>.thumb`. Writes
 * are atomic: a file is staged and renamed into place only when complete, so a crash never
 * leaves a partial file that could be served.
 */

/**
 * A staged file that no upload of this process holds, untouched this long, was abandoned (by a
 * crash, or by another node sharing the files volume). An upload in progress writes to its file
 * as bytes arrive, so only a client silent for this long could lose its file to the sweep.
 */
export const STALE_STAGING_MS = 15 * 60 * 1000;
/** How often the staging folder is swept while the server runs. */
export const STAGING_SWEEP_MS = 5 * 60 * 1000;

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
  /** Removes abandoned staged files (see DiskFileStore.cleanStaging); resolves to how many. */
  cleanStaging(olderThanMs?: number): Promise<number>;
}

export interface StagedFile {
  path: string;
  stream: WriteStream;
  discard(): Promise<void>;
}

export class DiskFileStore implements FileStore {
  readonly #root: string;
  readonly #staging: string;
  /** Prefix of this process's staged files, so it can tell its own from other nodes'. */
  readonly #tag = randomBytes(6).toString('hex');
  /** Staged files of uploads in progress here: never swept. */
  readonly #live = new Set<string>();

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
    const path = join(this.#staging, `${this.#tag}-${Date.now()}-${randomBytes(8).toString('hex')}`);
    this.#live.add(path);
    const stream = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    return {
      path,
      stream,
      discard: async () => {
        stream.destroy();
        try {
          await rm(path, { force: true });
        } finally {
          this.#live.delete(path);
        }
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
    this.#live.delete(staged.path);
  }

  async put(key: string, data: Buffer): Promise<void> {
    const staged = await this.stage();
    try {
      await new Promise<void>((resolve, reject) => {
        staged.stream.on('error', reject);
        staged.stream.end(data, () => resolve());
      });
      await this.commit(staged, key);
    } catch (err) {
      await staged.discard();
      throw err;
    }
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
   * Removes abandoned staged files, never one an upload of this process is writing. A file this
   * process staged and no longer holds goes at once; any other (from before a restart, or from
   * another node on a shared files volume, whose upload may still be in progress) only once
   * untouched for `olderThanMs`.
   */
  async cleanStaging(olderThanMs = STALE_STAGING_MS): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.#staging);
    } catch {
      return 0;
    }
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of names) {
      const path = join(this.#staging, name);
      if (this.#live.has(path)) continue;
      if (!name.startsWith(`${this.#tag}-`)) {
        const info = await stat(path).catch(() => undefined);
        if (!info || info.mtimeMs >= cutoff) continue;
      }
      // Checked again: an upload may have staged or committed it meanwhile.
      if (this.#live.has(path)) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }
}
