/**
 * Webhook receivers for bench/webhooks.ts, in their own process so that receiving deliveries
 * never delays the generator's event loop (which times the comment acks). Opens N loopback
 * servers answering 204 at once; over IPC it sends `{ urls }` when ready, and answers each
 * `{ op }` message with `{ count, bytes, lag }`:
 *   - `stats`: deliveries received so far and their body bytes;
 *   - `lag-on` / `lag-off`: starts / stops recording each delivery's lag (receipt minus the
 *     event's `timestamp`), `lag-off` answering the p50 and p99 in ms.
 *
 *   fork('bench/tools/receivers.mjs', [N])
 */
import { createServer } from 'node:http';

const n = Number(process.argv[2] ?? 1);
let count = 0;
let bytes = 0;
let lags = null;

const servers = await Promise.all(
  Array.from({ length: n }, async () => {
    const server = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        count++;
        bytes += body.length;
        if (lags) lags.push(Date.now() - Date.parse(JSON.parse(body.toString()).timestamp));
        res.writeHead(204).end();
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server;
  }),
);

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : 0);

process.on('message', (msg) => {
  let lag;
  if (msg.op === 'lag-on') lags = [];
  if (msg.op === 'lag-off' && lags) {
    const sorted = lags.sort((a, b) => a - b);
    lag = { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    lags = null;
  }
  process.send({ count, bytes, lag });
});
process.on('disconnect', () => {
  for (const s of servers) s.close();
  process.exit(0);
});
process.send({ urls: servers.map((s) => `http://127.0.0.1:${s.address().port}/hooks`) });
