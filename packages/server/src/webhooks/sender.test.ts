import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebhookSender } from './sender.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const SECRET = `whsec_${Buffer.from('a sender test secret, 32 bytes!').toString('base64')}`;

/**
 * A receiver on loopback: answers 204, or not until `answerHeld()` (`hang`, or a path of /hung),
 * or 429 with `Retry-After: 1` (a path of /busy), and keeps what it got.
 */
let server: Server;
let url: string;
let hang = false;
const received: { headers: IncomingMessage['headers']; body: string }[] = [];
const held: ServerResponse[] = [];
const answerHeld = () => {
  for (const res of held.splice(0)) res.writeHead(204).end();
};

beforeEach(async () => {
  hang = false;
  received.length = 0;
  held.length = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      if (hang || req.url === '/hung') held.push(res);
      else if (req.url === '/busy') res.writeHead(429, { 'retry-after': '1' }).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const job = (over: Partial<Parameters<WebhookSender['send']>[0]> = {}) => ({
  url,
  payload: JSON.stringify({ type: 'comment.created', data: { n: 1 } }),
  eventId: 'evt_sender',
  secrets: [SECRET],
  timeoutMs: 5000,
  allowPrivate: true,
  endpointId: 'wh_1',
  concurrency: 8,
  startBy: Date.now() + 60_000,
  ...over,
});

const newSender = (maxInFlight = 64, slowAfterMs = 2000) => new WebhookSender({ maxInFlight, slowAfterMs });

/** Runs `test` with a new sender (at most `maxInFlight` requests at once, see SenderOptions), closed after. */
async function withSender(test: (sender: WebhookSender) => Promise<void>, maxInFlight?: number, slowAfterMs?: number): Promise<void> {
  const sender = newSender(maxInFlight, slowAfterMs);
  try {
    await test(sender);
  } finally {
    await sender.close();
  }
}
const ids = () => received.map((r) => String(r.headers['webhook-id']));

/** Nice values of this process's threads (Linux). */
function threadNiceness(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('webhook sender thread', () => {
  it('sends signed deliveries that a Standard Webhooks verifier accepts, several per message', async () => {
    const sender = newSender();
    try {
      const results = await Promise.all([1, 2, 3].map((n) => sender.send(job({ eventId: `evt_${n}` }))));
      expect(results.map((r) => [r.ok, r.statusCode])).toEqual([
        [true, 204],
        [true, 204],
        [true, 204],
      ]);
      expect(received).toHaveLength(3);
      for (const { headers, body } of received) {
        expect(() => new Webhook(SECRET).verify(body, headers as Record<string, string>)).not.toThrow();
      }
      expect(received.map((r) => r.headers['webhook-id']).sort()).toEqual(['evt_1', 'evt_2', 'evt_3']);
    } finally {
      await sender.close();
    }
  });

  it.runIf(process.platform === 'linux')('runs at a lower priority than the server thread', async () => {
    const before = threadNiceness().filter((n) => n > 0).length;
    const sender = newSender();
    try {
      await sender.send(job());
      expect(threadNiceness().filter((n) => n > 0).length).toBe(before + 1);
    } finally {
      await sender.close();
    }
  });

  it('answers a job it cannot sign with an error, and goes on with the next', async () => {
    const sender = newSender();
    try {
      const bad = await sender.send(job({ secrets: null as unknown as string[] }));
      expect(bad).toMatchObject({ ok: false, statusCode: null });
      expect(bad.error).toMatch(/^not sent: /);
      expect(await sender.send(job())).toMatchObject({ ok: true, statusCode: 204 });
    } finally {
      await sender.close();
    }
  });

  it('cuts requests in flight on abort (shutdown)', async () => {
    hang = true;
    const sender = newSender();
    try {
      const hung = [sender.send(job()), sender.send(job())];
      await waitUntil(() => received.length === 2);
      sender.abort();
      for (const result of await Promise.all(hung)) {
        expect(result).toMatchObject({ ok: false, statusCode: null, error: 'aborted: the server is shutting down' });
      }
    } finally {
      await sender.close();
    }
  });

  it('settles the jobs of a thread that dies on its own as not sent, and starts another for the next', async () => {
    hang = true;
    // The sender's threads, as they are posted to.
    const threads = new Set<Worker>();
    const original = Worker.prototype.postMessage;
    const spy = vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
      threads.add(this);
      return original.apply(this, args);
    });
    const sender = newSender();
    try {
      const hung = sender.send(job());
      await waitUntil(() => received.length === 1);
      expect(threads.size).toBe(1);
      const [first] = threads;
      await first!.terminate();
      // Not an attempt: the dispatcher lets its claim go and sends it again.
      expect(await hung).toMatchObject({ ok: false, statusCode: null, notSent: true, error: expect.stringMatching(/^the webhook sending thread exited/) });
      hang = false;
      expect(await sender.send(job())).toMatchObject({ ok: true, statusCode: 204 });
      expect(threads.size).toBe(2);
    } finally {
      spy.mockRestore();
      await sender.close();
    }
  });

  it("starts an endpoint's attempts in order, as many at a time as its concurrency, without waiting for the server's thread", async () => {
    hang = true;
    await withSender(async (sender) => {
      const a = [1, 2, 3, 4, 5].map((n) => sender.send(job({ eventId: `evt_a${n}`, concurrency: 2 })));
      const b = sender.send(job({ eventId: 'evt_b1', endpointId: 'wh_2', concurrency: 2 }));
      await waitUntil(() => received.length === 3);
      await sleep(50);
      expect(ids().sort()).toEqual(['evt_a1', 'evt_a2', 'evt_b1']);
      // Each answer lets the endpoint's next attempts start.
      for (const total of [5, 6]) {
        answerHeld();
        await waitUntil(() => received.length === total);
      }
      answerHeld();
      expect((await Promise.all([...a, b])).every((r) => r.ok)).toBe(true);
      expect(ids().filter((id) => id.startsWith('evt_a'))).toEqual(['evt_a1', 'evt_a2', 'evt_a3', 'evt_a4', 'evt_a5']);
    });
  });

  it('keeps to its limit of requests in flight over all endpoints', async () => {
    hang = true;
    await withSender(async (sender) => {
      const all = [1, 2, 3].map((n) => sender.send(job({ eventId: `evt_${n}`, endpointId: `wh_${n}` })));
      await waitUntil(() => received.length === 2);
      await sleep(50);
      expect(received).toHaveLength(2);
      answerHeld();
      await waitUntil(() => received.length === 3);
      answerHeld();
      expect((await Promise.all(all)).every((r) => r.ok)).toBe(true);
    }, 2);
  });

  it('gives waiting endpoints the free request slots in turn', async () => {
    hang = true;
    await withSender(async (sender) => {
      const a = [1, 2, 3].map((n) => sender.send(job({ eventId: `evt_a${n}` })));
      const b = [1, 2].map((n) => sender.send(job({ eventId: `evt_b${n}`, endpointId: 'wh_2' })));
      for (let total = 1; total <= 5; total++) {
        await waitUntil(() => received.length === total);
        answerHeld();
      }
      expect((await Promise.all([...a, ...b])).every((r) => r.ok)).toBe(true);
      expect(ids()).toEqual(['evt_a1', 'evt_b1', 'evt_a2', 'evt_b2', 'evt_a3']);
    }, 1);
  });

  it('keeps request slots for endpoints that answer while others hang', async () => {
    await withSender(async (sender) => {
      const hungUrl = url.replace('/hook', '/hung');
      const settled: string[] = [];
      const sendHung = (e: number, n: number) =>
        sender.send(job({ url: hungUrl, endpointId: `wh_hung${e}`, eventId: `evt_h${e}${n}`, concurrency: 2 })).then((r) => {
          settled.push(`evt_h${e}${n}`);
          return r;
        });
      // Two hung endpoints take the 4 slots shared by every endpoint, until they have hung for
      // slowAfterMs: then they count towards a second limit, kept for slow requests...
      const hung = [sendHung(1, 1), sendHung(1, 2), sendHung(2, 1), sendHung(2, 2)];
      await waitUntil(() => received.length === 4);
      await sleep(300);
      // ...and an endpoint that answers gets a slot.
      const ok = sender.send(job({ eventId: 'evt_ok' }));
      expect(await Promise.race([ok, sleep(3000, 'still waiting')])).toMatchObject({ ok: true, statusCode: 204 });
      expect(settled).toEqual([]);
      // A slow endpoint's next request starts in the second share, which is full.
      hung.push(sendHung(1, 3));
      await sleep(300);
      expect(ids()).toEqual(['evt_h11', 'evt_h21', 'evt_h12', 'evt_h22', 'evt_ok']);
      answerHeld();
      await waitUntil(() => received.length === 6);
      answerHeld();
      expect((await Promise.all(hung)).every((r) => r.ok)).toBe(true);
      expect(ids().at(-1)).toBe('evt_h13');
    }, 4, 100);
  });

  it('never has more than twice maxInFlight requests in flight, however many endpoints hang', async () => {
    await withSender(async (sender) => {
      const hungUrl = url.replace('/hook', '/hung');
      const hung = [1, 2, 3, 4, 5].map((e) => sender.send(job({ url: hungUrl, endpointId: `wh_hung${e}`, eventId: `evt_h${e}`, concurrency: 1 })));
      await waitUntil(() => received.length === 2);
      await sleep(500);
      expect(received).toHaveLength(2);
      while (received.length < 5) {
        answerHeld();
        await sleep(50);
      }
      answerHeld();
      expect((await Promise.all(hung)).every((r) => r.ok)).toBe(true);
    }, 1, 100);
  });

  it('counts a request that timed out sooner than slowAfterMs as slow', async () => {
    await withSender(async (sender) => {
      const hungUrl = url.replace('/hook', '/hung');
      expect(await sender.send(job({ url: hungUrl, endpointId: 'wh_hung', eventId: 'evt_h1', timeoutMs: 200 }))).toMatchObject({ ok: false, statusCode: null });
      // Its next request starts in the slow share (its only slot is taken by the other hung endpoint's), so it waits.
      const other = sender.send(job({ url: hungUrl, endpointId: 'wh_other', eventId: 'evt_o1' }));
      await waitUntil(() => received.length === 2);
      await sleep(400);
      const next = sender.send(job({ url: hungUrl, endpointId: 'wh_hung', eventId: 'evt_h2', timeoutMs: 200 }));
      await sleep(100);
      expect(ids()).toEqual(['evt_h1', 'evt_o1']);
      answerHeld();
      await other;
      await next;
    }, 1, 300);
  });

  it('answers an attempt that could not start in time as not sent, without sending it', async () => {
    hang = true;
    await withSender(async (sender) => {
      const first = sender.send(job({ eventId: 'evt_1', concurrency: 1 }));
      // Waits behind the first until past its start-by time.
      const late = sender.send(job({ eventId: 'evt_2', concurrency: 1, startBy: Date.now() + 100 }));
      await waitUntil(() => received.length === 1);
      await sleep(200);
      answerHeld();
      expect(await first).toMatchObject({ ok: true });
      expect(await late).toMatchObject({ ok: false, notSent: true, error: expect.stringMatching(/claim would run out/) });
      expect(ids()).toEqual(['evt_1']);
    });
  });

  it("gives back an endpoint's jobs behind one that could not start in time, and those that follow until one resumes", async () => {
    hang = true;
    await withSender(async (sender) => {
      const first = sender.send(job({ eventId: 'evt_1', concurrency: 1 }));
      const late = sender.send(job({ eventId: 'evt_2', concurrency: 1, startBy: Date.now() + 100 }));
      const behind = sender.send(job({ eventId: 'evt_3', concurrency: 1 }));
      const other = sender.send(job({ eventId: 'evt_b', endpointId: 'wh_2' }));
      await waitUntil(() => received.length === 2);
      for (const result of await Promise.all([late, behind])) expect(result).toMatchObject({ ok: false, notSent: true, expired: true });
      // Sent before the server's thread saw the answers: given back too.
      expect(await sender.send(job({ eventId: 'evt_4', concurrency: 1 }))).toMatchObject({ notSent: true, expired: true });
      answerHeld();
      expect(await first).toMatchObject({ ok: true });
      expect(await other).toMatchObject({ ok: true });
      hang = false;
      expect(await sender.send(job({ eventId: 'evt_5', concurrency: 1, resume: true }))).toMatchObject({ ok: true });
      expect(ids().sort()).toEqual(['evt_1', 'evt_5', 'evt_b']);
    });
  });

  it("gives back an endpoint's jobs behind an answer with Retry-After, and those that follow until one resumes after the time asked for", async () => {
    await withSender(async (sender) => {
      const busy = url.replace(/\/hook$/, '/busy');
      const jobs = ['evt_1', 'evt_2', 'evt_3'].map((eventId) => sender.send(job({ eventId, url: busy, concurrency: 1 })));
      const other = sender.send(job({ eventId: 'evt_b', endpointId: 'wh_2' }));
      const [first, ...behind] = await Promise.all(jobs);
      const pausedAt = performance.now();
      expect(first).toMatchObject({ ok: false, statusCode: 429, retryAfterMs: 1000 });
      for (const result of behind) expect(result).toMatchObject({ ok: false, notSent: true, paused: true, error: expect.stringMatching(/Retry-After/) });
      expect(await sender.send(job({ eventId: 'evt_4', concurrency: 1 }))).toMatchObject({ notSent: true, paused: true });
      expect(await other).toMatchObject({ ok: true });
      // A resume handed over before the time asked for has passed (the server's thread had not
      // seen the answer yet) ends nothing.
      expect(await sender.send(job({ eventId: 'evt_5', concurrency: 1, resume: true }))).toMatchObject({ notSent: true, paused: true });
      await sleep(1050 - (performance.now() - pausedAt));
      expect(await sender.send(job({ eventId: 'evt_6', concurrency: 1, resume: true }))).toMatchObject({ ok: true });
      expect(ids().sort()).toEqual(['evt_1', 'evt_6', 'evt_b']);
    });
  });

  it('answers the attempts not started as not sent on drop (shutdown), and lets those in flight finish', async () => {
    hang = true;
    await withSender(async (sender) => {
      const started = sender.send(job({ eventId: 'evt_1', concurrency: 1 }));
      const waiting = [2, 3].map((n) => sender.send(job({ eventId: `evt_${n}`, concurrency: 1 })));
      await waitUntil(() => received.length === 1);
      // Handed over in the same turn as the drop: never started either.
      const handedLast = sender.send(job({ eventId: 'evt_9', endpointId: 'wh_9' }));
      sender.drop();
      for (const result of await Promise.all([...waiting, handedLast])) expect(result).toMatchObject({ ok: false, notSent: true, error: 'the server is shutting down' });
      answerHeld();
      expect(await started).toMatchObject({ ok: true, statusCode: 204 });
      expect(ids()).toEqual(['evt_1']);
    });
  });

  it('settles what is still in flight when closed', async () => {
    hang = true;
    const sender = newSender();
    const hung = sender.send(job());
    await waitUntil(() => received.length === 1);
    await sender.close();
    // Not an attempt: the dispatcher lets its claim go.
    expect(await hung).toMatchObject({ ok: false, statusCode: null, error: 'the server is shutting down', notSent: true });
  });
});

async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await sleep(10);
  }
}
