/**
 * The admin API client (docs/admin-api.md). Sends the CSRF cookie's value in X-CSRF-Token on
 * every change and turns error bodies into ApiError. A 401 on a signed-in call tells the app
 * the session is gone.
 */

export type Role = 'admin' | 'member';

export interface Admin {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
}

export interface Counts {
  rooms: number;
  threads: number;
  users: number;
  comments: number;
}

export interface Environment {
  id: string;
  name: string;
  createdAt: string;
  counts: Counts;
}

export interface ApiKey {
  id: string;
  kind: 'publishable' | 'secret';
  prefix: string;
  value: string | null;
  createdAt: string;
  revokedAt: string | null;
  status: 'active' | 'revoked';
}

export interface KeyPair {
  publishableKey: string;
  secretKey: string;
}

export type ConfigValue = boolean | number;
export type Config = Record<string, ConfigValue>;

export interface ConfigField {
  key: string;
  label: string;
  kind: 'boolean' | 'number';
  description: string;
  min?: number;
  max?: number;
  unit?: string;
}

export interface ConfigGroup {
  name: string;
  fields: ConfigField[];
}

export interface Paged<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
  totalPages: number;
}

export interface AuditEntry {
  id: string;
  environmentId: string | null;
  actorId: string | null;
  actorName: string;
  actorEmail: string | null;
  action: string;
  detail: string | null;
  createdAt: string;
}

export interface DayStats {
  day: string;
  comments: number;
  activeUsers: number;
}

export interface RoomRow {
  id: string;
  createdAt: string;
  threads: number;
  comments: number;
}

export interface ThreadRow {
  id: string;
  roomId: string;
  resolved: boolean;
  createdAt: string;
  updatedAt: string;
  comments: number;
  firstComment: { body: string; userId: string } | null;
}

export interface Reaction {
  id: string;
  userId: string;
  emoji: string;
}

export interface Attachment {
  id: string;
  type: 'image' | 'audio' | 'video';
  filename: string;
  mimeType: string;
  sizeBytes: number;
  url: string;
  thumbnailUrl?: string;
}

export interface CommentRow {
  id: string;
  threadId: string;
  body: string;
  createdAt: string;
  editedAt: string | null;
  author: { externalId: string; name: string | null; avatar: string | null; color: string | null };
  reactions: Reaction[];
  attachments: Attachment[];
}

export interface UserRow {
  externalId: string;
  name: string;
  avatar: string | null;
  color: string;
  comments: number;
  firstSeen: string;
}

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
