/** Display helpers shared by the widget and the admin panel (no DOM, no zod). */

/**
 * A span of `seconds` for people: "5 min", "3 h", "2 days"; undefined under 45 s ("now") and from
 * 30 days on (then a date reads better).
 */
function spanWords(seconds: number): string | undefined {
  if (seconds < 45) return undefined;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} day${d === 1 ? '' : 's'}`;
  return undefined;
}

const dateOf = (iso: string) => new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' });

/**
 * How long ago an ISO time was, for people: "just now", "5 min ago", "3 h ago", "2 days ago",
 * then the date in the reader's locale (after 30 days). A time in the future reads "just now".
 */
export function relativeTime(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return 'just now';
  const words = spanWords(s);
  return words ? `${words} ago` : dateOf(iso);
}

/** How long until an ISO time, for people: "in a moment", "in 30 s", "in 5 min", "in 3 h", "in 2 days", then the date. */
export function timeUntil(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  if (s < 5) return 'in a moment';
  if (s < 45) return `in ${s} s`;
  const words = spanWords(s);
  return words ? `in ${words}` : dateOf(iso);
}

/**
 * Characters that show nothing: soft hyphen, combining grapheme joiner, Hangul fillers, Mongolian
 * vowel separator, zero-width spaces and joiners, direction marks and embeddings, word joiner and
 * other invisible operators, variation selectors, BOM.
 */
const INVISIBLE = /[\u00ad\u034f\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\uffa0\ufeff]/g;

/** Whether text shows nothing: only whitespace and invisible characters (a comment must say something). */
export function isBlankText(text: string): boolean {
  return text.replace(INVISIBLE, '').trim().length === 0;
}

/**
 * The parts of a comment body, with the @mentions of known users marked and written with their
 * names (`names`: id → name), for the widget and for emails.
 */
export function splitMentions(body: string, names: Map<string, string>): { text: string; mention?: string }[] {
  const out: { text: string; mention?: string }[] = [];
  let last = 0;
  for (const m of body.matchAll(MENTION)) {
    // "@bob." ends a sentence: the dot is not part of the id unless a user has it.
    const id = names.has(m[1]!) ? m[1]! : trimEndOf(m[1]!, MENTION_TRAILING);
    if (!names.has(id)) continue;
    if (m.index! > last) out.push({ text: body.slice(last, m.index) });
    out.push({ text: `@${names.get(id)}`, mention: id });
    last = m.index! + 1 + id.length;
  }
  if (last < body.length) out.push({ text: body.slice(last) });
  return out;
}

/**
 * The punctuation an id may hold besides letters, digits and "_". At a mention's end it may also
 * end a sentence ("@bob."): trimmed there unless a user's id has it.
 */
const MENTION_TRAILING = '.:|-';
const ID_PUNCTUATION = MENTION_TRAILING.replace('-', '\\-'); // in a character class
/** An @mention as written: `@` and an id's characters. */
const MENTION = new RegExp(`@([\\w${ID_PUNCTUATION}]+)`, 'g');
/** Text that, written right after an @id, reads as more of it: id characters up to a letter or digit. */
const MENTION_GOES_ON = new RegExp(`^[${ID_PUNCTUATION}]*\\w`);

/** Whether `after`, written right after an @mention's id, would be read as part of that id. */
export const continuesMention = (after: string): boolean => MENTION_GOES_ON.test(after);

/** The user ids the @mentions of `text` may name: each as written, and without trailing punctuation. */
export function mentionCandidates(text: string): Set<string> {
  const ids = new Set<string>();
  for (const [, token] of text.matchAll(MENTION)) ids.add(token!).add(trimEndOf(token!, MENTION_TRAILING));
  return ids;
}

/**
 * `text` without the characters of `chars` at its end. A loop, because a regex such as
 * /[.:|-]+$/ takes quadratic time on a long run of them followed by something else.
 */
export function trimEndOf(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1]!)) end--;
  return text.slice(0, end);
}

/**
 * Up to two letters for an avatar without an image: the first letter (or digit) of the name's
 * first and last words, skipping punctuation ("Ann-Marie O'Neil" → "AO", "bob" → "B"); "?" when
 * the name has none.
 */
export function initials(name: string): string {
  const words = name.match(/[\p{L}\p{N}][\p{L}\p{N}\p{M}'’-]*/gu) ?? [];
  if (words.length === 0) return '?';
  const first = [...words[0]!][0]!;
  const last = words.length > 1 ? [...words[words.length - 1]!][0]! : '';
  return (first + last).toUpperCase();
}
