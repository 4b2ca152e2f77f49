/** "just now", "5 min ago", "3 h ago", "2 days ago", then a date: the same words as the panel's. */
export { initials, mentionCandidates, relativeTime, splitMentions } from '@pulse/protocol/lite';
import { textOnColor } from '@pulse/protocol/lite';

/** The CSS variables giving an element a user's colour, and text that reads on it. */
const userColorVars = (color: string) => [['--user-color', color], ['--user-text', textOnColor(color)]] as const;

/** Those variables as an inline style, for templates. */
export const userColorStyle = (color: string): string => userColorVars(color).map(([name, value]) => `${name}:${value}`).join(';');

/** Those variables set on an element made by hand (the overlay's cursors and ripples). */
export function setUserColor(el: HTMLElement, color: string): void {
  for (const [name, value] of userColorVars(color)) el.style.setProperty(name, value);
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
