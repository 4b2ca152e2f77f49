/** "just now", "5 min ago", "3 h ago", "2 days ago", then a date: the same words as the panel's. */
export { relativeTime } from '@pulse/protocol/lite';

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0]![0], parts[parts.length - 1]![0]] : [...(parts[0] ?? '?')].slice(0, 2);
  return letters.join('').toUpperCase();
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The parts of a comment body, with @mentions of known users marked, for rendering as text. */
export function splitMentions(body: string, names: Map<string, string>): { text: string; mention?: string }[] {
  const out: { text: string; mention?: string }[] = [];
  const re = /@([\w.\-:|]+)/g;
  let last = 0;
  for (const m of body.matchAll(re)) {
    // "@bob." ends a sentence: the dot is not part of the id unless a user has it.
    const id = names.has(m[1]!) ? m[1]! : m[1]!.replace(/[.:|-]+$/, '');
    if (!names.has(id)) continue;
    if (m.index! > last) out.push({ text: body.slice(last, m.index) });
    out.push({ text: `@${names.get(id)}`, mention: id });
    last = m.index! + 1 + id.length;
  }
  if (last < body.length) out.push({ text: body.slice(last) });
  return out;
}
