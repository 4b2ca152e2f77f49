import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { optionsFromEnv, type ServerOptions } from '../../src/options.ts';
import { startPulseServer, type PulseServer } from '../../src/server.ts';
import { cleanEnv } from './hardening.ts';
import { dropSchema, freshSchema, PG_URL } from './services.ts';

export type Driver = 'sqlite' | 'postgres';

export interface TestServer {
  server: PulseServer;
  url: string;
  /** ws://127.0.0.1:port */
  wsUrl: string;
  /** Stops the server (storage kept) and starts it again on the same port. */
  restart(): Promise<void>;
  envId: string;
  publishableKey: string;
  secretKey: string;
  options: ServerOptions;
  /** Environment variables that point a child process (CLI, server) at the same storage. */
  childEnv: NodeJS.ProcessEnv;
  api(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** Storage for one test: a temp data dir, plus a fresh PostgreSQL schema for the postgres driver. */
export function testStorage(driver: Driver) {
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-test-'));
  const schema = driver === 'postgres' ? freshSchema() : undefined;
  const env: NodeJS.ProcessEnv = {
    PULSE_DATA_DIR: dataDir,
    PULSE_LOG_LEVEL: 'warn',
    ...(schema ? { DATABASE_URL: PG_URL, PULSE_DB_SCHEMA: schema } : {}),
  };
  return {
    dataDir,
    env,
    async cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
      if (schema) await dropSchema(schema);
    },
  };
}

/** One REST call with a key; the body is parsed as JSON when it is JSON. */
export async function apiRequest(base: string, method: string, path: string, body: unknown, key: string | undefined): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // leave as text
  }
  return { status: res.status, body: parsed };
}

/** A real Pulse server on a random loopback port with its own storage. */
export async function startTestServer(driver: Driver = 'sqlite', overrides: Partial<ServerOptions> = {}): Promise<TestServer> {
  const storage = testStorage(driver);
  const options: ServerOptions = {
    ...optionsFromEnv({ ...storage.env, PULSE_LOG_LEVEL: 'silent' }),
    port: 0,
    host: '127.0.0.1',
    ...overrides,
  };
  let server = await startPulseServer(options);
  const first = server.firstRun!;
  const url = server.url;
  const port = Number(new URL(url).port);
  const handle: TestServer = {
    server,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    async restart() {
      await handle.server.close();
      server = await startPulseServer({ ...options, port });
      handle.server = server;
    },
    envId: first.environmentId,
    publishableKey: first.publishableKey,
    secretKey: first.secretKey,
    options,
    childEnv: cleanEnv(storage.env),
    api: (method: string, path: string, body?: unknown, key: string = first.secretKey) => apiRequest(url, method, path, body, key),
    async close() {
      // The storage goes even when closing fails (a test's schema must never be left behind).
      try {
        await handle.server.close();
      } finally {
        await storage.cleanup();
      }
    },
  };
  return handle;
}
