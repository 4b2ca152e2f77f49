import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Store } from '../store/index.ts';
import type { ClaimedDelivery, WebhookPass } from '../store/types.ts';
import { FRESH_DEPTH, WebhookDispatcher } from './dispatcher.ts';
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings } from './settings.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/** A store with no deliveries that counts the dispatcher's claims, with a set number of writes waiting. */
function fakeStore(pendingWrites: number) {
  const calls = { claims: 0 };
  const store = {
    dialect: 'postgres',
    pendingWrites: () => pendingWrites,
    pruneWebhooks: () => Promise.resolve(),
    webhookPass: ({ claim }: { claim: unknown }) => {
      if (claim) calls.claims++;
      return Promise.resolve({ disabledEndpoints: [], dispatched: 0, claimed: [] });
    },
    releaseAllWebhookClaims: () => Promise.resolve(),
  } as unknown as Store;
  return { store, calls };
}

/** Claims made in one second while commits kick the dispatcher every 10 ms. */
async function claimsPerSecond(pendingWrites: number): Promise<number> {
  const { store, calls } = fakeStore(pendingWrites);
  const dispatcher = new WebhookDispatcher(store, DEFAULT_WEBHOOK_SETTINGS, { warn: () => {} });
  await dispatcher.start();
  await vi.advanceTimersByTimeAsync(1000); // past the first pass
  const before = calls.claims;
  for (let t = 0; t < 1000; t += 10) {
    dispatcher.kick();
    await vi.advanceTimersByTimeAsync(10);
  }
  await dispatcher.close();
  return calls.claims - before;
}

describe('webhook dispatcher and the write path', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps passing over the outbox while a few writes wait (a busy but healthy writer)', async () => {
    // One pass per 25 ms at most: ~40 a second.
    expect(await claimsPerSecond(0)).toBeGreaterThanOrEqual(30);
    expect(await claimsPerSecond(1)).toBeGreaterThanOrEqual(30);
    expect(await claimsPerSecond(8)).toBeGreaterThanOrEqual(30);
  });

  it('steps aside while writes back up, but passes at least every 250 ms', async () => {
    const claims = await claimsPerSecond(9);
    expect(claims).toBeGreaterThanOrEqual(3);
    expect(claims).toBeLessThanOrEqual(5);
  });
});

type Pass = Awaited<ReturnType<Store['webhookPass']>>;

/** A store that only answers the dispatcher's passes, with `pass`. */
const passingStore = (pass: (p: WebhookPass) => Promise<Pass>) =>
  ({
    dialect: 'postgres',
    pendingWrites: () => 0,
    pruneWebhooks: () => Promise.resolve(),
    releaseAllWebhookClaims: () => Promise.resolve(),
    webhookPass: pass,
  }) as unknown as Store;

/** A pass's answer claiming `claimed` (fresh ones count as dispatched). */
const answer = (claimed: ClaimedDelivery[] = [], dispatched = claimed.length): Promise<Pass> => Promise.resolve({ disabledEndpoints: [], dispatched, claimed });

/** A delivery of event `msg_<n>` to `wh_1` at `url`: fresh (no row yet) unless `fresh` is false. */
function delivery(n: number | string, url: string, { fresh = true, ...fields }: Partial<ClaimedDelivery> & { fresh?: boolean } = {}): ClaimedDelivery {
  const at = new Date().toISOString();
  return {
    id: `whd_${n}`, environmentId: 'env', endpointId: 'wh_1', eventId: `msg_${n}`, eventType: 'comment.created', attempts: 0,
    giveUpAt: new Date(Date.now() + 3600_000).toISOString(), url, secret: 'whsec_AAAA', previousSecret: null, payload: '{}', eventCreatedAt: at,
    leaseUntil: new Date(Date.now() + 600_000).toISOString(),
    ...(fresh ? { freshSince: at } : {}),
    ...fields,
  };
}

/** A receiver on loopback answering with `handle`. */
async function receiver(handle: RequestListener) {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Starts a dispatcher on `store`, kicks it until `done()` (or `ms` pass), runs `check`, then stops it and the receiver. */
async function dispatchUntil(store: Store, settings: Partial<WebhookSettings>, done: () => boolean, ms: number, check: () => void | Promise<void>, hooks: { close: () => Promise<void> }) {
  const dispatcher = new WebhookDispatcher(store, { ...DEFAULT_WEBHOOK_SETTINGS, allowPrivate: true, ...settings }, { warn: () => {} });
  try {
    await dispatcher.start();
    const until = Date.now() + ms;
    while (!done() && Date.now() < until) {
      dispatcher.kick();
      await sleep(20);
    }
    await check();
  } finally {
    await dispatcher.close();
    await hooks.close();
  }
}

describe('webhook dispatcher: outcomes', () => {
  it('keeps the outcomes of a pass that failed for the next one, then records each once', async () => {
    const hooks = await receiver((_req, res) => res.writeHead(204).end());
    const claimedRow = delivery(1, `${hooks.base}/hook`, { fresh: false });
    const recorded: string[][] = [];
    let claimedOnce = false;
    let failNext = true;
    const store = passingStore(({ outcomes, claim }) => {
      // The first pass with an outcome fails (the database went away for a moment).
      if (outcomes.length && failNext) {
        failNext = false;
        return Promise.reject(new Error('connection lost'));
      }
      if (outcomes.length) recorded.push(outcomes.map((o) => o.delivery.id));
      const claimed = claim && !claimedOnce ? [claimedRow] : [];
      claimedOnce ||= claimed.length > 0;
      return answer(claimed, 0);
    });
    await dispatchUntil(store, {}, () => recorded.length > 0, 5000, () => {
      expect(failNext).toBe(false);
      expect(recorded).toEqual([['whd_1']]);
    }, hooks);
  });

  it("sends a claimed event's fresh deliveries, then records each with its outcome and the event as done; beyond an endpoint's depth, rows to send later", async () => {
    const hooks = await receiver((_req, res) => res.writeHead(204).end());
    // 8 events more than one endpoint may have waiting, in one pass (one request at a time).
    const fresh = Array.from({ length: FRESH_DEPTH + 8 }, (_, i) => delivery(i, `${hooks.base}/hook`));
    const recorded = new Map<string, 'sent' | 'later'>();
    const done: string[] = [];
    let dispatchedOnce = false;
    const store = passingStore(({ outcomes, eventsDone, dispatch }) => {
      for (const o of outcomes) {
        expect(recorded.has(o.delivery.id)).toBe(false);
        recorded.set(o.delivery.id, o.result ? 'sent' : 'later');
      }
      // An event is done in the pass that records its last delivery, or a later one.
      for (const id of eventsDone) expect(recorded.has(`whd_${id.slice(4)}`)).toBe(true);
      done.push(...eventsDone);
      const claimed = dispatch && !dispatchedOnce ? fresh : [];
      dispatchedOnce ||= claimed.length > 0;
      return answer(claimed);
    });
    await dispatchUntil(store, { concurrencyPerEndpoint: 1 }, () => done.length >= FRESH_DEPTH + 8, 5000, () => {
      expect([...recorded.values()].filter((v) => v === 'sent')).toHaveLength(FRESH_DEPTH);
      expect([...recorded.values()].filter((v) => v === 'later')).toHaveLength(8);
      expect(done.sort()).toEqual(fresh.map((d) => d.eventId).sort());
    }, hooks);
  });

  it('never marks an event done when the outcome of one of its deliveries was dropped (three failed passes)', async () => {
    const hooks = await receiver((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.writeHead(204).end(), 1500);
      else res.writeHead(500).end();
    });
    const fresh = ['fast', 'slow'].map((name) => delivery(`1${name}`, `${hooks.base}/${name}`, { endpointId: `wh_${name}`, eventId: 'msg_1' }));
    const recorded: string[] = [];
    const done: string[] = [];
    let dispatchedOnce = false;
    let failuresLeft = 3;
    const store = passingStore(({ outcomes, eventsDone, dispatch }) => {
      // The fast endpoint's outcome is in the three passes that fail: it is dropped.
      if ((outcomes.length || eventsDone.length) && failuresLeft > 0) {
        failuresLeft--;
        return Promise.reject(new Error('connection lost'));
      }
      recorded.push(...outcomes.map((o) => o.delivery.id));
      done.push(...eventsDone);
      const claimed = dispatch && !dispatchedOnce ? fresh : [];
      dispatchedOnce ||= claimed.length > 0;
      return answer(claimed);
    });
    await dispatchUntil(store, {}, () => recorded.includes('whd_1slow'), 5000, async () => {
      await sleep(100);
      expect(failuresLeft).toBe(0);
      expect(recorded).toEqual(['whd_1slow']);
      // Left claimed: once its lease lapses, the delivery without a row is made and sent again.
      expect(done).toEqual([]);
    }, hooks);
  });

  it("keeps an endpoint's deliveries in order once some went to rows for want of room: the next fresh ones follow them until a claim takes the rows", async () => {
    const hooks = await receiver((_req, res) => setTimeout(() => res.writeHead(204).end(), 10));
    const fresh = (i: number) => delivery(i, `${hooks.base}/hook`);
    const first = FRESH_DEPTH + 8;
    const outcome = new Map<string, 'sent' | 'later'>();
    const handedOver: string[] = [];
    const rows: ClaimedDelivery[] = [];
    let offered = 0;
    const sent = () => [...outcome.values()].filter((v) => v === 'sent').length;
    const store = passingStore(({ outcomes, dispatch, claim }) => {
      for (const o of outcomes) {
        outcome.set(o.delivery.id, o.result ? 'sent' : 'later');
        if (!o.result) {
          handedOver.push(o.delivery.id);
          rows.push({ ...o.delivery, freshSince: undefined });
        }
      }
      // 8 events more than the endpoint may have waiting at once (one request at a time), then 5 more once it has room,
      // then the rows, as many at a time as a claim takes (once all 13 are written and the endpoint
      // has less than a claim's worth waiting), then 5 more once the rows are all out.
      let claimed: ClaimedDelivery[] = [];
      if (dispatch && offered === 0) claimed = Array.from({ length: first }, (_, i) => fresh(i));
      else if (dispatch && offered === first && sent() >= 20) claimed = Array.from({ length: 5 }, (_, i) => fresh(first + i));
      else if (claim && !claim.skipEndpoints.includes('wh_1') && handedOver.length === 13 && rows.length) claimed = rows.splice(0, claim.limits.perEndpoint);
      else if (dispatch && offered === first + 5 && handedOver.length === 13 && !rows.length && !claim?.skipEndpoints.includes('wh_1')) claimed = Array.from({ length: 5 }, (_, i) => fresh(first + 5 + i));
      offered += claimed.filter((d) => d.freshSince).length;
      return answer(claimed);
    });
    await dispatchUntil(store, { concurrencyPerEndpoint: 1 }, () => sent() >= first + 10, 8000, () => {
      // The 8 written for want of room, then the 5 that came while they waited: rows, sent once claimed.
      expect(handedOver).toEqual(Array.from({ length: 13 }, (_, i) => `whd_${FRESH_DEPTH + i}`));
      // Every delivery sent, the last 5 from memory (the rows had all been claimed).
      expect(sent()).toBe(first + 10);
    }, hooks);
  });
});

describe('webhook dispatcher: a receiver that asks to be left alone', () => {
  it('sends an endpoint nothing for the time its Retry-After asks, then its deliveries; other endpoints go on', async () => {
    const times: { path: string; id: string; at: number }[] = [];
    let busy = true;
    const hooks = await receiver((req, res) => {
      times.push({ path: req.url!, id: String(req.headers['webhook-id']), at: Date.now() });
      if (req.url === '/busy' && busy) {
        busy = false;
        res.writeHead(429, { 'retry-after': '1' }).end();
      } else res.writeHead(204).end();
    });
    const fresh = [
      ...Array.from({ length: 6 }, (_, i) => delivery(i, `${hooks.base}/busy`)),
      ...Array.from({ length: 3 }, (_, i) => delivery(`b${i}`, `${hooks.base}/other`, { endpointId: 'wh_2' })),
    ];
    const rows: ClaimedDelivery[] = [];
    const sent = new Set<string>();
    let skippedWhilePaused = false;
    let dispatchedOnce = false;
    const store = passingStore(({ outcomes, dispatch, claim }) => {
      for (const o of outcomes) {
        if (o.result?.succeeded) sent.add(o.delivery.eventId);
        // Given back, or refused: a row, due again (the refused one on its own schedule, shortened here).
        else rows.push({ ...o.delivery, freshSince: undefined });
      }
      if (claim?.skipEndpoints.includes('wh_1') && !busy) skippedWhilePaused = true;
      let claimed: ClaimedDelivery[] = [];
      if (dispatch && !dispatchedOnce) claimed = fresh;
      else if (claim && !claim.skipEndpoints.includes('wh_1')) claimed = rows.splice(0);
      dispatchedOnce ||= claimed.length > 0;
      return answer(claimed);
    });
    await dispatchUntil(store, { concurrencyPerEndpoint: 1 }, () => sent.size === fresh.length, 8000, () => {
      expect(sent.size).toBe(fresh.length);
      expect(skippedWhilePaused).toBe(true);
      const busyHits = times.filter((t) => t.path === '/busy');
      // The refusal, then nothing for a second, then every delivery: the refused one again among them.
      expect(busyHits[1]!.at - busyHits[0]!.at).toBeGreaterThanOrEqual(1000);
      expect(busyHits.slice(1).map((t) => t.id).sort()).toEqual(fresh.slice(0, 6).map((d) => d.eventId).sort());
      // The other endpoint was not held up by it.
      for (const t of times.filter((h) => h.path === '/other')) expect(t.at).toBeLessThan(busyHits[1]!.at);
    }, hooks);
  });
});

describe('webhook dispatcher: hung receivers', () => {
  it("claims other endpoints' retries while a hung endpoint holds many fresh deliveries", async () => {
    const hooks = await receiver((req, res) => {
      req.resume();
      if (req.url !== '/hung') res.writeHead(204).end();
    });
    // More fresh deliveries for the hung endpoint than a node claims rows for while holding them.
    const fresh = Array.from({ length: 300 }, (_, i) => delivery(i, `${hooks.base}/hung`, { endpointId: 'wh_hung' }));
    const retry = delivery('retry', `${hooks.base}/ok`, { fresh: false, endpointId: 'wh_ok' });
    const recorded: string[] = [];
    let step = 0;
    const store = passingStore(({ outcomes, claim }) => {
      recorded.push(...outcomes.filter((o) => o.result && o.delivery.endpointId === 'wh_ok').map((o) => o.delivery.id));
      if (step === 0) {
        step = 1;
        return answer(fresh);
      }
      if (step === 1 && claim) {
        step = 2;
        return answer([retry], 0);
      }
      return answer();
    });
    // Attempts time out after a second: their claims hold for 8 more before they would be given back.
    await dispatchUntil(store, { timeoutMs: 1000 }, () => recorded.includes('whd_retry'), 3000, () => {
      expect(recorded).toEqual(['whd_retry']);
    }, hooks);
  });

  it("claims other endpoints' retries once hung endpoints holding many rows are known to be slow", async () => {
    const hooks = await receiver((req, res) => {
      req.resume();
      if (req.url !== '/hung') res.writeHead(204).end();
    });
    // 40 hung endpoints, one request at a time, each holding a claim's depth of rows: more than a node claims rows for.
    const rows = Array.from({ length: 40 }, (_, e) => Array.from({ length: 8 }, (_, n) => delivery(`${e}_${n}`, `${hooks.base}/hung`, { fresh: false, endpointId: `wh_hung${e}` }))).flat();
    const retry = delivery('retry', `${hooks.base}/ok`, { fresh: false, endpointId: 'wh_ok' });
    let hungOutcomes = 0;
    let hungOutcomesBeforeRetry = -1;
    let step = 0;
    const store = passingStore(({ outcomes, claim }) => {
      for (const o of outcomes) {
        if (o.delivery.endpointId !== 'wh_ok') hungOutcomes++;
        else if (o.result) hungOutcomesBeforeRetry = hungOutcomes;
      }
      if (step === 0 && claim) {
        step = 1;
        return answer(rows, 0);
      }
      if (step === 1 && claim) {
        step = 2;
        return answer([retry], 0);
      }
      return answer();
    });
    await dispatchUntil(store, { timeoutMs: 1000, concurrencyPerEndpoint: 1 }, () => hungOutcomesBeforeRetry >= 0, 5000, () => {
      // Claimed after the first attempts of the hung endpoints timed out, before any second one did.
      expect(hungOutcomesBeforeRetry).toBeGreaterThan(0);
      expect(hungOutcomesBeforeRetry).toBeLessThanOrEqual(40);
    }, hooks);
  });
});

describe('webhook dispatcher: order when deliveries run past their claim', () => {
  const byEvent = (a: ClaimedDelivery, b: ClaimedDelivery) => Number(a.eventId.slice(4)) - Number(b.eventId.slice(4));
  /** A pass's answer: `claimed`, after the rows asked for by `claim` from `rows` (oldest event first). */
  const withRows = (rows: ClaimedDelivery[], claim: WebhookPass['claim'], claimed: ClaimedDelivery[]) => {
    const due = claim && !claim.skipEndpoints.includes('wh_1') ? rows.sort(byEvent).splice(0, claim.limits.perEndpoint) : [];
    return answer([...due, ...claimed], claimed.length);
  };
  /** Keeps the deliveries a pass gives back (fresh ones written as pending rows, rows let go), as the store would. */
  const keepRows = (rows: ClaimedDelivery[], outcomes: WebhookPass['outcomes']) => {
    for (const o of outcomes) if (!o.result) rows.push({ ...o.delivery, freshSince: undefined });
  };

  /**
   * 12 events for one endpoint whose first 9 hang (their attempts time out after 400 ms, one at a
   * time): msg_9..12 run past their claim (at ~3,200 ms) and are given back while a pass is under
   * way, which then hands out `next(url)` (msg_100). It must come after msg_10..12. The times leave
   * a second or more between steps, so that a busy machine (a parallel test run) keeps their order.
   */
  async function givenBackMidPass(next: (url: string) => ClaimedDelivery) {
    const order: string[] = [];
    const hooks = await receiver((req, res) => {
      const id = String(req.headers['webhook-id']);
      req.resume();
      if (Number(id.slice(4)) <= 9) return;
      order.push(id);
      res.writeHead(204).end();
    });
    const url = `${hooks.base}/hook`;
    const rows: ClaimedDelivery[] = [];
    let start = 0;
    let step = 0;
    let givenBackBeforeThePass = false;
    const store = passingStore(async ({ outcomes, claim }) => {
      keepRows(rows, outcomes);
      if (step === 0) {
        step = 1;
        start = Date.now();
        return answer(Array.from({ length: 12 }, (_, i) => delivery(i + 1, url)));
      }
      // Well before the hung attempts run past their claim.
      if (step === 1 && Date.now() - start > 1900 && claim && !claim.skipEndpoints.includes('wh_1')) {
        step = 2;
        givenBackBeforeThePass = rows.length > 0;
        await sleep(4600 - (Date.now() - start));
        const d = next(url);
        return answer([d], d.freshSince ? 1 : 0);
      }
      return withRows(rows, claim, []);
    });
    const all = ['msg_10', 'msg_11', 'msg_12', 'msg_100'];
    await dispatchUntil(store, { timeoutMs: 400, concurrencyPerEndpoint: 1 }, () => all.every((id) => order.includes(id)), 12_000, () => {
      expect(step).toBe(2);
      expect(givenBackBeforeThePass).toBe(false);
      expect(order).toEqual(all);
    }, hooks);
  }

  it('keeps a later event behind the deliveries given back while a pass was under way', () => givenBackMidPass((url) => delivery(100, url)));

  it('does not send a row claimed by a pass under way ahead of the deliveries given back meanwhile', () =>
    givenBackMidPass((url) => delivery(100, url, { fresh: false })));

  it("keeps a slow endpoint's backlog ahead of its later events when its tail runs past the claim", async () => {
    const order: string[] = [];
    const hooks = await receiver((req, res) => {
      req.resume();
      order.push(String(req.headers['webhook-id']));
      setTimeout(() => res.writeHead(204).end(), 100);
    });
    const url = `${hooks.base}/hook`;
    const rows: ClaimedDelivery[] = [];
    let start = 0;
    let next = 100;
    const store = passingStore(({ outcomes, claim }) => {
      keepRows(rows, outcomes);
      // 24 events at once, more than one request at a time gets through before their claims run short, then 3 more, one per pass.
      if (start === 0) {
        start = Date.now();
        return withRows(rows, claim, Array.from({ length: 24 }, (_, i) => delivery(i + 1, url)));
      }
      return withRows(rows, claim, Date.now() - start > 1000 && next < 103 ? [delivery(next++, url)] : []);
    });
    const all = [...Array.from({ length: 24 }, (_, i) => `msg_${i + 1}`), 'msg_100', 'msg_101', 'msg_102'];
    await dispatchUntil(store, { timeoutMs: 200, concurrencyPerEndpoint: 1 }, () => all.every((id) => order.includes(id)), 10_000, () => {
      expect(order.filter((id, i) => order.indexOf(id) === i)).toEqual(all);
    }, hooks);
  });
});
