import { P2P_LIMITS, type P2PEncoding } from '@pulse/protocol/lite';
import { fromBase64, toBase64 } from './base64.ts';
import { P2PError } from './errors.ts';
import { jsonStringBytes } from './frame-pieces.ts';

/** A raw message as it travels: a string and how to read it. */
export interface EncodedRaw {
  encoding: P2PEncoding;
  data: string;
}

/** Strings as they are, bytes as base64 (only when the environment allows binary), anything else as JSON. */
export function encodeRaw(data: unknown, allowBinary: boolean): EncodedRaw {
  let encoded: EncodedRaw;
  if (typeof data === 'string') encoded = { encoding: 'text', data };
  else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
    if (!allowBinary) throw new P2PError('p2p_binary_disabled', 'Binary raw messages are turned off for this environment (allowP2PBinary).');
    encoded = { encoding: 'binary', data: toBase64(data instanceof Uint8Array ? data : new Uint8Array(data)) };
  } else {
    const json = JSON.stringify(data);
    if (json === undefined) throw new TypeError('send: the data cannot be encoded as JSON');
    encoded = { encoding: 'json', data: json };
  }
  // As it travels: a JSON string in a frame, where escapes and UTF-8 make it larger than its characters.
  const size = encoded.data.length > P2P_LIMITS.rawMessageChars ? Infinity : jsonStringBytes(encoded.data);
  if (size > P2P_LIMITS.rawMessageBytes) {
    throw new P2PError('message_too_big', `Raw messages are limited to ${P2P_LIMITS.rawMessageBytes} bytes as sent (the encoded data as a JSON string in UTF-8).`);
  }
  return encoded;
}

/** The message's data as the sender gave it; undefined when it cannot be read. */
export function decodeRaw(raw: EncodedRaw): { data: unknown } | undefined {
  try {
    if (raw.encoding === 'json') return { data: JSON.parse(raw.data) };
    if (raw.encoding === 'binary') return { data: fromBase64(raw.data) };
    return { data: raw.data };
  } catch {
    return undefined;
  }
}
