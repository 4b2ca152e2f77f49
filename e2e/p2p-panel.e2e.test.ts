import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, sleep } from '../packages/server/test/helpers/clients.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { signedInAdmin } from '../packages/server/test/panel-client.ts';
import { browserAvailable, launchBrowser, watchConsole, type BrowserSession } from './helpers/browser.ts';

/** The admin data browser's "Shared data (P2P)" tab: a room's maps, lists and counters, and clearing them. */
describe.skipIf(!browserAvailable)('shared data in the admin panel', () => {
  let t: TestServer;
  let s: BrowserSession;

  beforeAll(async () => {
    t = await startTestServer('sqlite');
    await t.server.ctx.environments.updateConfig(t.envId, { allowP2P: true });
    s = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('shows a room\'s shared objects and clears them (admins only)', async () => {
    const client = await connectClient(t, 'alice', 'board-7');
    const p2p = await client.p2p;
    p2p.sharedMap('cards').set('c1', { title: 'Ship it' });
    p2p.sharedList('todo').push('c1');
    p2p.sharedCounter('kudos').increment(3);
    await sleep(100);
    client.disconnect();
    await expect.poll(async () => (await t.server.ctx.store.getSharedState(t.envId, 'board-7'))?.bytes ?? 0).toBeGreaterThan(0);

    const member = await signedInAdmin(t, 'member@example.com', 'member');
    expect((await member.request('GET', `/panel/api/environments/${t.envId}/rooms/board-7/shared`)).status).toBe(200);
    expect((await member.request('DELETE', `/panel/api/environments/${t.envId}/rooms/board-7/shared`)).status).toBe(403);

    const admin = await signedInAdmin(t);
    const context = await s.context();
    const host = new URL(t.url).hostname;
    await context.addCookies([...admin.cookies].map(([name, value]) => ({ name, value: encodeURIComponent(value), domain: host, path: '/' })));
    const page = await context.newPage();
    const errors = watchConsole(page);
    await page.goto(`${t.url}/panel/environments/${t.envId}/data?view=shared`);
    await page.getByRole('cell', { name: 'board-7' }).waitFor();
    await page.getByRole('button', { name: 'View' }).click();
    await expect.poll(() => page.locator('pre.json').allTextContents()).toHaveLength(3);
    const texts = await page.locator('pre.json').allTextContents();
    expect(JSON.parse(texts[0]!)).toEqual({ c1: { title: 'Ship it' } });
    expect(JSON.parse(texts[1]!)).toEqual(['c1']);
    expect(texts[2]).toBe('3');
    await s.screenshot(page, 'p2p-panel-shared');
    await page.getByRole('button', { name: 'Clear', exact: true }).click();
    await page.getByRole('button', { name: 'Clear shared data' }).click();
    await page.getByText('No shared data stored').waitFor();
    expect(await t.server.ctx.store.getSharedState(t.envId, 'board-7')).toBeUndefined();
    expect(errors).toEqual([]);
  });
});
