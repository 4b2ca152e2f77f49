import type { AttachmentType } from './models.ts';

/** The MIME types Pulse accepts for attachments, by attachment type. Decided by content, never by name. */
export const SUPPORTED_MIME_TYPES: Record<AttachmentType, readonly string[]> = {
  image: ['image/jpeg', 'image/png', 'image/gif', 'image/webp'],
  audio: ['audio/webm', 'audio/ogg', 'audio/mp4', 'audio/mpeg', 'audio/wav'],
  video: ['video/webm', 'video/mp4'],
};

/** The config flag that turns each attachment type on or off, and the error when it is off. */
export const ATTACHMENT_FLAGS = {
  image: { flag: 'allowImages', error: 'images_disabled' },
  audio: { flag: 'allowAudio', error: 'audio_disabled' },
  video: { flag: 'allowVideo', error: 'video_disabled' },
} as const;

/** Thumbnails are square JPEGs of this size. */
export const THUMBNAIL_SIZE_PX = 200;
/**
 * Images larger than this many pixels (of one frame) are refused with `file_too_large`, before
 * they are decoded: a small file can decode to gigabytes (decompression bombs). 40 megapixels
 * holds phone photos, 8K frames (33 MP) and full-page screenshots.
 */
export const MAX_IMAGE_PIXELS = 40_000_000;
