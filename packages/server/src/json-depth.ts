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
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i);
      if (i < 0) return true; // an unterminated string: not JSON
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return false;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return true;
}

/** The index of the quote that ends the string opened at `open` (one not escaped), or -1. */
function closingQuote(text: string, open: number): number {
  let end = open;
  for (;;) {
    end = text.indexOf('"', end + 1); // native search: long strings (comment bodies) cost little
    if (end < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
