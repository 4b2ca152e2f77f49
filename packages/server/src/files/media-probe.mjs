// Audio and video probing, in a worker thread of its own (see probeAudioVideo in media.ts): the
// parsers can take seconds on a small crafted file (tiny elements by the million), synchronously
// or in long promise chains, and only terminating their thread stops them. Plain JavaScript so
// that it runs as it is from the sources and from dist/.
import { parentPort } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import { parseFile } from 'music-metadata';
import * as tsEbml from 'ts-ebml';

const EBML = tsEbml.default ?? tsEbml;
/** Matroska TrackType values. */
const TRACK_VIDEO = 1;
const TRACK_AUDIO = 2;

/**
 * A WebM the way browsers' MediaRecorder writes it: a live stream with "unknown size" segments
 * and no duration in its header, which general parsers refuse. ts-ebml walks the elements and the
 * block timecodes to find the tracks and the duration.
 */
async function recordedWebm(path) {
  const bytes = await readFile(path);
  // ts-ebml reports harmless oddities of live recordings with console.warn.
  console.warn = () => {};
  try {
    const elements = new EBML.Decoder().decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const reader = new EBML.Reader();
    reader.logging = false;
    for (const element of elements) reader.read(element);
    reader.stop();
    const types = elements.filter((e) => e.name === 'TrackType').map((e) => Number(e.value));
    if (types.length === 0) return null;
    const durationMs = reader.duration > 0 ? Math.round((reader.duration * reader.timestampScale) / 1e6) : undefined;
    return { hasVideo: types.includes(TRACK_VIDEO), hasAudio: types.includes(TRACK_AUDIO), ...(durationMs ? { duration: durationMs / 1000 } : {}) };
  } catch {
    return null;
  }
}

async function probe({ path, webm }) {
  try {
    const { format } = await parseFile(path, { duration: true, skipCovers: true });
    return { hasVideo: format.hasVideo, hasAudio: format.hasAudio, duration: format.duration };
  } catch {
    return webm ? await recordedWebm(path) : null;
  }
}

// One job at a time: the pool sends the next once this one is answered.
parentPort.on('message', (job) => {
  void probe(job).then((format) => parentPort.postMessage(format));
});
