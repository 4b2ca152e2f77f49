import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { secretFingerprint } from './cluster/fingerprint.ts';
import { redactUrl, type ServerOptions } from './options.ts';
import { DEFAULT_REDIS_PREFIX } from './realtime/bus-factory.ts';
import { liveNodes } from './realtime/cluster-presence.ts';
import { PulseMigrationProvider } from './store/migrations.ts';

type Verdict = 'ok' | 'warn' | 'fail';
interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
}

const MARK: Record<Verdict, string> = { ok: '✓', warn: '!', fail: '✗' };
/** Clock difference to PostgreSQL worth a warning (tokens tolerate TOKEN_CLOCK_TOLERANCE_S). */
const CLOCK_WARN_MS = 1_000;
const TIMEOUT_MS = 5_000;

async function checkPostgres(options: ServerOptions, checks: Check[]): Promise<void> {
  if (!options.databaseUrl) {
    checks.push({ name: 'PostgreSQL', verdict: 'fail', detail: 'DATABASE_URL is not set: nodes of a cluster must share one PostgreSQL database (SQLite is one node only).' });
    return;
  }
  const where = `${redactUrl(options.databaseUrl)}${options.databaseSchema ? ` (schema ${options.databaseSchema})` : ''}`;
  const client = new pg.Client({
    connectionString: options.databaseUrl,
    connectionTimeoutMillis: TIMEOUT_MS,
    ...(options.databaseSchema ? { options: `-c search_path=${options.databaseSchema}` } : {}),
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    checks.push({ name: 'PostgreSQL', verdict: 'fail', detail: `cannot connect to ${where}: ${(err as Error).message}` });
    return;
  }
  try {
    const expected = Object.keys(await new PulseMigrationProvider('postgres').getMigrations());
    const table = await client.query<{ present: boolean }>(`select to_regclass('kysely_migration') is not null as present`);
    const applied = table.rows[0]?.present ? (await client.query<{ name: string }>('select name from kysely_migration')).rows.map((r) => r.name) : [];
    const unknown = applied.filter((n) => !expected.includes(n));
    const pending = expected.filter((n) => !applied.includes(n));
    if (unknown.length) {
      checks.push({
        name: 'PostgreSQL',
        verdict: 'fail',
        detail: `${where} was migrated by a newer Pulse (${unknown.join(', ')}): upgrade this node before starting it.`,
      });
    } else if (applied.length === 0) {
      checks.push({ name: 'PostgreSQL', verdict: 'warn', detail: `reachable at ${where}, but empty: the first node to start creates the tables.` });
    } else if (pending.length) {
      checks.push({
        name: 'PostgreSQL',
        verdict: 'warn',
        detail: `reachable at ${where}; ${pending.length} migration(s) pending (${pending.join(', ')}): the first node of this version to start applies them.`,
      });
    } else {
      checks.push({ name: 'PostgreSQL', verdict: 'ok', detail: `reachable at ${where}, migrated (${applied.length} migrations).` });
    }

    // Clock: PostgreSQL's clock against ours at the middle of the round trip, best of five.
    let skew = 0;
    let bestRoundTrip = Infinity;
    for (let i = 0; i < 5; i++) {
      const before = performance.timeOrigin + performance.now();
      const { rows } = await client.query<{ ms: string }>(`select (extract(epoch from clock_timestamp()) * 1000)::numeric(20,3)::text as ms`);
      const after = performance.timeOrigin + performance.now();
      if (after - before < bestRoundTrip) {
        bestRoundTrip = after - before;
        skew = Number(rows[0]!.ms) - (before + after) / 2;
      }
    }
    checks.push({
      name: 'Clock',
      verdict: Math.abs(skew) > CLOCK_WARN_MS ? 'warn' : 'ok',
      detail:
        Math.abs(skew) > CLOCK_WARN_MS
          ? `this machine's clock is ${Math.round(skew)} ms off PostgreSQL's: run NTP on every node (token expiry and timestamps depend on it).`
          : `within ${Math.max(1, Math.round(Math.abs(skew)))} ms of PostgreSQL's.`,
    });
  } catch (err) {
    checks.push({ name: 'PostgreSQL', verdict: 'fail', detail: `connected to ${where}, but reading it failed: ${(err as Error).message}` });
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(options: ServerOptions, checks: Check[]): Promise<void> {
  if (!options.redisUrl) {
    checks.push({ name: 'Redis', verdict: 'fail', detail: 'REDIS_URL is not set: nodes fan events out to each other and share presence through Redis.' });
    return;
  }
  const where = redactUrl(options.redisUrl);
  const prefix = options.redisPrefix ?? DEFAULT_REDIS_PREFIX;
  const settings = { lazyConnect: true, connectTimeout: TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false };
  const cmd = new Redis(options.redisUrl, settings);
  const sub = new Redis(options.redisUrl, settings);
  // The cause (refused, wrong password, no such db…) comes as an error event; the failed call
  // itself only says the connection closed.
  let cause: Error | undefined;
  const remember = (err: Error) => (cause ??= err);
  cmd.on('error', remember);
  sub.on('error', remember);
  try {
    await Promise.all([cmd.connect(), sub.connect()]);
    // ioredis goes on in database 0 when the URL's cannot be selected: select it again, and fail.
    await cmd.select(cmd.options.db ?? 0);
    if (cause) throw cause;
    await cmd.ping();
    // PUBLISH/SUBSCRIBE round trip on a throwaway channel under the deployment's prefix.
    const channel = `${prefix}cluster-check:${randomBytes(6).toString('hex')}`;
    const payload = randomBytes(8).toString('hex');
    const received = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('PUBLISH did not reach the subscriber within 5 s')), TIMEOUT_MS);
      sub.on('message', (c: string, m: string) => {
        if (c === channel && m === payload) {
          clearTimeout(timer);
          resolve(performance.now());
        }
      });
    });
    await sub.subscribe(channel);
    const sent = performance.now();
    const receivers = await cmd.publish(channel, payload);
    const roundTrip = (await received) - sent;
    if (receivers < 1) throw new Error('PUBLISH reached no subscriber');
    const info = await cmd.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    checks.push({
      name: 'Redis',
      verdict: 'ok',
      detail: `reachable at ${where} (Redis ${version}); PUBLISH/SUBSCRIBE round trip ${roundTrip.toFixed(1)} ms; key prefix "${prefix}".`,
    });

    // Nodes already running under this prefix, and whether they sign tokens with our secret.
    const nodes = await liveNodes(cmd, prefix);
    const own = secretFingerprint(options.secret);
    const differing = nodes.filter(([, b]) => b.fp !== own);
    if (nodes.length === 0) checks.push({ name: 'Nodes', verdict: 'ok', detail: 'no Pulse node is running under this prefix yet.' });
    else if (differing.length === 0 || own === 'unset')
      checks.push({ name: 'Nodes', verdict: 'ok', detail: `${nodes.length} node(s) running under this prefix${own === 'unset' ? '' : ', all with this PULSE_SECRET'}.` });
    else
      checks.push({
        name: 'Nodes',
        verdict: 'fail',
        detail: `${differing.length} of ${nodes.length} running node(s) use a different PULSE_SECRET: tokens minted on them would not verify here.`,
      });
  } catch (err) {
    checks.push({ name: 'Redis', verdict: 'fail', detail: `${where}: ${(cause ?? (err as Error)).message}` });
  } finally {
    cmd.disconnect();
    sub.disconnect();
  }
}

function checkSettings(options: ServerOptions, checks: Check[]): void {
  if (!options.secret) {
    checks.push({
      name: 'PULSE_SECRET',
      verdict: 'fail',
      detail: 'not set: each node would generate its own secret in its data dir, and tokens minted on one node would fail on the others. Set the same value (32+ characters) on every node.',
    });
  } else if (options.secret.length < 32) {
    checks.push({ name: 'PULSE_SECRET', verdict: 'fail', detail: 'shorter than 32 characters.' });
  } else {
    checks.push({ name: 'PULSE_SECRET', verdict: 'ok', detail: 'set (use the same value on every node).' });
  }
  if (!options.publicUrl) {
    checks.push({
      name: 'PULSE_PUBLIC_URL',
      verdict: 'warn',
      detail: 'not set: links (files, panel) would point at this node’s own address instead of the load balancer’s.',
    });
  } else {
    checks.push({ name: 'PULSE_PUBLIC_URL', verdict: 'ok', detail: options.publicUrl });
  }
}

/** `pulse start --cluster-check`: verifies a cluster configuration without starting the server. Exit code 0 when ready. */
export async function runClusterCheck(options: ServerOptions, print: (line: string) => void): Promise<number> {
  const checks: Check[] = [];
  checkSettings(options, checks);
  await Promise.all([checkPostgres(options, checks), checkRedis(options, checks), import('./files/s3-store.ts').then(async ({ checkFileStorage }) => checks.push({ name: 'Files', ...(await checkFileStorage(options.filesS3)) }))]);
  const order = ['PostgreSQL', 'Redis', 'Nodes', 'Files', 'PULSE_SECRET', 'PULSE_PUBLIC_URL', 'Clock'];
  checks.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  print('Pulse cluster check');
  for (const c of checks) print(`  ${MARK[c.verdict]} ${c.name.padEnd(17)}${c.detail}`);
  const failed = checks.filter((c) => c.verdict === 'fail').length;
  const warned = checks.filter((c) => c.verdict === 'warn').length;
  print('');
  if (failed) {
    print(`Not ready: ${failed} problem(s) to fix${warned ? `, ${warned} warning(s)` : ''}.`);
    return 1;
  }
  print(`Ready for cluster mode${warned ? ` (${warned} warning(s))` : ''}.`);
  return 0;
}
