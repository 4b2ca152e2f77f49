import { sql } from 'kysely';

/** The text for a LIKE … ESCAPE '\' pattern, lower-cased, its own %, _ and \ taken literally. */
const literal = (text: string) => text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * Case-insensitive "contains" and "starts with" on a column, the same on SQLite and PostgreSQL
 * (SQLite's `lower()` is made Unicode-aware like PostgreSQL's: see sqlite.ts).
 */
export const contains = (column: string, text: string) => sql<boolean>`lower(${sql.ref(column)}) like ${`%${literal(text)}%`} escape '\\'`;
export const startsWith = (column: string, text: string) => sql<boolean>`lower(${sql.ref(column)}) like ${`${literal(text)}%`} escape '\\'`;
