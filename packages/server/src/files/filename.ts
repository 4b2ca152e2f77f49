import { trimEndOf } from '@pulse/protocol';

/**
 * File names of uploads: kept for display and downloads, but never able to mislead. The
 * extension always matches the type the content was detected as, and characters that change
 * how a name is displayed (bidi overrides, zero-width and other format characters) or that
 * are control characters are removed.
 */

/** Extensions of each supported type; the first is the one given to a name that lacks one. */
const EXTENSIONS: Record<string, readonly string[]> = {
  'image/jpeg': ['jpg', 'jpeg', 'jpe', 'jfif'],
  'image/png': ['png'],
  'image/gif': ['gif'],
  'image/webp': ['webp'],
  'audio/webm': ['webm', 'weba'],
  'audio/ogg': ['ogg', 'oga', 'opus'],
  'audio/mp4': ['m4a', 'mp4'],
  'audio/mpeg': ['mp3', 'mpga'],
  'audio/wav': ['wav', 'wave'],
  'video/webm': ['webm'],
  'video/mp4': ['mp4', 'm4v'],
};

export const MAX_FILENAME_CHARS = 200;

/** Control (Cc), format (Cf: U+202E, U+200B, U+FEFF…), lone surrogates (Cs), line/paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;
/** Characters that are unsafe in file names on common systems. */
const RESERVED = /["<>|*?:]/g;
/** What a trailing `.xyz` must look like to count as an extension (and so be replaced). */
const EXTENSION_LIKE = /^(?=.*[A-Za-z])[A-Za-z0-9]{1,5}$/;

/** The extension a file of this detected MIME type is named with. */
export function extensionFor(mimeType: string): string {
  return EXTENSIONS[mimeType]?.[0] ?? ((mimeType.split('/')[1] ?? '').replace(/[^a-z0-9]/gi, '') || 'bin');
}

/**
 * Cleans an uploaded file's name: last path segment only; invisible and control characters
 * removed; `" < > | * ? :` replaced by `_`; leading dots and trailing dots and spaces dropped;
 * the extension made to match `mimeType` (a wrong one is replaced, a missing one appended);
 * at most MAX_FILENAME_CHARS characters. Idempotent, so names stored before these rules can
 * be cleaned again when served.
 */
export function safeFilename(name: string, mimeType: string): string {
  const trimmed = (name.normalize('NFC').replace(INVISIBLE, '').split(/[\\/]/).pop() ?? '')
    .replace(RESERVED, '_')
    .trim()
    .replace(/^\.+/, '');
  const segment = trimEndOf(trimmed, '. ');
  const known = EXTENSIONS[mimeType] ?? [];
  const dot = segment.lastIndexOf('.');
  const ext = dot > 0 ? segment.slice(dot + 1) : '';
  let stem = segment;
  let finalExt = extensionFor(mimeType);
  if (ext && known.includes(ext.toLowerCase())) {
    stem = segment.slice(0, dot);
    finalExt = ext;
  } else if (EXTENSION_LIKE.test(ext)) {
    stem = segment.slice(0, dot);
  }
  stem = trimEndOf(stem, '. ');
  if (!stem) stem = 'attachment';
  // Cut by code points, never inside a surrogate pair, keeping room for the extension.
  const room = MAX_FILENAME_CHARS - finalExt.length - 1;
  const chars = Array.from(stem);
  if (chars.length > room) stem = trimEndOf(chars.slice(0, room).join(''), '. ') || 'attachment';
  return `${stem}.${finalExt}`;
}
