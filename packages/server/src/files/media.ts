import { Worker } from 'node:worker_threads';
import { fileTypeFromFile } from 'file-type';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS, PulseError, SUPPORTED_MIME_TYPES, THUMBNAIL_SIZE_PX, type AttachmentType } from '@pulse/protocol';

export interface MediaInfo {
  type: AttachmentType;
  mimeType: string;
  width?: number;
  height?: number;
  durationMs?: number;
  /** Images only: a square JPEG thumbnail (making it proves the image decodes). */
  thumbnail?: Buffer;
}

// One libvips thread per image: at most MEDIA_CONCURRENCY images are processed at once (see
// media-queue.ts), so more threads would only contend for the cores with the rest of the server.
// Nothing is processed twice, so libvips' operation cache would only hold memory.
sharp.concurrency(1);
sharp.cache(false);

const unsupported = (detail: string) => new PulseError('unsupported_file_type', `${detail} Supported: ${Object.values(SUPPORTED_MIME_TYPES).flat().join(', ')}.`);

/** Sniffed MIME types that are spellings of a supported one. */
const ALIASES: Record<string, string> = {
  'audio/x-m4a': 'audio/mp4',
  'audio/x-wav': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
};

/**
 * Decides what a file is from its bytes alone (never its name or declared type), and reads its
 * dimensions or duration with the decoders; a file they cannot read is refused.
 */
export async function inspectMedia(path: string, deadlineMs = MEDIA_PROBE_DEADLINE_MS): Promise<MediaInfo> {
  const sniffed = await fileTypeFromFile(path);
  if (!sniffed) throw unsupported('The file type could not be recognised.');
  const mime = ALIASES[sniffed.mime] ?? sniffed.mime;

  if (SUPPORTED_MIME_TYPES.image.includes(mime)) {
    const unreadable = () => unsupported(`The file looks like ${mime} but is not a readable image.`);
    // The header alone: cheap, whatever the size the image claims.
    const meta = await sharp(path, { limitInputPixels: false, animated: mime === 'image/gif' || mime === 'image/webp' })
      .metadata()
      .catch(() => {
        throw unreadable();
      });
    if (!meta.width || !meta.height) throw unreadable();
    const width = meta.width;
    const height = meta.pageHeight ?? meta.height;
    // A small file can decode to gigabytes (a "decompression bomb"): refuse before decoding.
    if (width * height > MAX_IMAGE_PIXELS) {
      throw new PulseError('file_too_large', `Images are limited to ${MAX_IMAGE_PIXELS / 1_000_000} megapixels; this one is ${width} × ${height} (${Math.round((width * height) / 1_000_000)} megapixels).`);
    }
    const thumbnail = await makeThumbnail(path).catch(() => {
      throw unreadable();
    });
    return { type: 'image', mimeType: mime, width, height, thumbnail };
  }

  // Containers that hold either sound or pictures are told apart by their tracks.
  const container = mime === 'video/webm' || mime === 'audio/webm' ? 'webm' : mime === 'video/mp4' || mime === 'audio/mp4' ? 'mp4' : null;
  if (container || SUPPORTED_MIME_TYPES.audio.includes(mime)) {
    const format = await probeAudioVideo(path, container === 'webm', deadlineMs);
    if (format === 'late') throw unsupported(`The file looks like ${mime} but could not be read within ${deadlineMs / 1000} s.`);
    if (!format) throw unsupported(`The file looks like ${mime} but is not readable media.`);
    const { hasVideo, hasAudio, duration } = format;
    let type: AttachmentType;
    let mimeType = mime;
    if (container) {
      type = hasVideo ? 'video' : 'audio';
      mimeType = `${type}/${container}`;
    } else {
      if (hasVideo) throw unsupported(`${mime} with a video track is not supported.`);
      type = 'audio';
    }
    if (type === 'audio' && hasAudio === false) throw unsupported('The file has no audio track.');
    if (!SUPPORTED_MIME_TYPES[type].includes(mimeType)) throw unsupported(`${mimeType} is not supported.`);
    return { type, mimeType, ...(duration !== undefined && Number.isFinite(duration) ? { durationMs: Math.round(duration * 1000) } : {}) };
  }

  throw unsupported(`${mime} is not supported.`);
}

/** How long reading an audio or video file's tracks and duration may take (real files: milliseconds). */
export const MEDIA_PROBE_DEADLINE_MS = 10_000;

interface AvFormat {
  hasVideo?: boolean;
  hasAudio?: boolean;
  duration?: number;
}

/** Probe workers waiting for a job (at most MEDIA_CONCURRENCY are busy at once: see media-queue.ts). */
const idleProbes = new Set<Worker>();
/** A crafted file may also make the parsers allocate: a worker past this heap dies, not the server. */
const PROBE_HEAP_MB = 256;

function newProbe(): Worker {
  const worker = new Worker(new URL('./media-probe.mjs', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: PROBE_HEAP_MB } });
  // Whatever happens to it while idle (an error, its exit) it leaves the pool, and never crashes the process.
  worker.on('error', () => idleProbes.delete(worker));
  worker.on('exit', () => idleProbes.delete(worker));
  return worker;
}

/**
 * The tracks and duration of an audio or video file (`webm`: also as a MediaRecorder stream,
 * which general parsers refuse), read in a worker thread that is terminated at `deadlineMs`
 * ('late'): a crafted file can keep the parsers busy for minutes, and in this thread it would
 * stall every request. null: not readable media. Workers are kept for the next file (starting one
 * and loading the parsers takes a quarter of a second).
 */
async function probeAudioVideo(path: string, webm: boolean, deadlineMs: number): Promise<AvFormat | null | 'late'> {
  const [idle] = idleProbes;
  if (idle) idleProbes.delete(idle);
  const worker = idle ?? newProbe();
  worker.ref();
  let timer: NodeJS.Timeout | undefined;
  let crashed = false;
  let reusable = false;
  const listeners: (() => void)[] = [];
  try {
    const answer = await new Promise<AvFormat | null | 'late'>((resolve) => {
      const on = <A extends unknown[]>(event: 'message' | 'error' | 'exit', fn: (...args: A) => void) => {
        worker.on(event, fn as never);
        listeners.push(() => worker.off(event, fn as never));
      };
      timer = setTimeout(() => resolve('late'), deadlineMs);
      on('message', (format: AvFormat | null) => resolve(format));
      // Out of memory, or any crash of the parsers: the file is what made them fail.
      const crash = () => {
        crashed = true;
        resolve(null);
      };
      on('error', crash);
      on('exit', crash);
      worker.postMessage({ path, webm });
    });
    reusable = answer !== 'late' && !crashed;
    return answer;
  } finally {
    clearTimeout(timer);
    for (const off of listeners) off();
    if (reusable) {
      worker.unref();
      idleProbes.add(worker);
    } else {
      await worker.terminate();
    }
  }
}

/**
 * A square JPEG thumbnail, cropped to fill; decoding the whole image (of an animation, the first
 * frame), it fails on a broken one.
 */
async function makeThumbnail(path: string): Promise<Buffer> {
  return sharp(path, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'truncated' })
    .rotate()
    .resize(THUMBNAIL_SIZE_PX, THUMBNAIL_SIZE_PX, { fit: 'cover' })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 80, mozjpeg: true })
    .toBuffer();
}
