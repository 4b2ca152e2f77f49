/**
 * Searches over a large environment, and how long they hold the server's thread. One process:
 * a SQLite store in a temp dir with --users users (one environment), then, each --runs times:
 *
 *   panel search    browseUsers with a search matching ~10 users, and one matching none
 *                   (GET /panel/api/environments/:id/users?search=)
 *   panel page      browseUsers page 1 and page 2000, no search
 *   directory       searchUsers (the widget's @mention suggestions, GET /api/v1/directory/users?q=)
 *                   with a rare text and with a common one
 *
 * Reported per read: its time, and the longest event-loop stall meanwhile (a 5 ms timer that
 * notes how late it ran; read after the call, so a stall at its very end is counted too).
 *
 *   npx tsx bench/search-stall.ts [--users 1000000] [--runs 2]
 */
import BetterSqlite3 from 'better-sqlite3';
import { parseArgs } from 'node:util';
import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { openSqliteStore } from '../packages/server/src/store/sqlite.ts';
import { table, tempDir } from './lib.ts';

const { values } = parseArgs({ options: { users: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '2' } } });
const USERS = Number(values.users);
const RUNS = Number(values.runs);

const dir = tempDir('pulse-search-');
const file = `${dir.path}/pulse.db`;
const store = openSqliteStore({ file });
try {
  await store.migrate();
  await store.createEnvironment({ id: 'env_x', name: 'x', createdAt: new Date().toISOString(), config: { ...DEFAULT_ENV_CONFIG } }, []);
  const raw = new BetterSqlite3(file);
  const insert = raw.prepare("insert into users (environment_id, external_id, name, avatar, color, created_at, updated_at) values ('env_x', ?, ?, null, '#6366f1', ?, ?)");
  raw.transaction(() => {
    for (let i = 0; i < USERS; i++) {
      const at = new Date(1.7e12 + i * 1000).toISOString();
      insert.run(`user-${i}`, `Name ${i}`, at, at);
    }
  })();
  raw.close();
  console.log(`${USERS} users in one environment (SQLite); node ${process.version}`);

  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  const rare = `name ${Math.floor(USERS / 80)}`; // "name 12500" matches 11 users of a million
  const reads: [string, () => Promise<unknown>][] = [
    [`panel search "${rare}"`, () => store.browseUsers('env_x', { offset: 0, limit: 20, search: rare })],
    ['panel search "zzz" (none)', () => store.browseUsers('env_x', { offset: 0, limit: 20, search: 'zzz' })],
    ['panel page 1', () => store.browseUsers('env_x', { offset: 0, limit: 20 })],
    ['panel page 2000', () => store.browseUsers('env_x', { offset: 1999 * 20, limit: 20 })],
    [`directory "${rare}"`, () => store.searchUsers('env_x', rare, 10)],
    ['directory "zzz" (none)', () => store.searchUsers('env_x', 'zzz', 10)],
    ['directory "name 1" (common)', () => store.searchUsers('env_x', 'name 1', 10)],
  ];
  const rows: string[][] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const [name, read] of reads) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      worst = 0;
      last = performance.now();
      const t0 = performance.now();
      await read();
      const took = performance.now() - t0;
      await new Promise((resolve) => setTimeout(resolve, 20)); // a stall at the end shows here
      rows.push([String(run), name, took.toFixed(0), worst.toFixed(1)]);
    }
  }
  clearInterval(timer);
  console.log(table(['run', 'read', 'ms', 'longest stall ms'], rows));
} finally {
  await store.close();
  dir.remove();
}
