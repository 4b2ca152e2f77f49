import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { apiRequest, type TestServer } from './server.ts';
import { cleanEnv } from './hardening.ts';
import { firstRunKeys, killHard, spawnServer, type ServerProcess } from './process.ts';
import { dropSchema, freshSchema, PG_URL, REDIS_URL } from './services.ts';

/**
 * Cluster suites: several real `pulse start` processes on one PostgreSQL schema and one Redis
 * key prefix, fresh per run. On CI (CI=true) a missing Redis fails the run loudly; on a laptop
 * without it the suites are skipped with a visible notice (as helpers/services.ts does for PG).
 */
const onCi = process.env.CI === 'true' || process.env.CI === '1';

export const redisAvailable = await (async () => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch (err) {
    if (onCi) throw new Error(`Redis at ${REDIS_URL} is required on CI but is not reachable: ${(err as Error).message}`);
    console.warn(`\n[pulse tests] SKIPPING cluster suites: Redis at ${REDIS_URL} is not reachable: ${(err as Error).message}\n`);
    return false;
  } finally {
    redis.disconnect();
  }
})();

export { REDIS_URL };

/** One node of a test cluster; usable wherever the realtime helpers take a TestServer. */
export interface ClusterNode {
  name: string;
  url: string;
  wsUrl: string;
  envId: string;
  publishableKey: string;
  secretKey: string;
  process: ServerProcess;
  api(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  /** The node as the TestServer the client helpers (connectClient, mintToken, RawSocket.auth) expect. */
  asTestServer: TestServer;
  kill(): Promise<void>;
}

export interface TestCluster {
  nodes: ClusterNode[];
  /** Environment for a child process (CLI) pointed at the cluster's storage. */
  env: NodeJS.ProcessEnv;
  prefix: string;
  close(): Promise<void>;
}

/**
 * Starts `count` Pulse processes sharing a fresh PostgreSQL schema, a fresh Redis prefix and one
 * PULSE_SECRET, each with its own data dir. The first creates the Development environment.
 */
export async function startCluster(count: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<TestCluster> {
  const schema = freshSchema();
  const prefix = `pulse-t-${randomBytes(5).toString('hex')}:`;
  const dirs: string[] = [];
  const env: NodeJS.ProcessEnv = cleanEnv({
    DATABASE_URL: PG_URL,
    PULSE_DB_SCHEMA: schema,
    REDIS_URL,
    PULSE_REDIS_PREFIX: prefix,
    PULSE_SECRET: randomBytes(32).toString('hex'),
    PULSE_LOG_LEVEL: 'warn',
    ...extraEnv,
  });
  const spawnNode = async (i: number) => {
    const dir = mkdtempSync(join(tmpdir(), `pulse-node${i}-`));
    dirs.push(dir);
    return spawnServer({ ...env, PULSE_DATA_DIR: dir });
  };
  const nodes: ClusterNode[] = [];
  /** Every node that started, as soon as it did: a failed start must not leave the others running. */
  const started: ChildProcess[] = [];
  const close = async () => {
    await Promise.all(started.map((child) => killHard(child)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema).catch(() => undefined);
    await clearPrefix(prefix).catch(() => undefined);
  };
  try {
    const first = await spawnNode(0);
    started.push(first.child);
    const { envId, publishableKey, secretKey } = firstRunKeys(first.output(), dirs[0]!);
    const settled = await Promise.allSettled(Array.from({ length: count - 1 }, (_, i) => spawnNode(i + 1)));
    for (const s of settled) if (s.status === 'fulfilled') started.push(s.value.child);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const rest = settled.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value);
    [first, ...rest].forEach((proc, i) => {
      const node: ClusterNode = {
        name: String.fromCharCode(65 + i),
        url: proc.url,
        wsUrl: proc.url.replace(/^http/, 'ws'),
        envId,
        publishableKey,
        secretKey,
        process: proc,
        api: (method, path, body, key = secretKey) => apiRequest(proc.url, method, path, body, key),
        asTestServer: undefined as unknown as TestServer,
        kill: () => killHard(proc.child),
      };
      node.asTestServer = node as unknown as TestServer;
      nodes.push(node);
    });
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes, env, prefix, close };
}

/** Removes every Redis key of a test run's prefix. */
export async function clearPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

const REDIS_START = ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log'];

/** Stops the local Redis (no save). Always pair with startRedis() in a finally. */
export function stopRedis(): void {
  try {
    execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown', 'nosave'], { stdio: 'ignore' });
  } catch {
    // redis-cli exits non-zero when the server closes the connection on shutdown
  }
}

/** Starts the local Redis again (as .ci/run does) and waits until it answers. */
export async function startRedis(): Promise<void> {
  const ping = () => {
    try {
      return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'PONG';
    } catch {
      return false;
    }
  };
  if (ping()) return;
  execFileSync('redis-server', REDIS_START, { stdio: 'ignore' });
  for (let i = 0; i < 100 && !ping(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!ping()) throw new Error('Redis did not come back');
}
