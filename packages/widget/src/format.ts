/** "just now", "5 min ago", "3 h ago", "2 days ago", then a date: the same words as the panel's. */
export { mentionCandidates, relativeTime, splitMentions } from '@pulse/protocol/lite';
import { textOnColor } from '@pulse/protocol/lite';

/** The inline style giving an element a user's colour, and text that reads on it. */
export const userColorStyle = (color: string): string => `--user-color:${color};--user-text:${textOnColor(color)}`;

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
