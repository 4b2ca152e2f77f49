/**
 * The admin API client (docs/admin-api.md). Sends the CSRF cookie's value in X-CSRF-Token on
 * every change and turns error bodies into ApiError. A 401 on a signed-in call tells the app
 * the session is gone.
 */

import type {
  AdminAccount,
  AdminApiKey,
  AdminAuditEntry,
  AdminCommentRow,
  AdminConfigValue,
  AdminDayStats,
  AdminEnvironment,
  AdminEnvironmentCounts,
  AdminKeyPair,
  AdminPage,
  AdminRole,
  AdminRoomRow,
  AdminThreadRow,
  AdminUserRow,
  Attachment,
  EnvConfigField,
  EnvConfigGroup,
  Reaction,
} from '@pulse/protocol/lite';

// The admin API's response types live in @pulse/protocol (one source of truth); the panel's
// short names for them:
export type Role = AdminRole;
export type Admin = AdminAccount;
export type Counts = AdminEnvironmentCounts;
export type Environment = AdminEnvironment;
export type ApiKey = AdminApiKey;
export type KeyPair = AdminKeyPair;
export type ConfigValue = AdminConfigValue;
export type Config = Record<string, ConfigValue>;
export type ConfigField = EnvConfigField;
export type ConfigGroup = EnvConfigGroup;
export type Paged<T> = AdminPage<T>;
export type AuditEntry = AdminAuditEntry;
export type DayStats = AdminDayStats;
export type RoomRow = AdminRoomRow;
export type ThreadRow = AdminThreadRow;
export type { Attachment, Reaction };
export type CommentRow = AdminCommentRow;
export type UserRow = AdminUserRow;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | undefined;

  constructor(status: number, code: string, message: string, retryAfterS?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/**
 * What an error message says about one field, when it names it first ("url: refused: …", as the
 * server's validation errors do), without the name; else undefined.
 */
export function errorAt(message: string | undefined, field: string): string | undefined {
  return message?.startsWith(`${field}:`) ? message.slice(field.length + 1).trim() : undefined;
}

export const API_BASE = '/panel/api';

function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

const unauthorizedListeners = new Set<() => void>();

/** Called when a signed-in call comes back 401 (session expired, or the account was removed). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const AUTH_PATHS = ['/me', '/session', '/login', '/setup'];

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = readCookie('pulse_csrf') ?? '';
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(API_BASE + path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the Pulse server. Check that it is running, then try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const retry = Number(res.headers.get('retry-after'));
    const err = new ApiError(
      res.status,
      error?.code ?? 'http_error',
      error?.message ?? `The server answered ${res.status} ${res.statusText}.`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
    if (res.status === 401 && !AUTH_PATHS.includes(path)) for (const l of unauthorizedListeners) l();
    throw err;
  }
  return parsed as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body);
export const patch = <T>(path: string, body?: unknown) => api<T>('PATCH', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);

/** Path segment, encoded (room ids may hold any character). */
export const seg = (value: string) => encodeURIComponent(value);

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A room with stored P2P shared data (data browser). */
export interface SharedStateRow {
  roomId: string;
  bytes: number;
  version: number;
  updatedAt: string;
  expiresAt: string;
}

/** One shared map, list or counter of a room, as JSON. */
export interface SharedObject {
  type: 'map' | 'list' | 'counter';
  name: string;
  value: unknown;
}

export const listSharedState = (envId: string) => get<{ items: SharedStateRow[] }>(`/environments/${seg(envId)}/shared`);
export const getSharedState = (envId: string, roomId: string) =>
  get<{ roomId: string; bytes: number; updatedAt: string | null; expiresAt: string | null; objects: SharedObject[] }>(`/environments/${seg(envId)}/rooms/${seg(roomId)}/shared`);
export const clearSharedState = (envId: string, roomId: string) => del<void>(`/environments/${seg(envId)}/rooms/${seg(roomId)}/shared`);
