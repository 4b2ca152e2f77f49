import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';

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
  /** A writable stage for an upload in progress (always a local file: the media checks read it). */
  stage(): Promise<StagedFile>;
  /** Moves a complete staged file to its key (the stage is gone afterwards, whether this succeeds or not). */
  commit(staged: StagedFile, key: string): Promise<void>;
  /** Writes a small buffer atomically. */
  put(key: string, data: Buffer): Promise<void>;
  /** The stored size in bytes, or undefined when there is no such file. */
  size(key: string): Promise<number | undefined>;
  /** The bytes of a file, or of an inclusive byte range of it. */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Removes a file; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Removes abandoned staged files (see LocalStaging.clean); resolves to how many. */
  cleanStaging(olderThanMs?: number): Promise<number>;
  /** Releases connections (object storage); the disk store has none. */
  close?(): void;
}

export interface StagedFile {
  path: string;
  stream: WriteStream;
  discard(): Promise<void>;
}

/** File keys: `<envId>/<id>` or `<envId>/<id>.thumb`; anything else is refused before it reaches a path or an object name. */
export function checkKey(key: string): string {
  if (!/^[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+(\.thumb)?$/.test(key)) throw new Error(`invalid file key "${key}"`);
  return key;
}

/**
 * Local files for uploads in progress, in `<dir>`: written as bytes arrive, checked, then
 * committed by a FileStore (renamed into place on disk, or sent to object storage).
 */
export class LocalStaging {
  readonly dir: string;
  /** Prefix of this process's staged files, so it can tell its own from other nodes'. */
  readonly #tag = randomBytes(6).toString('hex');
  /** Staged files of uploads in progress here: never swept. */
  readonly #live = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  async stage(): Promise<StagedFile> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${this.#tag}-${Date.now()}-${randomBytes(8).toString('hex')}`);
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

  /** The staged file no longer belongs to an upload in progress (it was renamed away or removed). */
  release(staged: StagedFile): void {
    this.#live.delete(staged.path);
  }

  /**
   * Removes abandoned staged files, never one an upload of this process is writing. A file this
   * process staged and no longer holds goes at once; any other (from before a restart, or from
   * another node on a shared files volume, whose upload may still be in progress) only once
   * untouched for `olderThanMs`.
   */
  async clean(olderThanMs = STALE_STAGING_MS): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of names) {
      const path = join(this.dir, name);
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

/** Writes a buffer to a new staged file. */
export async function stageBuffer(staging: LocalStaging, data: Buffer): Promise<StagedFile> {
  const staged = await staging.stage();
  try {
    await new Promise<void>((resolve, reject) => {
      staged.stream.on('error', reject);
      staged.stream.end(data, () => resolve());
    });
    return staged;
  } catch (err) {
    await staged.discard();
    throw err;
  }
}

/** Files under one local directory (the default: `<dataDir>/files`). */
export class DiskFileStore implements FileStore {
  readonly #root: string;
  readonly #staging: LocalStaging;

  constructor(root: string) {
    this.#root = root;
    this.#staging = new LocalStaging(join(root, '.staging'));
  }

  #path(key: string): string {
    return join(this.#root, checkKey(key));
  }

  stage(): Promise<StagedFile> {
    return this.#staging.stage();
  }

  async commit(staged: StagedFile, key: string): Promise<void> {
    try {
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
      this.#staging.release(staged);
    } catch (err) {
      await staged.discard();
      throw err;
    }
  }

  async put(key: string, data: Buffer): Promise<void> {
    await this.commit(await stageBuffer(this.#staging, data), key);
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.#path(key))).size;
    } catch {
      return undefined;
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return createReadStream(this.#path(key), range ?? {});
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  cleanStaging(olderThanMs?: number): Promise<number> {
    return this.#staging.clean(olderThanMs);
  }
}
