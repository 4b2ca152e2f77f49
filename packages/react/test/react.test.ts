import { build } from 'esbuild';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAvailable, launchBrowser, watchConsole, type BrowserSession } from '../../../e2e/helpers/browser.ts';
import { startTestServer, type TestServer } from '../../server/test/helpers/server.ts';
import {
  PulseProvider,
  PulseWidget,
  useClient,
  useConnectionState,
  useMyPresence,
  useNotifications,
  useOthers,
  useP2PTransport,
  useSelf,
  useSharedCounter,
  useSharedList,
  useSharedMap,
  useThread,
  useThreads,
} from '../src/index.ts';

describe('@pulse/react during server-side rendering', () => {
  it('imports and renders without a window, with the state as before connecting', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    function Everything() {
      const client = useClient();
      const state = useConnectionState();
      const threads = useThreads();
      const thread = useThread('th_none');
      const others = useOthers();
      const [me] = useMyPresence();
      const self = useSelf();
      const { notifications, unreadCount } = useNotifications();
      return h(
        'p',
        null,
        [client.room, state, threads.length, String(thread), others.length, String(me), String(self), notifications.length, unreadCount].join('|'),
      );
    }
    const html = renderToString(
      h(PulseProvider, { apiKey: 'pk_test', token: 'not-a-token', room: 'ssr', endpoint: 'http://127.0.0.1:9' }, h(Everything), h(PulseWidget, { position: 'top-left' })),
    );
    expect(html).toContain('ssr|disconnected|0|undefined|0|null|null|0|0');
    expect(html).toContain('<pulse-widget position="top-left"></pulse-widget>');
  });

  it('renders the P2P hooks empty on the server', () => {
    function Shared() {
      const map = useSharedMap('m');
      const list = useSharedList('l');
      const counter = useSharedCounter('c');
      return h('p', null, [JSON.stringify(map.data), list.data.length, counter.data, String(map.object), String(useP2PTransport())].join('|'));
    }
    const html = renderToString(h(PulseProvider, { apiKey: 'pk_test', token: 'not-a-token', room: 'ssr', endpoint: 'http://127.0.0.1:9' }, h(Shared)));
    expect(html).toContain('{}|0|0|null|null');
  });

  it('says where a hook is missing its provider', () => {
    function Lost() {
      useThreads();
      return null;
    }
    expect(() => renderToString(h(Lost))).toThrow('useThreads() must be used inside <PulseProvider>.');
  });
});

/** The app in test/fixtures/app.ts, bundled from the sources, in Chromium against a real server. */
describe.skipIf(!browserAvailable)('@pulse/react in Chromium against a real server', () => {
  let t: TestServer;
  let s: BrowserSession;
  let bundle: string;
  let p2pBundle: string;
  const room = 'react-room';
  /** The app's own origin (another port than Pulse's, as in real life). */
  let app: Server;
  let origin: string;

  const token = async (userId: string, name: string) => {
    const res = await t.api('POST', '/auth/token', { userId, name });
    expect(res.status).toBe(200);
    return res.body.token as string;
  };
  const open = async (userId: string, name: string) => {
    const page = await (await s.context()).newPage();
    const errors = watchConsole(page);
    const query = new URLSearchParams({ apiKey: t.publishableKey, endpoint: t.url, room, token: await token(userId, name) });
    await page.goto(`${origin}/?${query}`);
    return { page, errors };
  };
  const createThread = async (roomId: string, body: string) => {
    const res = await t.api('POST', `/api/v1/rooms/${roomId}/threads`, { userId: 'rest-bot', body });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.thread.id as string;
  };

  beforeAll(async () => {
    t = await startTestServer('sqlite', { realtime: { leaveGraceMs: 300 } });
    const bundleOf = async (fixture: string) => {
      const out = await build({
        entryPoints: [new URL(`./fixtures/${fixture}`, import.meta.url).pathname],
        bundle: true,
        format: 'esm',
        target: 'es2022',
        write: false,
        conditions: ['pulse-source'],
        define: { 'process.env.NODE_ENV': '"development"' },
        logLevel: 'error',
      });
      return out.outputFiles[0]!.text;
    };
    [bundle, p2pBundle] = await Promise.all([bundleOf('app.ts'), bundleOf('p2p-app.ts')]);
    app = createServer((req, res) => {
      if (req.url === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else if (req.url === '/p2p-app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(p2pBundle);
      else {
        const script = req.url?.startsWith('/p2p') ? '/p2p-app.js' : '/app.js';
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><div id="root"></div><script type="module" src="${script}"></script>`);
      }
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    s = await launchBrowser();
    expect((await t.api('PUT', '/api/v1/users/rest-bot', { name: 'Billing bot' })).status).toBeLessThan(300); // REST writes are by a known user
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('shows threads created over REST, the others, and re-renders only the thread that changed', async () => {
    const first = await createThread(room, 'Created before the page opened');
    const alice = await open('alice', 'Alice Chen');
    const text = (sel: string) => alice.page.locator(sel).textContent();
    await expect.poll(() => text('#state'), { timeout: 10_000 }).toBe('connected');
    await expect.poll(() => text('#threads'), { timeout: 10_000 }).toContain('Created before the page opened');
    await expect.poll(() => text('#me'), { timeout: 10_000 }).toBe('Alice Chen (online)');

    const bob = await open('bob', 'Bob Smith');
    await expect.poll(() => text('#others'), { timeout: 10_000 }).toBe('Bob Smith');

    const rendersBefore = await alice.page.evaluate((id) => window.renders[`thread:${id}`], first);
    await createThread(room, 'Created while the page is open');
    await expect.poll(() => alice.page.locator('#threads li').count(), { timeout: 10_000 }).toBe(2);
    await alice.page.waitForTimeout(200);
    expect(await alice.page.evaluate((id) => window.renders[`thread:${id}`], first)).toBe(rendersBefore);

    // The widget element is there, defined and live, on the provider's settings.
    await expect.poll(() => alice.page.locator('pulse-widget .toolbar').count(), { timeout: 10_000 }).toBe(1);

    await bob.page.close();
    await expect.poll(() => text('#others'), { timeout: 10_000 }).toBe('');
    expect(alice.errors).toEqual([]);
    await s.screenshot(alice.page, 'react-app');
  }, 60_000);

  it('switches rooms without remounting', async () => {
    await createThread(`${room}-other`, 'In the other room');
    const { page, errors } = await open('carol', 'Carol Diaz');
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 10_000 }).toBe('connected');
    await expect.poll(() => page.locator('#threads li').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const mounts = await page.evaluate(() => window.mounts);
    await page.click('#switch');
    await expect.poll(() => page.locator('#threads').textContent(), { timeout: 10_000 }).toBe('In the other room');
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 10_000 }).toBe('connected');
    expect(await page.evaluate(() => window.mounts)).toBe(mounts);
    expect(errors).toEqual([]);
  }, 60_000);

  it('shares a map, a list and a counter through the P2P hooks, and shows allowP2P turned off', async () => {
    const p2pRoom = `${room}-p2p`;
    await t.server.ctx.environments.updateConfig(t.envId, { allowP2P: true, p2pPersistIntervalMs: 1000 });
    const openBoard = async (userId: string) => {
      const page = await (await s.context()).newPage();
      const query = new URLSearchParams({ apiKey: t.publishableKey, endpoint: t.url, room: p2pRoom, token: await token(userId, userId), who: userId });
      await page.goto(`${origin}/p2p?${query}`);
      return page;
    };
    const [dana, eli] = [await openBoard('dana'), await openBoard('eli')];
    const text = (page: typeof dana, sel: string) => page.locator(sel).textContent();
    for (const [page, other] of [[dana, 'eli'], [eli, 'dana']] as const) {
      await expect.poll(() => text(page, '#peers'), { timeout: 15_000 }).toBe(other);
      await expect.poll(() => text(page, '#transport'), { timeout: 15_000 }).not.toBe('none');
    }
    await dana.click('#go');
    await eli.click('#go');
    await dana.click('#go');
    for (const page of [dana, eli]) {
      await expect.poll(() => text(page, '#total'), { timeout: 10_000 }).toBe('3');
      await expect.poll(() => text(page, '#votes'), { timeout: 10_000 }).toBe('{"dana":2,"eli":1}');
      await expect.poll(async () => (await text(page, '#log'))!.split(',').sort().join(','), { timeout: 10_000 }).toBe('dana,dana,eli');
    }

    // Stored by the server within an interval (the changes went over data channels or the relay).
    await expect
      .poll(async () => JSON.stringify((await t.api('GET', `/api/v1/rooms/${p2pRoom}/shared`)).body), { timeout: 10_000 })
      .toContain('{"type":"counter","name":"total","value":3}');

    await t.server.ctx.environments.updateConfig(t.envId, { allowP2P: false });
    for (const page of [dana, eli]) {
      await expect.poll(() => text(page, '#error'), { timeout: 10_000 }).toContain('p2p_disabled');
      await expect.poll(() => text(page, '#transport'), { timeout: 10_000 }).toBe('none');
    }
    await t.server.ctx.environments.updateConfig(t.envId, { allowP2P: true });
    // Back on: a new session loads what the server stored when the last one ended.
    for (const page of [dana, eli]) await expect.poll(() => text(page, '#error'), { timeout: 10_000 }).toBe('');
    await expect.poll(() => text(dana, '#total'), { timeout: 10_000 }).toBe('3');
  }, 90_000);
});
