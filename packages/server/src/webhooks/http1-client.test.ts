import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Http1Client, type Http1Post } from './http1-client.ts';

// A self-signed certificate for localhost and 127.0.0.1, valid until 2126, made with:
// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 36500 -nodes -subj /CN=localhost
//   -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout tls-localhost.key -out tls-localhost.crt
const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url));
const CERT = fixture('tls-localhost.crt');
const KEY = fixture('tls-localhost.key');

const OK = 'HTTP/1.1 204 No Content\r\n\r\n';

/**
 * A raw TCP receiver: `answer(request, socket, n)` is called with each complete request (head and
 * Content-Length body) and the number of requests on that connection so far.
 */
async function receiver(answer: (request: string, socket: Socket, n: number) => void) {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(request.length);
        requests.push(request);
        answer(request, socket, ++n);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let connections = 0;
  server.on('connection', () => connections++);
  return {
    url: new URL(`http://127.0.0.1:${port}/hook?x=1`),
    requests,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

function clientFor(options?: ConstructorParameters<typeof Http1Client>[0]) {
  const client = new Http1Client(options);
  closers.push(() => client.close());
  return client;
}

const post = (client: Http1Client, url: URL, over: Partial<Http1Post> = {}) =>
  client.post({ url, headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' }, body: '{"a":"é"}', bodyCap: 64, timeoutMs: 2000, bodyGraceMs: 500, ...over });

const waitUntil = async (check: () => boolean, ms = 3000) => {
  for (const until = Date.now() + ms; !check(); ) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('webhook HTTP client', () => {
  it('sends one well-formed POST and reuses its connection for the next', async () => {
    const r = await receiver((_req, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nRetry-After: 3\r\n\r\nthanks'.replace('thanks', 'hello')));
    closers.push(r.close);
    const client = clientFor();
    for (let i = 0; i < 3; i++) {
      const answer = await post(client, r.url);
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe('hello');
      expect(answer.headers['retry-after']).toBe('3');
    }
    expect(r.connections()).toBe(1);
    expect(client.idleConnections).toBe(1);
    const [head, body] = r.requests[0]!.split('\r\n\r\n');
    expect(head!.split('\r\n')).toEqual([
      'POST /hook?x=1 HTTP/1.1',
      `host: ${r.url.host}`,
      'content-type: application/json',
      'webhook-id: msg_1',
      `content-length: ${Buffer.byteLength('{"a":"é"}')}`,
      'connection: keep-alive',
    ]);
    expect(Buffer.from(body!, 'latin1').toString('utf8')).toBe('{"a":"é"}');
  });

  it('sends again on a new connection when a reused one closes before answering', async () => {
    // The receiver closes every connection at its second request, unanswered: what a receiver
    // closing an idle connection just as a request goes out looks like.
    const r = await receiver((_req, socket, n) => (n === 1 ? socket.write(OK) : socket.destroy()));
    closers.push(r.close);
    const client = clientFor();
    expect((await post(client, r.url)).status).toBe(204);
    expect((await post(client, r.url)).status).toBe(204);
    expect(r.requests).toHaveLength(3);
    expect(r.connections()).toBe(2);
  });

  it('does not send again when a new connection closes before answering', async () => {
    const r = await receiver((_req, socket) => socket.destroy());
    closers.push(r.close);
    await expect(post(clientFor(), r.url)).rejects.toThrow('the connection closed before a complete response');
    expect(r.requests).toHaveLength(1);
  });

  it('closes a connection that is idle too long, or sends bytes nobody asked for', async () => {
    let extra = false;
    const r = await receiver((_req, socket) => {
      socket.write(OK);
      if (extra) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\n\r\n'), 50);
    });
    closers.push(r.close);
    const client = clientFor({ idleMs: 100 });
    await post(client, r.url);
    expect(client.idleConnections).toBe(1);
    await waitUntil(() => client.idleConnections === 0);
    extra = true;
    await post(client, r.url);
    expect(client.idleConnections).toBe(1);
    await waitUntil(() => client.idleConnections === 0, 1000);
    expect(r.connections()).toBe(2);
  });

  it('does not reuse a connection the receiver asked to close, or whose body went past the cap unread', async () => {
    // The second body is longer than the cap (64) and its end never comes.
    const answers = ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', `HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\n${'x'.repeat(70)}`, OK];
    const r = await receiver((_req, socket) => socket.write(answers.shift()!));
    closers.push(r.close);
    const client = clientFor();
    expect((await post(client, r.url)).status).toBe(200);
    const long = await post(client, r.url);
    expect([long.status, long.body.length]).toEqual([500, 64]);
    expect((await post(client, r.url)).status).toBe(204);
    expect(r.connections()).toBe(3);
  });

  it('sends nothing once aborted, even on a connection kept open', async () => {
    const r = await receiver((_req, socket) => socket.write(OK));
    closers.push(r.close);
    const client = clientFor();
    await post(client, r.url);
    expect(client.idleConnections).toBe(1);
    const stopped = new AbortController();
    stopped.abort();
    await expect(post(client, r.url, { signal: stopped.signal })).rejects.toThrow('aborted: the server is shutting down');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.requests).toHaveLength(1);
  });

  it('gives a body one grace period from the status, however it trickles', async () => {
    const r = await receiver((_req, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      const drip = setInterval(() => (socket.destroyed ? clearInterval(drip) : socket.write('x')), 100);
      socket.on('close', () => clearInterval(drip));
    });
    closers.push(r.close);
    const started = performance.now();
    const answer = await post(clientFor(), r.url, { timeoutMs: 5000, bodyGraceMs: 400 });
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it("keeps a connection idle no longer than the receiver's Keep-Alive timeout allows", async () => {
    const answers = ['HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=1\r\n\r\n', 'HTTP/1.1 204 No Content\r\nKeep-Alive: timeout=2\r\n\r\n'];
    const r = await receiver((_req, socket) => socket.write(answers.shift()!));
    closers.push(r.close);
    const client = clientFor();
    await post(client, r.url);
    expect(client.idleConnections).toBe(0); // 1 s, less the margin: not kept at all
    await post(client, r.url);
    expect(client.idleConnections).toBe(1);
    await waitUntil(() => client.idleConnections === 0, 2500); // kept about 1 s
  });

  it('reads a body that ends when the connection does', async () => {
    const r = await receiver((_req, socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nall of it'));
    closers.push(r.close);
    const answer = await post(clientFor(), r.url);
    expect([answer.status, answer.body.toString()]).toEqual([200, 'all of it']);
  });

  it('fails on a malformed response before the status, with what was wrong', async () => {
    const r = await receiver((_req, socket) => socket.write('HTTP/1.1 2xx\r\n\r\n'));
    closers.push(r.close);
    await expect(post(clientFor(), r.url)).rejects.toThrow('invalid HTTP response: bad status line');
  });

  it('refuses a header that would split the request, before connecting', async () => {
    const r = await receiver((_req, socket) => socket.write(OK));
    closers.push(r.close);
    const client = clientFor();
    await expect(post(client, r.url, { headers: { 'x-a': 'b\r\nx-injected: 1' } })).rejects.toThrow('refused: an invalid request header (x-a)');
    await expect(post(client, r.url, { headers: { 'x a': 'b' } })).rejects.toThrow('refused: an invalid request header');
    expect(r.connections()).toBe(0);
  });

  it('speaks HTTPS, checking the certificate against the name', async () => {
    const server = createHttpsServer({ cert: CERT, key: KEY }, (_req, res) => res.writeHead(204).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    let connections = 0;
    server.on('secureConnection', () => connections++);
    closers.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const client = clientFor();
    for (const host of ['localhost', '127.0.0.1', 'localhost']) {
      expect((await post(client, new URL(`https://${host}:${port}/hook`), { ca: CERT })).status).toBe(204);
    }
    expect(connections).toBe(2); // one per origin
    await expect(post(clientFor(), new URL(`https://localhost:${port}/`))).rejects.toThrow(/self-signed certificate/);
  });
});
