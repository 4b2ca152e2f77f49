/** Display helpers shared by the widget and the admin panel (no DOM, no zod). */

/**
 * How long ago an ISO time was, for people: "just now", "5 min ago", "3 h ago", "2 days ago",
 * then the date in the reader's locale (after 30 days). A time in the future reads "just now".
 */
export function relativeTime(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} day${d === 1 ? '' : 's'} ago`;
  return new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' });
}
