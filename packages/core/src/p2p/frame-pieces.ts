const encoder = new TextEncoder();

export const utf8Bytes = (text: string): number => encoder.encode(text).length;

/** The UTF-8 size of `text` once written as a JSON string (escapes included), as it travels in a frame. */
export const jsonStringBytes = (text: string): number => utf8Bytes(JSON.stringify(text));

/**
 * Splits `text` into pieces of at most `maxChars` characters whose JSON string form is at most
 * `maxBytes` bytes: a `p2p:chunk` carries its piece as a JSON string, where quotes and control
 * characters grow by escaping and non-ASCII text by UTF-8, so characters alone do not bound a frame.
 */
export function splitForFrames(text: string, maxChars: number, maxBytes: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let length = Math.min(maxChars, text.length - start);
    for (;;) {
      const bytes = jsonStringBytes(text.slice(start, start + length));
      if (bytes <= maxBytes || length === 1) break; // one character always goes (a budget that small is not ours)
      // Shrink in proportion (each escaped character is at most 6 bytes, so this converges fast).
      length = Math.max(1, Math.min(length - 1, Math.floor((length * maxBytes) / bytes)));
    }
    pieces.push(text.slice(start, start + length));
    start += length;
  }
  return pieces;
}
