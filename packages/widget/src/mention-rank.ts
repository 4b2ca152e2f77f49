import type { PulseUser } from '@pulse/protocol/lite';

/**
 * The people an @mention query suggests, best first: those whose name or id starts with it, then
 * those with a word of the name starting with it, then any other name containing it. Typing `@c`
 * puts Carol Diaz before Alice Chen; within a rank the order given is kept.
 */
export function rankMentions(users: readonly PulseUser[], query: string, selfId: string | undefined, max: number): PulseUser[] {
  const q = query.toLowerCase();
  const rank = (u: PulseUser): number => {
    const name = u.name.toLowerCase();
    const id = u.id.toLowerCase();
    if (name.startsWith(q) || id.startsWith(q)) return 0;
    if (name.split(/\s+/).some((word) => word.startsWith(q))) return 1;
    return name.includes(q) ? 2 : -1;
  };
  return users
    .filter((u) => u.id !== selfId)
    .map((user, i) => ({ user, i, r: rank(user) }))
    .filter((x) => x.r >= 0)
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .slice(0, max)
    .map((x) => x.user);
}
