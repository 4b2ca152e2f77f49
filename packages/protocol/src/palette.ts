/** The colours Pulse assigns to users who bring none: distinct, readable on white and dark. */
export const USER_PALETTE = [
  '#6366f1', '#f59e0b', '#10b981', '#ef4444', '#3b82f6', '#ec4899',
  '#8b5cf6', '#14b8a6', '#f97316', '#84cc16', '#06b6d4', '#d946ef',
] as const;

/** Deterministic colour for a user id (FNV-1a hash into the palette): the same id always gets the same colour. */
export function colorForUser(externalId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < externalId.length; i++) {
    h ^= externalId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return USER_PALETTE[(h >>> 0) % USER_PALETTE.length]!;
}
