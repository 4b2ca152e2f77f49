import { execFileSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoEnvironment } from '../packages/server/src/static/demo.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, watchConsole, type BrowserSession } from './helpers/browser.ts';

/** The /demo/board kanban page in two Chromium contexts. */
describe.skipIf(!browserAvailable)('the board demo in Chromium', () => {
  let t: TestServer;
  let s: BrowserSession;
  let envId: string;
  const errors: string[][] = [];
  const open = async (as: string) => {
    const page = await (await s.context()).newPage();
    errors.push(watchConsole(page));
    await page.goto(`${t.url}/demo/board?as=${as}&room=board-e2e`);
    return page;
  };
  const column = (page: Page, id: string) => page.locator(`section[data-column="${id}"]`);

  beforeAll(async () => {
    execFileSync(process.execPath, [new URL('../packages/core/build.mjs', import.meta.url).pathname], { stdio: 'pipe' });
    t = await startTestServer('sqlite', { demo: true, realtime: { leaveGraceMs: 200 } });
    envId = (await ensureDemoEnvironment(t.server.ctx)).id;
    s = await launchBrowser(['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns']);
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('says how to turn P2P on, and starts by itself once it is on', async () => {
    const page = await open('alice');
    await expect.poll(() => page.locator('#notice').textContent()).toContain('Allow P2P');
    await t.server.ctx.environments.updateConfig(envId, { allowP2P: true });
    await expect.poll(() => page.locator('#notice').isHidden(), { timeout: 5000 }).toBe(true);
    await page.context().close();
  });

  it('two people edit one board together over WebRTC', async () => {
    const alice = await open('alice');
    const bob = await open('bob');
    await expect.poll(() => alice.locator('#transport').textContent(), { timeout: 15_000 }).toBe('P2P (WebRTC)');
    await expect.poll(() => alice.locator('.peer').textContent(), { timeout: 15_000 }).toBe('bob');
    await column(alice, 'todo').locator('input').fill('Design homepage');
    await column(alice, 'todo').locator('input').press('Enter');
    await column(bob, 'todo').locator('input').fill('Write release notes');
    await column(bob, 'todo').locator('input').press('Enter');
    await expect.poll(() => column(bob, 'todo').locator('.card .title').allTextContents()).toHaveLength(2);
    await column(bob, 'todo').locator('.card', { hasText: 'Design homepage' }).getByRole('button', { name: 'Move right' }).click();
    await expect.poll(() => column(alice, 'doing').locator('.card .title').allTextContents()).toEqual(['Design homepage']);
    for (let i = 0; i < 3; i++) await alice.locator('#kudos').click();
    await bob.locator('#kudos').click();
    await expect.poll(() => bob.locator('#kudos-value').textContent()).toBe('4');
    await expect.poll(() => alice.locator('#kudos-value').textContent()).toBe('4');
    expect(await column(alice, 'todo').locator('.card .title').allTextContents()).toEqual(['Write release notes']);
    await s.screenshot(alice, 'p2p-board');
    expect(errors.flat().filter((e) => !/status of 404/.test(e))).toEqual([]);
  });
});
