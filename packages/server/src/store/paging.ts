import { PulseError, type Page } from '@pulse/protocol';
import type { PageRequest } from './types.ts';

/** Opaque list cursors: base64url of the last item's (createdAt, id). */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/** Timestamps are stored as `Date.toISOString()` writes them: only what it writes back unchanged (not 30 February). */
const isStoredTime = (value: unknown): value is string => {
  const time = typeof value === 'string' ? Date.parse(value) : NaN;
  return !Number.isNaN(time) && new Date(time).toISOString() === value;
};

export function decodeCursor(cursor: string): PageRequest['after'] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && isStoredTime(parsed[0]) && typeof parsed[1] === 'string' && parsed[1].length > 0 && parsed[1].length <= 1024) {
      return { createdAt: parsed[0], id: parsed[1] };
    }
  } catch {
    // fall through
  }
  throw new PulseError('validation_failed', 'cursor: not a cursor returned by this API');
}

/** Turns `limit + 1` fetched rows into a page. */
export function toPage<Row extends { created_at: string; id: string }, T>(
  rows: Row[],
  limit: number,
  map: (row: Row) => T,
  idOf: (row: Row) => string = (row) => row.id,
): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return {
    items: kept.map(map),
    nextCursor: more && last ? encodeCursor(last.created_at, idOf(last)) : null,
  };
}
