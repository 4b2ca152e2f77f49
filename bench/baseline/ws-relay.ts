/**
 * Baseline for bench/cursor-fanout.ts: the least a cursor relay can do. A bare `ws` server, no
 * auth, no validation, no batching: every message is relayed as is to every other socket of the
 * room named in the URL (`ws://host:port/?room=NAME`). Prints `listening at http://…` when ready.
 *
 *   PORT=0 npx tsx bench/baseline/ws-relay.ts
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });

wss.on('connection', (ws, req) => {
  const name = new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
  let room = rooms.get(name);
  if (!room) rooms.set(name, (room = new Set()));
  const members = room;
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const other of members) if (other !== ws && other.readyState === 1) other.send(data, { binary: isBinary });
  });
  ws.on('close', () => {
    members.delete(ws);
    if (members.size === 0) rooms.delete(name);
  });
  ws.on('error', () => {});
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening at http://127.0.0.1:${port}\n`);
});
const stop = () => {
  wss.close();
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
