import { execFileSync } from 'node:child_process';
import type { BrowserContext, Page } from 'playwright-core';
import * as Y from 'yjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { p2pOf } from '../packages/server/src/p2p/index.ts';
import { mintToken } from '../packages/server/test/helpers/clients.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, watchConsole, type BrowserSession } from './helpers/browser.ts';

/**
 * P2P shared data between real Chromium contexts: each loads /sdk/pulse-client.js (the client
 * bundle) and joins a room. WebRTC between headless contexts on one machine needs loopback
 * candidates and plain IPs (no mDNS).
 */
const WEBRTC_FLAGS = ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'];

declare global {
  interface Window {
    pulse: {
      client: any;
      p2p: any;
      errors: string[];
      messages: unknown[];
    };
  }
}

describe.skipIf(!browserAvailable)('P2P shared data in Chromium', () => {
  let t: TestServer;
  let s: BrowserSession;
  const contexts: BrowserContext[] = [];
  const consoleErrors: string[][] = [];
  const service = () => p2pOf(t.server.hub)!;
  const config = (patch: Record<string, unknown>) => t.server.ctx.environments.updateConfig(t.envId, patch);

  /** A browser context with a PulseClient from /sdk/pulse-client.js in `room`, its P2P manager ready. */
  const peer = async (userId: string, room: string): Promise<Page> => {
    const context = await s.context();
    contexts.push(context);
    // Keeps the page's peer connections at hand, so a test can cut a link.
    await context.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      const made: RTCPeerConnection[] = ((window as any).peerConnections = []);
      window.RTCPeerConnection = class extends Native {
        constructor(config?: RTCConfiguration) {
          super(config);
          made.push(this);
        }
      };
    });
    const page = await context.newPage();
    consoleErrors.push(watchConsole(page));
    await page.goto(`${t.url}/healthz`);
    const token = await mintToken(t, userId);
    // A string, not a function: the test runner would rewrite a function's import().
    const args = JSON.stringify({ url: t.url, apiKey: t.publishableKey, token, room });
    await page.evaluate(`(async () => {
      const { url, apiKey, token, room } = ${args};
      const { PulseClient } = await import(url + '/sdk/pulse-client.js');
      const client = new PulseClient({ apiKey, token, room, endpoint: url });
      client.connect();
      const p2p = await client.p2p;
      window.pulse = { client, p2p, errors: [], messages: [] };
      p2p.on('error', (e) => window.pulse.errors.push(e.code));
      p2p.on('message', (m) => window.pulse.messages.push(m));
    })()`);
    return page;
  };
  const transport = (page: Page) => page.evaluate(() => window.pulse.p2p.transport as string);
  const openChannels = (page: Page) => page.evaluate(() => [...window.pulse.p2p.peers.values()].filter((p: any) => p.dataChannelOpen).length);
  const snapshot = (page: Page) =>
    page.evaluate(() => {
      const p = window.pulse.p2p;
      // Keys sorted: a map's iteration order is each peer's own arrival order.
      const map = Object.fromEntries(p.sharedMap('cards').entries().sort(([a]: [string], [b]: [string]) => (a < b ? -1 : 1)));
      return JSON.stringify({ map, list: p.sharedList('order').toArray(), counter: p.sharedCounter('votes').value });
    });
  /** The room's state as the server stored it, in the shape of `snapshot`. */
  const stored = async (room: string) => {
    const rec = await t.server.ctx.store.getSharedState(t.envId, room);
    if (!rec) return undefined;
    const doc = new Y.Doc();
    Y.applyUpdate(doc, rec.state);
    const map = Object.fromEntries([...doc.getMap('map:cards').entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    const counter = [...doc.getMap<number>('counter:votes').values()].reduce((a, b) => a + b, 0);
    return JSON.stringify({ map, list: doc.getArray('list:order').toArray(), counter });
  };
  const converged = async (pages: Page[]) => {
    const all = await Promise.all(pages.map(snapshot));
    return all.every((x) => x === all[0]) ? all[0]! : undefined;
  };
  /** Each page makes `n` concurrent edits of the map, the list and the counter. */
  const edit = (pages: Page[], n: number, tag = '') =>
    Promise.all(
      pages.map((page, i) =>
        page.evaluate(
          async ({ i, n, tag }) => {
            const p = window.pulse.p2p;
            for (let k = 0; k < n; k++) {
              p.sharedMap('cards').set(`c${tag}${i}-${k}`, { by: i, k });
              p.sharedMap('cards').set('contested', i);
              p.sharedList('order').push(`c${tag}${i}-${k}`);
              p.sharedCounter('votes').increment();
              await new Promise((r) => setTimeout(r, 5));
            }
          },
          { i, n, tag },
        ),
      ),
    );
  const closeAll = async () => {
    for (const c of contexts.splice(0)) await c.close().catch(() => {});
  };

  beforeAll(async () => {
    // The bundle under test is built from the current sources.
    execFileSync(process.execPath, [new URL('../packages/core/build.mjs', import.meta.url).pathname], { stdio: 'pipe' });
    t = await startTestServer('sqlite', { realtime: { leaveGraceMs: 200 } });
    await config({ allowP2P: true, p2pPersistIntervalMs: 1000 });
    s = await launchBrowser(WEBRTC_FLAGS);
  }, 60_000);
  // A test that failed half-way must not leave its browsers to the next one.
  afterEach(closeAll);
  afterAll(async () => {
    await closeAll();
    await s?.close();
    await t?.close();
  });

  it('serves the client as one ES module to any origin', async () => {
    const res = await fetch(`${t.url}/sdk/pulse-client.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('javascript');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('three browsers converge over the mesh (transport p2p), with no CRDT update through the server', async () => {
    const pages = [await peer('ann', 'mesh3'), await peer('ben', 'mesh3'), await peer('cat', 'mesh3')];
    await expect.poll(() => Promise.all(pages.map(openChannels)), { timeout: 15_000 }).toEqual([2, 2, 2]);
    expect(await Promise.all(pages.map(transport))).toEqual(['p2p', 'p2p', 'p2p']);
    const relayedBefore = service().relayedUpdates;
    await edit(pages, 20);
    const state = await expect.poll(() => converged(pages), { timeout: 10_000 }).toBeTruthy().then(() => converged(pages));
    const parsed = JSON.parse(state!);
    expect(Object.keys(parsed.map)).toHaveLength(61);
    expect(parsed.list).toHaveLength(60);
    expect(parsed.counter).toBe(60);
    expect(service().relayedUpdates).toBe(relayedBefore);
    // Raw messages over the data channels: to everyone, and to one user.
    await pages[0]!.evaluate(() => {
      window.pulse.p2p.send({ hello: 'all' });
      window.pulse.p2p.sendTo('cat', 'just for cat');
    });
    await expect.poll(() => pages[2]!.evaluate(() => window.pulse.messages.length)).toBe(2);
    expect(await pages[1]!.evaluate(() => window.pulse.messages)).toEqual([{ data: { hello: 'all' }, fromUserId: 'ann' }]);
    expect(await pages[2]!.evaluate(() => window.pulse.messages)).toEqual([
      { data: { hello: 'all' }, fromUserId: 'ann' },
      { data: 'just for cat', fromUserId: 'ann' },
    ]);
    expect(service().relayedUpdates).toBe(relayedBefore);
    // Persisted by asking a mesh peer, since nothing passed the relay.
    await expect.poll(async () => (await t.server.ctx.store.getSharedState(t.envId, 'mesh3'))?.bytes ?? 0, { timeout: 5000 }).toBeGreaterThan(0);
    await closeAll();
  });

  it('eight browsers with the default mesh limit: the 7th and 8th use the relay and everything converges', async () => {
    const pages: Page[] = [];
    for (let i = 1; i <= 8; i++) pages.push(await peer(`p${i}`, 'mesh8'));
    await expect.poll(() => Promise.all(pages.slice(0, 6).map(openChannels)), { timeout: 20_000 }).toEqual([5, 5, 5, 5, 5, 5]);
    expect(await Promise.all(pages.map(transport))).toEqual(['p2p', 'p2p', 'p2p', 'p2p', 'p2p', 'p2p', 'websocket', 'websocket']);
    await edit(pages, 10, 'x');
    await expect.poll(() => converged(pages), { timeout: 15_000 }).toBeTruthy();
    const parsed = JSON.parse((await converged(pages))!);
    expect(parsed.counter).toBe(80);
    expect(parsed.list).toHaveLength(80);
    // Raw messages reach relay peers too.
    await pages[7]!.evaluate(() => window.pulse.p2p.send('from the relay'));
    await expect.poll(() => pages[0]!.evaluate(() => window.pulse.messages.length)).toBe(1);
    // A mesh peer leaves: the longest-present relay peer (the 7th) takes its place.
    await pages[0]!.context().close();
    const rest = pages.slice(1);
    await expect.poll(() => transport(rest[5]!), { timeout: 10_000 }).toBe('p2p');
    await expect.poll(() => openChannels(rest[5]!), { timeout: 15_000 }).toBe(5);
    expect(await transport(rest[6]!)).toBe('websocket');
    await edit(rest, 3, 'y');
    await expect.poll(() => converged(rest), { timeout: 15_000 }).toBeTruthy();
    expect(JSON.parse((await converged(rest))!).counter).toBe(80 + 21);
    await closeAll();
  }, 90_000);

  it('a peer killed mid-edit: the others carry on, converge and persist what reached them', async () => {
    const pages = [await peer('kim', 'kill'), await peer('lee', 'kill'), await peer('max', 'kill')];
    await expect.poll(() => Promise.all(pages.map(openChannels)), { timeout: 15_000 }).toEqual([2, 2, 2]);
    const editing = edit([pages[2]!], 200).catch(() => undefined); // dies while editing
    await pages[0]!.waitForTimeout(150);
    await pages[2]!.context().close();
    await editing;
    await edit(pages.slice(0, 2), 10, 'after');
    await expect.poll(() => converged(pages.slice(0, 2)), { timeout: 10_000 }).toBeTruthy();
    await expect.poll(() => pages[0]!.evaluate(() => window.pulse.p2p.peers.size)).toBe(1);
    const survivors = await converged(pages.slice(0, 2));
    // Within an interval the server has asked a mesh peer for it and stored it.
    await expect.poll(() => stored('kill'), { timeout: 5000 }).toBe(survivors);
    await closeAll();
    // Everyone gone: a newcomer loads what the survivors had.
    const late = await peer('ned', 'kill');
    expect(await snapshot(late)).toBe(survivors);
    await closeAll();
  });

  it('what a peer that left gave one survivor reaches the other too', async () => {
    const pages = [await peer('oli', 'partial'), await peer('pia', 'partial'), await peer('quin', 'partial')];
    await expect.poll(() => Promise.all(pages.map(openChannels)), { timeout: 15_000 }).toEqual([2, 2, 2]);
    // As if quin's last change had reached oli's data channel and not pia's before quin died:
    // oli holds a change that no one sends on (a change from a peer is never passed on).
    await pages[0]!.evaluate(() => {
      const p = window.pulse.p2p;
      p.doc.transact(() => p.sharedMap('cards').set('ghost', 'from quin'), 'pulse:peer');
    });
    await pages[2]!.context().close();
    await expect.poll(() => pages[0]!.evaluate(() => window.pulse.p2p.peers.size)).toBe(1);
    // Later edits build on it (oli's next changes follow it in oli's clock).
    await edit(pages.slice(0, 2), 3, 'after');
    await expect.poll(() => converged(pages.slice(0, 2)), { timeout: 10_000 }).toBeTruthy();
    expect(JSON.parse((await converged(pages.slice(0, 2)))!).map.ghost).toBe('from quin');
    await closeAll();
  });

  it('a data channel that drops: what was in flight on it is asked for through the server', async () => {
    const pages = [await peer('rey', 'dropped'), await peer('sol', 'dropped')];
    await expect.poll(() => Promise.all(pages.map(openChannels)), { timeout: 15_000 }).toEqual([1, 1]);
    // As if rey's last change had been lost with the link.
    await pages[0]!.evaluate(() => {
      const p = window.pulse.p2p;
      p.doc.transact(() => p.sharedMap('cards').set('lost', 'in flight'), 'pulse:peer');
    });
    await pages[1]!.evaluate(() => {
      for (const pc of (window as any).peerConnections as RTCPeerConnection[]) pc.close();
    });
    await expect.poll(() => Promise.all(pages.map(openChannels)), { timeout: 10_000 }).toEqual([0, 0]);
    await edit(pages, 3, 'relay');
    await expect.poll(() => converged(pages), { timeout: 10_000 }).toBeTruthy();
    expect(JSON.parse((await converged(pages))!).map.lost).toBe('in flight');
    await closeAll();
  });

  it('limits in the browser: maxSharedObjects, p2pMaxStateBytes, and state past its TTL swept', async () => {
    await config({ maxSharedObjects: 3, p2pMaxStateBytes: 4096 });
    try {
      const pages = [await peer('sam', 'limits'), await peer('tia', 'limits')];
      await edit(pages, 2); // a map, a list and a counter: the room's three
      await expect.poll(() => converged(pages), { timeout: 10_000 }).toBeTruthy();
      const fourth = (page: Page) =>
        page.evaluate(() => {
          try {
            window.pulse.p2p.sharedMap('fourth');
            return 'created';
          } catch (e) {
            return (e as { code: string }).code;
          }
        });
      // Counted room-wide: the peer that did not create the three is refused as well.
      expect(await Promise.all(pages.map(fourth))).toEqual(['too_many_shared_objects', 'too_many_shared_objects']);

      const good = await converged(pages);
      await expect.poll(() => stored('limits'), { timeout: 5000 }).toBe(good);
      // Past p2pMaxStateBytes: the writer hears why, and the stored state stays as it was.
      await pages[0]!.evaluate(() => window.pulse.p2p.sharedMap('cards').set('big', 'x'.repeat(8000)));
      await expect.poll(() => pages[0]!.evaluate(() => window.pulse.errors), { timeout: 10_000 }).toContain('p2p_state_too_large');
      expect(await stored('limits')).toBe(good);
      await closeAll();
      expect(await stored('limits')).toBe(good);

      // Expired (as if untouched for p2pStateTTLDays): the sweeper deletes it, a newcomer starts empty.
      const rec = (await t.server.ctx.store.getSharedState(t.envId, 'limits'))!;
      const past = new Date(Date.now() - 1000).toISOString();
      expect(await t.server.ctx.store.putSharedState(t.envId, 'limits', { state: rec.state, expectedVersion: rec.version, at: past, expiresAt: past })).toBeDefined();
      expect(await service().sweep()).toBeGreaterThanOrEqual(1);
      const late = await peer('uma', 'limits');
      expect(JSON.parse(await snapshot(late))).toEqual({ map: {}, list: [], counter: 0 });
      await closeAll();
    } finally {
      await config({ maxSharedObjects: 20, p2pMaxStateBytes: 5_242_880 });
    }
  });

  it('persists after all leave; a newcomer loads it; allowP2P off tears the managers down live', async () => {
    const pages = [await peer('ora', 'live'), await peer('pia', 'live')];
    await edit(pages, 5);
    await expect.poll(() => converged(pages), { timeout: 10_000 }).toBeTruthy();
    const state = await converged(pages);
    await expect.poll(() => stored('live'), { timeout: 5000 }).toBe(state);
    await closeAll();
    const a = await peer('quinn', 'live');
    expect(await snapshot(a)).toBe(state);
    const b = await peer('rae', 'live');
    for (const page of [a, b]) await page.evaluate(() => window.pulse.p2p.on('destroyed', () => ((window as any).destroyed = true)));
    await config({ allowP2P: false });
    await expect.poll(() => Promise.all([a, b].map((p) => p.evaluate(() => (window as any).destroyed === true)))).toEqual([true, true]);
    const refused = await a.evaluate(() => window.pulse.client.p2p.then(() => 'resolved', (e: { code: string }) => e.code));
    expect(refused).toBe('p2p_disabled');
    await config({ allowP2P: true });
    await closeAll();
    // The pages are /healthz, which has no favicon (the one 404 a page reports).
    expect(consoleErrors.flat().filter((e) => !/WebSocket|ERR_CONNECTION|status of 404/.test(e))).toEqual([]);
  });
});
