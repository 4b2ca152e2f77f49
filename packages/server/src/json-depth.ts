/**
 * Whether JSON text nests arrays and objects at most `max` levels deep (brackets inside strings do
 * not count). One pass, no allocation: cheap next to parsing text that turns out deep, which V8
 * does about 100 times slower than flat text. Text that is not JSON passes or not; parsing it
 * fails either way.
 */
export function nestsAtMost(text: string, max: number): boolean {
  // Short text is cheap to parse however it nests.
  if (text.length <= 2 * max + 1) return true;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return false;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return true;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
