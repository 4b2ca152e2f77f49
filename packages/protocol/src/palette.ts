/** The colours Pulse assigns to users who bring none: distinct, readable on white and dark. */
export const USER_PALETTE = [
  '#6366f1', '#f59e0b', '#10b981', '#ef4444', '#3b82f6', '#ec4899',
  '#8b5cf6', '#14b8a6', '#f97316', '#84cc16', '#06b6d4', '#d946ef',
] as const;

/**
 * Deterministic colour for a user id: the same id always gets the same colour. An FNV-1a hash,
 * its bits mixed (MurmurHash3's finaliser) before it picks from the palette: FNV-1a's low bits
 * barely change between short ids ("ann", "bob", "dan" and "ghost" all got the same colour).
 */
export function colorForUser(externalId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < externalId.length; i++) {
    h ^= externalId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return USER_PALETTE[(h >>> 0) % USER_PALETTE.length]!;
}
