/**
 * Profiling aid, loaded into a server child with `node --import ./bench/tools/sql-timing.mjs`:
 * times every better-sqlite3 statement execution (run/get/all/iterate) by SQL text and, at exit,
 * writes the totals (calls, total ms, µs per call, rows returned) to $SQL_TIMING_OUT as JSON
 * (`%p` in it: the process id).
 * Adds a little overhead per statement; use it to rank queries, not to time the server.
 */
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const stats = new Map();
let patched = false;

function patch(proto) {
  for (const name of ['run', 'get', 'all', 'iterate']) {
    const original = proto[name];
    proto[name] = function (...args) {
      const t0 = process.hrtime.bigint();
      const result = original.apply(this, args);
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      let s = stats.get(this.source);
      if (!s) stats.set(this.source, (s = { sql: this.source, calls: 0, totalMs: 0, rows: 0 }));
      s.calls++;
      s.totalMs += us / 1000;
      if (Array.isArray(result)) s.rows += result.length;
      return result;
    };
  }
}

const prepare = Database.prototype.prepare;
Database.prototype.prepare = function (sql) {
  const stmt = prepare.call(this, sql);
  if (!patched) {
    patch(Object.getPrototypeOf(stmt));
    patched = true;
  }
  return stmt;
};

process.on('exit', () => {
  // `%p` in the name stands for the process id (a benchmark may start several servers).
  const out = process.env.SQL_TIMING_OUT?.replace('%p', String(process.pid));
  if (!out) return;
  const rows = [...stats.values()].sort((a, b) => b.totalMs - a.totalMs).map((s) => ({ ...s, usPerCall: (s.totalMs * 1000) / s.calls }));
  writeFileSync(out, JSON.stringify(rows, null, 1));
});
