/**
 * REST write throughput and latency: POST /api/v1/threads/:id/comments with C concurrent
 * clients for D seconds, against a Pulse server in a child process (pinned to core 0 with
 * taskset when available; this script runs on core 1). Prints writes/s and p50/p99 per driver.
 *
 *   npx tsx bench/rest-comments.ts [--seconds 10] [--concurrency 16] [--driver sqlite|postgres|both]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    driver: { type: 'string', default: 'both' },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const PG_URL = process.env.PULSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BIN = new URL('../packages/server/bin/pulse.mjs', import.meta.url).pathname;

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();
if (hasTaskset) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

function percentile(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(driver: 'sqlite' | 'postgres') {
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-bench-'));
  const schema = `pulse_bench_${Date.now()}`;
  const env = {
    ...process.env,
    PULSE_DATA_DIR: dataDir,
    PULSE_PORT: '0',
    PULSE_LOG_LEVEL: 'warn',
    ...(driver === 'postgres' ? { DATABASE_URL: PG_URL, PULSE_DB_SCHEMA: schema } : {}),
  };
  const cmd = hasTaskset ? 'taskset' : process.execPath;
  const args = hasTaskset ? ['-c', '0', process.execPath, BIN, 'start'] : [BIN, 'start'];
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /Pulse is running at (\S+)/.exec(out);
      if (m && /Secret key\s+sk_/.test(out)) resolve(m[1]!);
    });
  });
  const sk = /Secret key\s+(sk_\w+)/.exec(out)![1]!;
  const headers = { authorization: `Bearer ${sk}`, 'content-type': 'application/json' };
  await fetch(`${url}/api/v1/users/bench`, { method: 'PUT', headers, body: JSON.stringify({ name: 'Bench' }) });
  const threads: string[] = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const r = await fetch(`${url}/api/v1/rooms/bench-${i % 8}/threads`, { method: 'POST', headers, body: JSON.stringify({ userId: 'bench', body: 'x' }) });
    threads.push(((await r.json()) as any).thread.id);
  }
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    threads.map(async (threadId, i) => {
      let n = 0;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const r = await fetch(`${url}/api/v1/threads/${threadId}/comments`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ userId: 'bench', body: `comment ${i}-${n++} with a realistic amount of text in it` }),
        });
        await r.arrayBuffer();
        if (r.status === 201) latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
  if (driver === 'postgres') {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  }
  latencies.sort((a, b) => a - b);
  return {
    driver,
    writesPerSecond: Math.round(latencies.length / SECONDS),
    p50ms: +percentile(latencies, 50).toFixed(2),
    p99ms: +percentile(latencies, 99).toFixed(2),
    errors,
  };
}

const drivers = values.driver === 'both' ? (['sqlite', 'postgres'] as const) : ([values.driver] as ['sqlite' | 'postgres']);
console.log(`POST /api/v1/threads/:id/comments, ${CONCURRENCY} concurrent clients, ${SECONDS}s each, taskset: ${hasTaskset}`);
for (const d of drivers) console.log(JSON.stringify(await run(d)));
