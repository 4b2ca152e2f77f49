/**
 * Shared helpers of the WebSocket benchmarks (not a benchmark itself): spawning a server in a
 * child process pinned to core 0, pinning this process to core 1, reading a process's CPU time
 * from /proc, a fixed-bin latency histogram, and an event-loop lag probe for the generator.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import pg from 'pg';

export const ROOT = new URL('..', import.meta.url).pathname;
/** The server from the working tree's sources (tsx compiles them at start; the code run is the same). */
export const PULSE_BIN = new URL('../packages/server/bin/pulse-dev.mjs', import.meta.url).pathname;

export const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();

/** Pins every thread of this process (main, libuv pool, V8 workers) to core 1. */
export function pinSelf(): void {
  if (hasTaskset) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A /proc stat file's CPU time (utime + stime) in microseconds, and its nice value. */
function readStat(path: string): { cpuMicros: number; nice: number } {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", fields[0] is state (field 3); utime and stime are fields 14 and 15, nice 19.
  return { cpuMicros: ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK, nice: Number(fields[16]) };
}

/** utime + stime of a process in microseconds (resolution 1/CLK_TCK s, usually 10 ms). */
export function processCpuMicros(pid: number): number {
  return readStat(`/proc/${pid}/stat`).cpuMicros;
}

/**
 * CPU time of a process's threads in microseconds, split by priority: `niced` sums the threads
 * running at a nice value above 0 (Pulse's webhook sending thread), `rest` the others.
 */
export function threadCpuMicros(pid: number): { niced: number; rest: number } {
  const sum = { niced: 0, rest: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let thread: ReturnType<typeof readStat>;
    try {
      thread = readStat(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // the thread ended meanwhile
    }
    sum[thread.nice > 0 ? 'niced' : 'rest'] += thread.cpuMicros;
  }
  return sum;
}

/**
 * Bytes a process's threads other than the niced ones (see threadCpuMicros) passed to write()
 * (`wchar` of /proc/<pid>/task/<tid>/io): files and sockets alike. The database's write-ahead log
 * is most of what a server writes beyond its responses.
 */
export function unnicedWriteBytes(pid: number): number {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readStat(`/proc/${pid}/task/${tid}/stat`).nice > 0) continue;
      sum += Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      continue; // the thread ended meanwhile
    }
  }
  return sum;
}

/** Busy CPU time of the whole machine (all cores) in microseconds, from /proc/stat. */
export function machineBusyMicros(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1e6) / CLK_TCK;
}

/**
 * CPU used by everything but the server and this generator over a window, in % of one core.
 * This machine may be shared (other sessions' tests, databases): a busy neighbour skews results.
 */
export class NeighbourProbe {
  #machine = 0;
  #self = 0;
  #server = 0;
  #t = 0;
  constructor(private readonly serverPid: number) {}
  start(): void {
    this.#machine = machineBusyMicros();
    this.#self = processCpuMicros(process.pid);
    this.#server = processCpuMicros(this.serverPid);
    this.#t = performance.now();
  }
  stop(): number {
    const machine = machineBusyMicros() - this.#machine;
    const ours = processCpuMicros(process.pid) - this.#self + (processCpuMicros(this.serverPid) - this.#server);
    return Math.max(0, (machine - ours) / 10 / (performance.now() - this.#t));
  }
}

/** Neighbour load above this (% of one core) is reported as a warning. */
export const NEIGHBOUR_WARN_PCT = 15;

export interface ServerHandle {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Banner keys (Pulse only). */
  pk?: string;
  sk?: string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Arguments after `node` (script and its arguments). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Resolves the URL (and keys) once the accumulated stdout says the server is ready. */
  ready: (stdout: string) => { url: string; pk?: string; sk?: string } | undefined;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  timeoutMs?: number;
  /** The cores the server may run on (taskset's list); '0' unless a benchmark asks otherwise. */
  cores?: string;
}

/**
 * The caller's environment minus what would point a server child at the caller's own services:
 * a benchmark never inherits DATABASE_URL / REDIS_URL (or a schema / key prefix); it passes its
 * own explicitly.
 */
export function scrubbedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'PULSE_DB_SCHEMA', 'PULSE_REDIS_PREFIX', 'PULSE_DATA_DIR', 'PULSE_PORT', 'PULSE_SECRET']) delete env[k];
  return env;
}

/** Starts a server as `taskset -c 0 node …` (taskset execs node, so the child pid is node's; other cores: `cores`). */
export async function spawnServer(o: SpawnOptions): Promise<ServerHandle> {
  // BENCH_SERVER_NODE_FLAGS: extra node flags for every server child (profiling aids).
  const extra = process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const nodeArgs = [...extra, ...(o.nodeFlags ?? []), ...o.args];
  const cmd = hasTaskset ? 'taskset' : process.execPath;
  const args = hasTaskset ? ['-c', o.cores ?? '0', process.execPath, ...nodeArgs] : nodeArgs;
  const child = spawn(cmd, args, { env: { ...scrubbedEnv(), ...o.env }, stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  const found = await new Promise<{ url: string; pk?: string; sk?: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time; output so far:\n${out}`));
    }, o.timeoutMs ?? 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (${code}); output:\n${out}`));
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const r = o.ready(out);
      if (r) {
        clearTimeout(timer);
        resolve(r);
      }
    });
  });
  child.removeAllListeners('exit');
  child.stdout!.resume();
  return {
    child,
    pid: child.pid!,
    ...found,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Pulse's first-run banner: the URL and the keys. When stdout is not a terminal (as here) the
 * secret key is not printed but written to a 0600 file in the data dir whose path is printed.
 */
export function pulseReady(stdout: string) {
  const m = /Pulse is running at (\S+)/.exec(stdout);
  const pk = /Publishable key\s+(pk_\w+)/.exec(stdout);
  let sk = /Secret key\s+(sk_\w+)/.exec(stdout)?.[1];
  const file = /Secret key\s+not printed.*?written to (\S+)/.exec(stdout)?.[1];
  if (!sk && file) sk = /Secret key\s+(sk_\w+)/.exec(readFileSync(file, 'utf8'))?.[1];
  return m && pk && sk ? { url: m[1]!, pk: pk[1]!, sk } : undefined;
}

/** Baselines print `listening at http://127.0.0.1:PORT`. */
export function baselineReady(stdout: string) {
  const m = /listening at (\S+)/.exec(stdout);
  return m ? { url: m[1]! } : undefined;
}

/** Mints one Pulse user token per user id through POST /auth/token, `concurrency` at a time. */
export async function mintTokens(url: string, sk: string, userIds: string[], concurrency = 16): Promise<string[]> {
  const tokens = new Array<string>(userIds.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, userIds.length) }, async () => {
      while (next < userIds.length) {
        const i = next++;
        const r = await fetch(`${url}/auth/token`, {
          method: 'POST',
          headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' },
          body: JSON.stringify({ userId: userIds[i], name: `Bench ${userIds[i]}` }),
        });
        if (r.status !== 200) throw new Error(`POST /auth/token: ${r.status} ${await r.text()}`);
        tokens[i] = ((await r.json()) as { token: string }).token;
      }
    }),
  );
  return tokens;
}

/** Runs `fn` over 0..n-1, `concurrency` at a time. */
export async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/**
 * Latency histogram in milliseconds: 10 µs bins up to 100 ms, 1 ms bins up to 100 s, then one
 * overflow bin. Recording is an array increment, so millions of samples per second are cheap.
 */
export class LatencyHistogram {
  readonly #fine = new Uint32Array(10_000);
  readonly #coarse = new Uint32Array(99_900);
  #overflow = 0;
  count = 0;
  max = 0;
  sum = 0;

  record(ms: number): void {
    if (ms < 0) ms = 0;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
    if (ms < 100) this.#fine[(ms * 100) | 0]!++;
    else if (ms < 100_000) this.#coarse[(ms - 100) | 0]!++;
    else this.#overflow++;
  }

  /** Upper edge of the bin holding the p-th percentile. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.#fine.length; i++) if ((seen += this.#fine[i]!) >= rank) return (i + 1) / 100;
    for (let i = 0; i < this.#coarse.length; i++) if ((seen += this.#coarse[i]!) >= rank) return 100 + i + 1;
    return this.max;
  }

  reset(): void {
    this.#fine.fill(0);
    this.#coarse.fill(0);
    this.#overflow = 0;
    this.count = this.max = this.sum = 0;
  }
}

/** Event-loop lag and CPU of this (generator) process over a window. */
export class GeneratorProbe {
  // The histogram records the interval between its timer's runs: lag = value − resolution.
  static readonly RESOLUTION_MS = 10;
  readonly #lag: IntervalHistogram = monitorEventLoopDelay({ resolution: GeneratorProbe.RESOLUTION_MS });
  #cpu = process.cpuUsage();
  #t = performance.now();

  start(): void {
    this.#lag.reset();
    this.#lag.enable();
    this.#cpu = process.cpuUsage();
    this.#t = performance.now();
  }

  stop(): { lagP99Ms: number; lagMaxMs: number; cpuPct: number } {
    this.#lag.disable();
    const cpu = process.cpuUsage(this.#cpu);
    const wall = performance.now() - this.#t;
    return {
      lagP99Ms: Math.max(0, this.#lag.percentile(99) / 1e6 - GeneratorProbe.RESOLUTION_MS),
      lagMaxMs: Math.max(0, this.#lag.max / 1e6 - GeneratorProbe.RESOLUTION_MS),
      cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    };
  }
}

/** Generator saturation: its event loop fell behind by more than 50 ms (p99) or it used a whole core. */
export const generatorSaturated = (g: { lagP99Ms: number; cpuPct: number }) => g.lagP99Ms > 50 || g.cpuPct > 95;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Reads a JSON number written by JSON.stringify starting at byte `p` of `buf`, without making a
 * string. The index after the number is left in `numEnd`.
 */
export let numEnd = 0;
export function readNumber(buf: Buffer, p: number): number {
  const start = p;
  let neg = false;
  if (buf[p] === 0x2d) {
    neg = true;
    p++;
  }
  let v = 0;
  let c = buf[p]!;
  while (c >= 0x30 && c <= 0x39) {
    v = v * 10 + (c - 0x30);
    c = buf[++p]!;
  }
  if (c === 0x2e) {
    // Fraction digits as an integer, divided once: the same double JSON.parse would give for
    // the few digits written here.
    let frac = 0;
    let scale = 1;
    c = buf[++p]!;
    while (c >= 0x30 && c <= 0x39) {
      frac = frac * 10 + (c - 0x30);
      scale *= 10;
      c = buf[++p]!;
    }
    v += frac / scale;
  }
  if (c === 0x65 || c === 0x45) {
    // Exponent: rare here, let the engine do it.
    p++;
    while ((c = buf[p]!) === 0x2b || c === 0x2d || (c >= 0x30 && c <= 0x39)) p++;
    numEnd = p;
    return Number(buf.toString('latin1', start, p));
  }
  numEnd = p;
  return neg ? -v : v;
}

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}

/** A plain-text table with right-aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * Waits (up to maxWaitMs) until the machine has been nearly idle for one second, so that a run
 * does not start while another job (a test suite, a build) is using the cores. Returns the
 * busy % of one core seen last.
 */
export async function waitForQuiet(maxWaitMs = 60_000, busyPct = 10): Promise<number> {
  const until = performance.now() + maxWaitMs;
  let last = 0;
  for (;;) {
    const m0 = machineBusyMicros();
    const t0 = performance.now();
    await sleep(1000);
    last = (machineBusyMicros() - m0) / 10 / (performance.now() - t0);
    if (last < busyPct || performance.now() > until) return last;
  }
}

/**
 * Runs `fn` again (up to `retries` more times) while other processes used more than
 * NEIGHBOUR_WARN_PCT of a core during the run; returns the first quiet result, else the quietest.
 */
export async function runQuietly<T extends { neighbourPct: number }>(fn: () => Promise<T>, retries: number, label: string): Promise<T> {
  let best: T | undefined;
  for (let attempt = 0; ; attempt++) {
    const r = await fn();
    if (!best || r.neighbourPct < best.neighbourPct) best = r;
    if (r.neighbourPct <= NEIGHBOUR_WARN_PCT || attempt >= retries) return best;
    console.log(`  (${label}: other processes used ${r.neighbourPct.toFixed(0)}% of a core during the run; running it again)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup on every exit path: server children are killed and temp data removed on a normal end,
// an exception, SIGINT/SIGTERM, or the run's time bound; PostgreSQL schemas are dropped on the
// paths that can still run async code (normal end, exception caught by main, signal, time bound).

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const asyncCleanups = new Set<() => Promise<void>>();

function killChildrenSync(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** Runs the async cleanups (schema drops), each bounded to 5 s. */
export async function runCleanups(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  const all = [...asyncCleanups];
  asyncCleanups.clear();
  await Promise.all(all.map((f) => Promise.race([f().catch((e) => console.error(`cleanup failed: ${e}`)), sleep(5000)])));
  killChildrenSync();
}

process.once('exit', killChildrenSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping servers, removing temp data`);
    void runCleanups().finally(() => process.exit(130));
  });
}

/**
 * Bounds the whole run: after `minutes`, servers are stopped, temp data removed and the process
 * exits with code 2. Call once at the start of a benchmark.
 */
export function boundRun(minutes: number): void {
  setTimeout(() => {
    console.error(`\nthe run exceeded its bound of ${minutes} min: stopping`);
    void runCleanups().finally(() => process.exit(2));
  }, minutes * 60_000).unref();
}

/** A fresh temp dir, removed by `remove()` or at exit whatever happens. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      tempDirs.delete(path);
    },
  };
}

/** PostgreSQL the benchmarks use (trust auth, database `test`); PULSE_BENCH_PG_URL overrides. */
export const PG_URL = process.env.PULSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name, dropped by `drop()` or on a signal / time bound (the server creates it). */
export function pgSchema(tag: string): { name: string; drop: () => Promise<void> } {
  const name = `bench_${tag}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const drop = async () => {
    asyncCleanups.delete(drop);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(`drop schema if exists "${name}" cascade`);
    } finally {
      await c.end();
    }
  };
  asyncCleanups.add(drop);
  return { name, drop };
}

export type Driver = 'sqlite' | 'postgres';

/**
 * Starts Pulse (`pulse start`) or the naive baseline (bench/baseline/naive-comments.ts) on a temp
 * data dir and, with the postgres driver, a fresh schema. `stop()` stops the server and removes
 * both.
 */
export async function startComments(
  kind: 'pulse' | 'naive',
  driver: Driver,
  opts: { nodeFlags?: string[]; pinned?: boolean } = {},
): Promise<ServerHandle & { stopAndClean: () => Promise<void> }> {
  const dir = tempDir(`bench-${kind}-`);
  const schema = driver === 'postgres' ? pgSchema(kind) : undefined;
  const pgEnv =
    kind === 'pulse'
      ? schema && { DATABASE_URL: PG_URL, PULSE_DB_SCHEMA: schema.name }
      : schema && { NAIVE_DATABASE_URL: PG_URL, NAIVE_DB_SCHEMA: schema.name };
  try {
    const server =
      kind === 'pulse'
        ? await spawnServer({
            args: [PULSE_BIN, 'start'],
            env: { PULSE_DATA_DIR: dir.path, PULSE_PORT: '0', PULSE_LOG_LEVEL: 'warn', PULSE_MAX_CONNECTIONS_PER_IP: '0', ...pgEnv },
            ready: pulseReady,
            ...(opts.nodeFlags ? { nodeFlags: opts.nodeFlags } : {}),
          })
        : await spawnServer({
            args: ['--import', 'tsx', 'bench/baseline/naive-comments.ts'],
            env: { DATA_DIR: dir.path, PORT: '0', ...pgEnv },
            ready: baselineReady,
            ...(opts.nodeFlags ? { nodeFlags: opts.nodeFlags } : {}),
          });
    return {
      ...server,
      stopAndClean: async () => {
        await server.stop();
        dir.remove();
        await schema?.drop();
      },
    };
  } catch (err) {
    dir.remove();
    await schema?.drop();
    throw err;
  }
}

/** Resident set size of a process in kB (VmRSS from /proc/<pid>/status). */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export interface HttpResult {
  status: number;
  body: Buffer;
}

/**
 * One HTTP request on a keep-alive agent; rejects after `timeoutMs`. Lighter than fetch for a
 * load loop: no streams or Response objects, the body is read as one Buffer.
 */
export function httpRequest(
  agent: http.Agent,
  url: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  timeoutMs = 10_000,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, method, path, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export const keepAliveAgent = (maxSockets: number) => new http.Agent({ keepAlive: true, maxSockets });
