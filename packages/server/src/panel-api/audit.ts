import { randomBytes } from 'node:crypto';
import { nowIso } from '../ids.ts';
import type { Store } from '../store/index.ts';
import type { AdminRow, AuditEntry } from '../store/types.ts';

/** Appends who did what to the audit log. Failures to write it fail the request: no silent gaps. */
export async function audit(
  store: Store,
  /** An account, the CLI, or Pulse itself (a change it made on its own, e.g. disabling a failing webhook endpoint). */
  actor: AdminRow | { cli: string } | { system: true },
  environmentId: string | null,
  action: string,
  detail: string | null = null,
): Promise<void> {
  const entry: AuditEntry = {
    id: `aud_${randomBytes(10).toString('hex')}`,
    environmentId,
    // The CLI has no account: it is recorded as "CLI (<system user>)".
    actorId: 'id' in actor ? actor.id : null,
    actorName: 'cli' in actor ? `CLI (${actor.cli})` : 'system' in actor ? 'Pulse' : actor.name,
    actorEmail: 'email' in actor ? actor.email : null,
    action,
    detail,
    createdAt: nowIso(),
  };
  await store.appendAudit(entry);
}

/** "maxFileSizeMb 10 → 25, allowReactions on → off" */
export function describeChanges(before: Record<string, unknown>, after: Record<string, unknown>): string {
  const show = (v: unknown) => (v === true ? 'on' : v === false ? 'off' : String(v));
  return Object.keys(after)
    .filter((k) => before[k] !== after[k])
    .map((k) => `${k} ${show(before[k])} → ${show(after[k])}`)
    .join(', ');
}

/** At most `n` characters of user text for a log line. */
export const clip = (text: string, n = 80) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
