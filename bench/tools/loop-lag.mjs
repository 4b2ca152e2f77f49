/**
 * Profiling aid, loaded into a server child with `node --import ./bench/tools/loop-lag.mjs`:
 * samples the server's own event-loop delay and, at exit, writes p50/p99/max (ms) and the
 * seconds spent with the loop blocked longer than 100 ms / 1 s to $LOOP_LAG_OUT as JSON.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
// Long stalls, measured directly: a 10 ms timer that notes how late it ran.
const stalls = { over100ms: 0, over1s: 0, longestMs: 0 };
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - last - 10;
  last = now;
  if (late > 100) stalls.over100ms += late / 1000;
  if (late > 1000) stalls.over1s += late / 1000;
  if (late > stalls.longestMs) stalls.longestMs = late;
}, 10).unref();

process.on('exit', () => {
  const out = process.env.LOOP_LAG_OUT;
  if (!out) return;
  writeFileSync(
    out,
    JSON.stringify({
      p50Ms: h.percentile(50) / 1e6 - 10,
      p99Ms: h.percentile(99) / 1e6 - 10,
      maxMs: h.max / 1e6 - 10,
      secondsStalledOver100ms: +stalls.over100ms.toFixed(2),
      secondsStalledOver1s: +stalls.over1s.toFixed(2),
      longestStallMs: Math.round(stalls.longestMs),
    }),
  );
});
