/**
 * The cheapest a webhook delivery can be in Node: keep-alive TCP connections, each request one
 * write of a prebuilt head and body (signed with HMAC-SHA256, as Standard Webhooks does), each
 * answer read for its Content-Length only, at a fixed rate, up to `--seconds`. No HTTP library:
 * `node:http` with a keep-alive agent costs about twice this per request. Run pinned to the
 * server's core by bench/webhooks.ts, which compares Pulse's CPU per delivery with this one's
 * CPU per request. Prints {"requests","answered","cpuUsPerRequest"}.
 *
 *   node bench/tools/post-loop.mjs URL RATE SECONDS BODY_BYTES
 */
import { createHmac } from 'node:crypto';
import net from 'node:net';

const [url, rate, seconds, bodyBytes] = [new URL(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const CONNECTIONS = 4;
const body = JSON.stringify({ type: 'comment.created', timestamp: new Date().toISOString(), data: { text: 'x'.repeat(Math.max(0, bodyBytes - 80)) } });
const secret = Buffer.alloc(32, 7);
let sent = 0;
let answered = 0;
const idle = [];
const waiting = [];

function write(socket, n) {
  const id = `msg_${n}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64');
  socket.write(
    `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `webhook-id: ${id}\r\nwebhook-timestamp: ${timestamp}\r\nwebhook-signature: v1,${signature}\r\n\r\n${body}`,
  );
}

function connect() {
  const socket = net.connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  let buffered = '';
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1');
    const end = buffered.indexOf('\r\n\r\n');
    if (end === -1) return;
    const length = Number(/content-length:\s*(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
    if (buffered.length < end + 4 + length) return;
    buffered = buffered.slice(end + 4 + length);
    answered++;
    const next = waiting.shift();
    if (next === undefined) idle.push(socket);
    else write(socket, next);
  });
  socket.on('error', () => {});
  return socket;
}

for (let i = 0; i < CONNECTIONS; i++) idle.push(connect());

const post = (n) => {
  const socket = idle.pop();
  if (socket) write(socket, n);
  else waiting.push(n);
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
    process.exit(0);
  }, 500);
}, 2);
