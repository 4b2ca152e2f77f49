import { hashPassword } from '../src/auth/passwords.ts';
import type { TestServer } from './helpers/server.ts';

/**
 * A test client for the admin API that behaves like a browser: it keeps the cookies the server
 * sets (per path /panel) and sends the CSRF cookie's value back in X-CSRF-Token, unless told not to.
 */
export interface PanelResponse {
  status: number;
  body: any;
  headers: Headers;
  setCookies: string[];
}

export interface PanelRequestOptions {
  /** false: no X-CSRF-Token header; a string: that value instead of the cookie's. */
  csrf?: boolean | string;
  headers?: Record<string, string>;
  /** A raw body (sent as is) instead of JSON. */
  raw?: string;
}

export class PanelClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  get csrfToken(): string | undefined {
    return this.cookies.get('pulse_csrf');
  }

  #remember(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = decodeURIComponent(pair!.slice(eq + 1).trim());
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(method: string, path: string, body?: unknown, options: PanelRequestOptions = {}): Promise<PanelResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
    const csrf = options.csrf ?? true;
    if (csrf === true && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    else if (typeof csrf === 'string') headers['x-csrf-token'] = csrf;
    let payload: string | undefined;
    if (options.raw !== undefined) payload = options.raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.baseUrl + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const setCookies = res.headers.getSetCookie();
    this.#remember(setCookies);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers, setCookies };
  }

  get(path: string, options?: PanelRequestOptions) {
    return this.request('GET', `/panel/api${path}`, undefined, options);
  }
  post(path: string, body?: unknown, options?: PanelRequestOptions) {
    return this.request('POST', `/panel/api${path}`, body, options);
  }
  patch(path: string, body?: unknown, options?: PanelRequestOptions) {
    return this.request('PATCH', `/panel/api${path}`, body, options);
  }
  delete(path: string, options?: PanelRequestOptions) {
    return this.request('DELETE', `/panel/api${path}`, undefined, options);
  }

  /** Fetches a CSRF cookie (as the page load does) and logs in; throws unless it worked. */
  async login(email: string, password: string): Promise<PanelResponse> {
    if (!this.csrfToken) await this.get('/setup');
    const res = await this.post('/login', { email, password });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res;
  }
}

/** An account (created in the store when missing) signed in through the API. */
export async function signedInAdmin(t: TestServer, email = 'admin@example.com', role: 'admin' | 'member' = 'admin'): Promise<PanelClient> {
  if (!(await t.server.ctx.store.findAdminByEmail(email))) {
    await t.server.ctx.store.createAdmin({
      id: `adm_${email.replace(/\W/g, '')}`,
      email,
      name: email.split('@')[0]!,
      role,
      passwordHash: await hashPassword('panel password'),
      createdAt: new Date().toISOString(),
    });
  }
  const c = new PanelClient(t.url);
  await c.login(email, 'panel password');
  return c;
}

