/**
 * The colours Pulse assigns to users who bring none: distinct, visible on white and dark pages,
 * and each with a text colour (textOnColor) of at least 4.5:1 on it.
 */
export const USER_PALETTE = [
  '#5b5ef0', '#f59e0b', '#10b981', '#ef4444', '#3b82f6', '#ec4899',
  '#7e4ff3', '#14b8a6', '#f97316', '#84cc16', '#06b6d4', '#d946ef',
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

/** WCAG relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** The light and dark text drawn on a user's colour (cursor labels, avatars, pins). */
export const TEXT_ON_COLOR = { light: '#ffffff', dark: '#111827' } as const;
const DARK_LUMINANCE = luminance(TEXT_ON_COLOR.dark);

/**
 * Text that reads on a user's colour (`#rrggbb`): white, or near-black where white would contrast
 * less (white on cyan #06b6d4 is 2.4:1; near-black on it is 7.3:1).
 */
export function textOnColor(hex: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(hex)) return TEXT_ON_COLOR.light;
  const l = luminance(hex);
  const withLight = 1.05 / (l + 0.05);
  const withDark = (l + 0.05) / (DARK_LUMINANCE + 0.05);
  return withDark > withLight ? TEXT_ON_COLOR.dark : TEXT_ON_COLOR.light;
}
