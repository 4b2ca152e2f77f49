import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../packages/server/test/helpers/clients.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, type BrowserSession } from './helpers/browser.ts';

/**
 * When the widget cannot sign in (no token, a server it cannot reach, a refused key, missing
 * attributes), the page shows why, where the toolbar would be, instead of nothing at all.
 */
describe.skipIf(!browserAvailable)('<pulse-widget> when it cannot sign in', () => {
  let t: TestServer;
  let s: BrowserSession;
  let token: string;

  beforeAll(async () => {
    t = await startTestServer();
    token = await mintToken(t, 'alice', 'Alice Chen');
    s = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  /** A page of the server's origin with the widget bundle and `setup` run on a fresh element. */
  async function page(setup: string): Promise<Page> {
    const p = await (await s.context()).newPage();
    await p.goto(`${t.url}/healthz`);
    await p.evaluate(() => {
      document.head.innerHTML = '<title>A page using Pulse</title>';
      document.body.innerHTML = '<main style="font:15px/1.5 system-ui;max-width:720px;margin:2rem auto"><h1>Launch review</h1><p>Some content.</p></main>';
    });
    await p.addScriptTag({ url: '/sdk/pulse-widget.js', type: 'module' });
    await p.waitForFunction(() => customElements.get('pulse-widget') !== undefined);
    await p.evaluate(
      ({ setup, url, pk, token }) => {
        const w = document.createElement('pulse-widget');
        new Function('w', 'url', 'pk', 'token', setup)(w, url, pk, token);
        document.body.append(w);
      },
      { setup, url: t.url, pk: t.publishableKey, token },
    );
    return p;
  }
  const card = (p: Page) => p.locator('pulse-widget .status-card');

  it('says so when the page cannot get a token, and signs in once it can ("Try again")', async () => {
    const p = await page(`
      w.setAttribute('api-key', pk); w.setAttribute('room', 'status'); w.setAttribute('endpoint', url);
      window.tokenOk = false;
      w.tokenProvider = async () => {
        if (!window.tokenOk) throw new Error('GET /pulse-token answered 401');
        return token;
      };`);
    await card(p).waitFor();
    expect(await card(p).getAttribute('role')).toBe('alert');
    expect(await card(p).locator('strong').textContent()).toBe("Couldn't sign you in to comments");
    expect(await card(p).textContent()).toContain('GET /pulse-token answered 401');
    expect(await p.locator('pulse-widget .toolbar').count()).toBe(0);
    await s.screenshot(p, 'widget-status-token');

    // The token becomes available with the click itself: set any earlier, the client's own
    // backoff retry could sign in first and take the card (and its button) away.
    await p.evaluate(() =>
      document.addEventListener('click', () => ((window as unknown as { tokenOk: boolean }).tokenOk = true), { capture: true, once: true }),
    );
    await card(p).getByRole('button', { name: 'Try again' }).click();
    await p.locator('pulse-widget .toolbar').waitFor();
    expect(await card(p).count()).toBe(0);
  });

  it('treats a provider that resolves to no token as failing, saying what it returned', async () => {
    const p = await page(`
      w.setAttribute('api-key', pk); w.setAttribute('room', 'status'); w.setAttribute('endpoint', url);
      w.tokenProvider = async () => ({ error: 'not signed in' }).token;`);
    await card(p).waitFor();
    expect(await card(p).textContent()).toContain('the tokenProvider returned undefined instead of a token');
  });

  it('does not blame the server while a slow tokenProvider is still working', async () => {
    const p = await page(`
      w.setAttribute('api-key', pk); w.setAttribute('room', 'status'); w.setAttribute('endpoint', url);
      w.tokenProvider = () => new Promise((resolve) => setTimeout(() => resolve(token), 6500));`);
    await p.waitForTimeout(5800);
    expect(await card(p).count()).toBe(0);
    await p.locator('pulse-widget .toolbar').waitFor({ timeout: 5000 });
    expect(await card(p).count()).toBe(0);
  });

  it('says so when the server cannot be reached', async () => {
    const p = await page(`
      w.setAttribute('api-key', pk); w.setAttribute('room', 'status'); w.setAttribute('endpoint', 'http://127.0.0.1:1');
      w.setAttribute('token', token);`);
    await card(p).waitFor({ timeout: 10_000 });
    expect(await card(p).locator('strong').textContent()).toBe("Can't reach the comments server");
    expect(await card(p).textContent()).toContain('No answer from http://127.0.0.1:1.');
    await s.screenshot(p, 'widget-status-unreachable');
  });

  it('says so when the server refuses the key, and can be hidden', async () => {
    const p = await page(`
      w.setAttribute('api-key', 'pk_' + '0'.repeat(48)); w.setAttribute('room', 'status'); w.setAttribute('endpoint', url);
      w.setAttribute('token', token);`);
    await card(p).waitFor();
    expect(await card(p).locator('strong').textContent()).toBe('Comments are unavailable');
    expect(await card(p).textContent()).toContain("The server does not know this page's key (the api-key attribute).");
    expect(await card(p).textContent()).toContain('(invalid_api_key)');
    await s.screenshot(p, 'widget-status-refused');
    await card(p).getByRole('button', { name: 'Hide this message' }).click();
    expect(await card(p).count()).toBe(0);
  });

  it('shows the card, and nothing of the old room, when a live widget is given a key the server refuses', async () => {
    const p = await page(`
      w.setAttribute('api-key', pk); w.setAttribute('room', 'status'); w.setAttribute('endpoint', url);
      w.setAttribute('token', token);`);
    await p.locator('pulse-widget .toolbar').waitFor();
    await p.evaluate(() => document.querySelector('pulse-widget')!.setAttribute('api-key', 'pk_' + '1'.repeat(48)));
    await card(p).waitFor();
    expect(await card(p).locator('strong').textContent()).toBe('Comments are unavailable');
    expect(await p.locator('pulse-widget .toolbar').count()).toBe(0);
  });

  it('names the attributes a page forgot', async () => {
    const p = await page(`w.setAttribute('room', 'status');`);
    await card(p).waitFor();
    expect(await card(p).locator('strong').textContent()).toBe('Comments are not set up on this page');
    expect(await card(p).textContent()).toContain('<pulse-widget> is missing api-key, endpoint, a token (token attribute or tokenProvider).');
    expect(await card(p).getByRole('button', { name: 'Try again' }).count()).toBe(0);
    await s.screenshot(p, 'widget-status-config');
  });
});
