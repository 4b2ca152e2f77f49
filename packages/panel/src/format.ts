/** Dates, numbers and labels as the panel shows them. */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const number = new Intl.NumberFormat();

export const formatDateTime = (iso: string) => dateTime.format(new Date(iso));
export const formatDate = (iso: string) => dateOnly.format(new Date(iso));
export const formatNumber = (n: number) => number.format(n);

/** "5 min ago", "2 days ago", then a date: the same words as the widget's. */
export { relativeTime as formatRelative } from '@pulse/protocol/lite';
/** "in 5 min", "in 3 h", then a date: when something scheduled will happen. */
export { timeUntil as formatUntil } from '@pulse/protocol/lite';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A request's duration: "840 ms", then seconds ("10.0 s", the longest a delivery may take). */
export const formatLatency = (ms: number) => (ms < 1000 ? `${formatNumber(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

export const plural = (n: number, one: string, many = `${one}s`) => `${formatNumber(n)} ${n === 1 ? one : many}`;

const ACTIONS: Record<string, string> = {
  'environment.created': 'Created the environment',
  'environment.renamed': 'Renamed the environment',
  'keys.rotated': 'Rotated the keys',
  'key.revoked': 'Revoked a key',
  'config.updated': 'Changed the configuration',
  'thread.deleted': 'Deleted a thread',
  'comment.deleted': 'Deleted a comment',
  'comment.edited': 'Edited a comment',
  'team.setup': 'Set up the panel',
  'team.added': 'Added a team member',
  'team.removed': 'Removed a team member',
  'team.role_changed': 'Changed a role',
  'shared_state.cleared': 'Cleared a room\'s shared data',
  'webhook.created': 'Added a webhook endpoint',
  'webhook.updated': 'Changed a webhook endpoint',
  'webhook.deleted': 'Removed a webhook endpoint',
  'webhook.secret_rotated': 'Rotated a webhook secret',
  'webhook.test_sent': 'Sent a webhook test event',
  'webhook.resent': 'Resent a webhook delivery',
  'webhook.recovered': 'Recovered missed webhook events',
  'webhook.disabled': 'Disabled a failing webhook endpoint',
};

export const actionLabel = (action: string) => ACTIONS[action] ?? action;

/** Two letters for an avatar placeholder: the same as the widget's. */
export { initials } from '@pulse/protocol/lite';
