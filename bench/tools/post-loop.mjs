/**
 * The cheapest a webhook delivery can be in Node: a bare keep-alive HTTP client that signs each
 * body (HMAC-SHA256, as Standard Webhooks does) and posts it, at a fixed rate, up to `--seconds`.
 * Run pinned to the server's core by bench/webhooks.ts, which compares Pulse's CPU per delivery
 * with this one's CPU per request. Prints {"requests","answered","cpuUsPerRequest"}.
 *
 *   node bench/tools/post-loop.mjs URL RATE SECONDS BODY_BYTES
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';

const [url, rate, seconds, bodyBytes] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const agent = new http.Agent({ keepAlive: true });
const body = JSON.stringify({ type: 'comment.created', timestamp: new Date().toISOString(), data: { text: 'x'.repeat(Math.max(0, bodyBytes - 80)) } });
const secret = Buffer.alloc(32, 7);
let sent = 0;
let answered = 0;

const post = (n) => {
  const id = `msg_${n}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64');
  const headers = { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
  const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
    res.resume();
    res.on('end', () => answered++);
  });
  req.on('error', () => {});
  req.end(body);
};

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const timer = setInterval(() => {
  const elapsed = performance.now() - t0;
  for (const due = Math.floor((Math.min(elapsed, seconds * 1000) * rate) / 1000); sent < due; ) post(++sent);
  if (elapsed < seconds * 1000) return;
  clearInterval(timer);
  // The last answers, then the figure.
  setTimeout(() => {
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ requests: sent, answered, cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, answered) }));
    agent.destroy();
  }, 500);
}, 2);
