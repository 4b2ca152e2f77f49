// What your backend adds to use Pulse: one route that mints a token for the signed-in user.
// Run: PULSE_URL=http://127.0.0.1:4567 PULSE_SECRET_KEY=sk_… node examples/demo/backend.mjs
// then GET http://127.0.0.1:3000/pulse-token?user=alice
import { createServer } from 'node:http';

const PULSE_URL = process.env.PULSE_URL ?? 'http://127.0.0.1:4567';
const SECRET_KEY = process.env.PULSE_SECRET_KEY; // sk_…: keep it on the server, never in the page

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== '/pulse-token') return res.writeHead(404).end();
  // Replace with your own session lookup: who is signed in?
  const user = { userId: url.searchParams.get('user') ?? 'alice', name: 'Alice Chen' };
  const pulse = await fetch(`${PULSE_URL}/auth/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  res.writeHead(pulse.status, { 'content-type': 'application/json' }).end(await pulse.text());
}).listen(3000, '127.0.0.1', () => console.log('token route on http://127.0.0.1:3000/pulse-token'));
