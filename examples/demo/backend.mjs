// What your backend adds to use Pulse: one route that mints a token for the signed-in user.
//
//   PULSE_SECRET_KEY=sk_… node examples/demo/backend.mjs
//   curl -s -H 'Cookie: session=s-alice' http://127.0.0.1:3000/pulse-token
//
// Settings (environment): PORT (3000), HOST (127.0.0.1; 0.0.0.0 for other machines), PULSE_URL (http://127.0.0.1:4567), PULSE_SECRET_KEY (sk_…,
// printed by the first `pulse start`), PAGE_ORIGIN (the origin of the page with the widget, when it
// is not served by this backend: http://localhost:5173 for a Vite dev server).
import { createServer } from 'node:http';

const PORT = Number(process.env.PORT ?? 3000);
const PULSE_URL = process.env.PULSE_URL ?? 'http://127.0.0.1:4567';
const SECRET_KEY = process.env.PULSE_SECRET_KEY; // keep it on the server, never in the page
const PAGE_ORIGIN = process.env.PAGE_ORIGIN;
if (!SECRET_KEY?.startsWith('sk_')) {
  console.error('Set PULSE_SECRET_KEY to your environment\'s secret key (sk_…, printed by the first `pulse start`).');
  process.exit(1);
}

// Stand-in for your sessions and users: replace signedInUser() with your own lookup.
const SESSIONS = { 's-alice': { id: 'alice', name: 'Alice Chen' }, 's-bob': { id: 'bob', name: 'Bob Smith' } };
function signedInUser(req) {
  const session = /(?:^|;\s*)session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  return SESSIONS[session];
}

const server = createServer(async (req, res) => {
  // The page may live on another origin: let it (and only it) call us with its cookies.
  if (PAGE_ORIGIN && req.headers.origin === PAGE_ORIGIN) {
    res.setHeader('access-control-allow-origin', PAGE_ORIGIN);
    res.setHeader('access-control-allow-credentials', 'true');
  }
  res.setHeader('vary', 'Origin');
  if (req.method === 'OPTIONS') return res.writeHead(204).end();
  if (req.method !== 'GET' || new URL(req.url, 'http://x').pathname !== '/pulse-token') return res.writeHead(404).end();

  const user = signedInUser(req);
  if (!user) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"not signed in"}');
  try {
    const pulse = await fetch(`${PULSE_URL}/auth/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: user.id, name: user.name }),
    });
    // { token, expiresAt, user } on success, { error: { code, message } } otherwise.
    res.writeHead(pulse.status, { 'content-type': 'application/json' }).end(await pulse.text());
  } catch (err) {
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `Pulse is not reachable at ${PULSE_URL}: ${err.message}` }));
  }
});
server.listen(PORT, process.env.HOST ?? '127.0.0.1', () => {
  console.log(`Token route: http://localhost:${server.address().port}/pulse-token (Pulse at ${PULSE_URL})`);
});
