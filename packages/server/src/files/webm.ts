import { readFile } from 'node:fs/promises';
import * as tsEbml from 'ts-ebml';

const EBML = ((tsEbml as unknown as { default?: typeof tsEbml }).default ?? tsEbml) as typeof tsEbml;

/** Matroska TrackType values. */
const TRACK_VIDEO = 1;
const TRACK_AUDIO = 2;
/** Recordings are small; never decode more than this into memory. */
const MAX_WEBM_BYTES = 128 * 1024 * 1024;

export interface WebmInfo {
  hasVideo: boolean;
  hasAudio: boolean;
  durationMs?: number;
}

/**
 * Reads a WebM the way browsers' MediaRecorder writes it: a live stream with "unknown size"
 * segments and no duration in its header, which general parsers refuse. ts-ebml walks the
 * elements and the block timecodes to find the tracks and the duration.
 */
export async function inspectRecordedWebm(path: string): Promise<WebmInfo | undefined> {
  const bytes = await readFile(path);
  if (bytes.length > MAX_WEBM_BYTES) return undefined;
  // ts-ebml reports harmless oddities of live recordings with console.warn; keep the server log clean.
  const warn = console.warn;
  console.warn = () => {};
  try {
    const elements = new EBML.Decoder().decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    const reader = new EBML.Reader();
    reader.logging = false;
    for (const element of elements) reader.read(element);
    reader.stop();
    const types = elements.filter((e) => e.name === 'TrackType').map((e) => Number((e as { value?: unknown }).value));
    if (types.length === 0) return undefined;
    const durationMs = reader.duration > 0 ? Math.round((reader.duration * reader.timestampScale) / 1e6) : undefined;
    return { hasVideo: types.includes(TRACK_VIDEO), hasAudio: types.includes(TRACK_AUDIO), ...(durationMs ? { durationMs } : {}) };
  } catch {
    return undefined;
  } finally {
    console.warn = warn;
  }
}
