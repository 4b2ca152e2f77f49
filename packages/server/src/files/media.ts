import { fileTypeFromFile } from 'file-type';
import { parseFile } from 'music-metadata';
import sharp from 'sharp';
import { inspectRecordedWebm } from './webm.ts';
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
export async function inspectMedia(path: string): Promise<MediaInfo> {
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
    let format: { hasVideo?: boolean; hasAudio?: boolean; duration?: number };
    try {
      format = (await parseFile(path, { duration: true, skipCovers: true })).format;
    } catch {
      // Browser recordings (MediaRecorder) are WebM streams that general parsers refuse.
      const webm = container === 'webm' ? await inspectRecordedWebm(path) : undefined;
      if (!webm) throw unsupported(`The file looks like ${mime} but is not readable media.`);
      format = { hasVideo: webm.hasVideo, hasAudio: webm.hasAudio, ...(webm.durationMs ? { duration: webm.durationMs / 1000 } : {}) };
    }
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
