import { PulseError } from '@pulse/protocol';
import type { AdminRole, OffsetPage } from '../store/types.ts';
import { EMAIL_MAX_LENGTH, PANEL_PAGE_SIZE, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, SEARCH_MAX_LENGTH } from './limits.ts';

/** Input checks for the admin API; every failure is a 400 `validation_failed` naming the field. */

const invalid = (field: string, message: string) => new PulseError('validation_failed', `${field}: ${message}`);

/** Refuses the names of `given` that `allowed` lacks: `body: unknown field "x"`, `query: unknown parameters "a", "b"`. */
export function onlyKnown(where: 'body' | 'query', given: object, allowed: readonly string[]): void {
  const unknown = Object.keys(given).filter((k) => !allowed.includes(k));
  if (!unknown.length) return;
  const noun = where === 'body' ? 'field' : 'parameter';
  throw invalid(where, `unknown ${noun}${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`);
}

/** The JSON body as an object with only the given fields. */
export function body(value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (value === undefined) throw new PulseError('invalid_json', 'The body is empty; send a JSON object.');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('body', 'expected a JSON object');
  onlyKnown('body', value, allowed);
  return value as Record<string, unknown>;
}

/** A request that takes no fields: no body, or an empty object. */
export function noFields(value: unknown): void {
  if (value === undefined || value === null) return;
  body(value, []);
}

export function text(obj: Record<string, unknown>, field: string, opts: { min?: number; max: number; trim?: boolean }): string {
  const raw = obj[field];
  if (raw === undefined) throw invalid(field, 'is required');
  if (typeof raw !== 'string') throw invalid(field, 'must be a string');
  const value = opts.trim === false ? raw : raw.trim();
  if (value.length < (opts.min ?? 1)) throw invalid(field, opts.min && opts.min > 1 ? `must be at least ${opts.min} characters` : 'must not be empty');
  if (value.length > opts.max) throw invalid(field, `must be at most ${opts.max} characters`);
  return value;
}

export function email(obj: Record<string, unknown>, field = 'email'): string {
  const value = text(obj, field, { max: EMAIL_MAX_LENGTH }).toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) throw invalid(field, 'is not an email address');
  return value;
}

export function password(obj: Record<string, unknown>, field = 'password'): string {
  return text(obj, field, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH, trim: false });
}

export function role(obj: Record<string, unknown>, field = 'role'): AdminRole {
  const value = obj[field];
  if (value !== 'admin' && value !== 'member') throw invalid(field, 'must be "admin" or "member"');
  return value;
}

/** The query parameters of a paged list, and of one that can be searched (the router refuses others). */
export const PAGED = ['page'] as const;
export const SEARCHABLE = ['page', 'search'] as const;

/** `?page=` (1-based) and `?search=`: an offset page of PANEL_PAGE_SIZE items. */
export function pageQuery(query: unknown): OffsetPage & { page: number; search?: string } {
  const q = (query ?? {}) as Record<string, unknown>;
  let page = 1;
  if (q.page !== undefined) {
    if (typeof q.page !== 'string' || !/^[1-9]\d{0,5}$/.test(q.page)) throw invalid('page', 'must be a whole number from 1 to 999999');
    page = Number(q.page);
  }
  let search: string | undefined;
  if (q.search !== undefined) {
    if (typeof q.search !== 'string') throw invalid('search', 'must be a single string');
    if (q.search.length > SEARCH_MAX_LENGTH) throw invalid('search', `must be at most ${SEARCH_MAX_LENGTH} characters`);
    search = q.search.trim() || undefined;
  }
  return { page, offset: (page - 1) * PANEL_PAGE_SIZE, limit: PANEL_PAGE_SIZE, ...(search ? { search } : {}) };
}

/** A paged answer: the items plus what Previous/Next need. */
export function paged<T>(page: { page: number }, result: { items: T[]; total: number }) {
  const totalPages = Math.max(1, Math.ceil(result.total / PANEL_PAGE_SIZE));
  return { items: result.items, page: page.page, pageSize: PANEL_PAGE_SIZE, total: result.total, totalPages };
}

/** A path parameter: non-empty and not absurdly long. */
export function param(value: string | undefined, field: string, max = 4096): string {
  if (!value) throw invalid(field, 'must not be empty');
  if (value.length > max) throw invalid(field, `must be at most ${max} characters`);
  return value;
}
