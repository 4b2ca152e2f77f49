import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../packages/server/test/helpers/clients.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { SmtpReceiver } from '../packages/server/test/helpers/smtp.ts';
import { browserAvailable, launchBrowser, type BrowserSession } from './helpers/browser.ts';

/**
 * The widget's settings menu turns the signed-in user's notification emails off and on, and the
 * emails' links (`#thread-<id>`) open the thread they name.
 */
describe.skipIf(!browserAvailable)('<pulse-widget> email setting and links (Chromium)', () => {
  let t: TestServer;
  let s: BrowserSession;
  const smtp = new SmtpReceiver();

  beforeAll(async () => {
    await smtp.start();
    t = await startTestServer('sqlite', { email: { smtpUrl: smtp.url, from: 'Pulse <pulse@example.com>', pollMs: 60_000 } });
    await t.server.ctx.environments.updateConfig(t.envId, { emailNotifications: true });
    await t.api('PUT', '/api/v1/users/alice', { name: 'Alice Chen', email: 'alice@example.com' });
    s = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
    await smtp.stop();
  });

  /** A page with the widget in `room`, opened at `address` (of this server). */
  async function pageWithWidget(room: string, address = '/healthz') {
    const token = await mintToken(t, 'alice', 'Alice Chen');
    const p = await (await s.context({ viewport: { width: 1100, height: 760 } })).newPage();
    await p.goto(`${t.url}${address}`);
    await p.evaluate(() => {
      document.head.innerHTML = '<title>A page using Pulse</title>';
      document.body.innerHTML = '<main style="font:15px/1.5 system-ui;max-width:720px;margin:2rem auto"><h1>Launch review</h1><p>Some content.</p></main>';
    });
    await p.addScriptTag({ url: '/sdk/pulse-widget.js', type: 'module' });
    await p.waitForFunction(() => customElements.get('pulse-widget') !== undefined);
    await p.evaluate(
      ({ url, pk, token, room }) => {
        const w = document.createElement('pulse-widget');
        w.setAttribute('api-key', pk);
        w.setAttribute('room', room);
        w.setAttribute('endpoint', url);
        w.setAttribute('token', token);
        document.body.append(w);
      },
      { url: t.url, pk: t.publishableKey, token, room },
    );
    await p.locator('pulse-widget .toolbar').waitFor();
    return p;
  }

  it('shows "Email me…" for a user with an address and stores the choice', async () => {
    const p = await pageWithWidget('email-setting');
    await p.locator('pulse-widget').getByRole('button', { name: 'Settings' }).click();
    const box = p.locator('pulse-widget').getByLabel('Email me mentions and replies I miss');
    await box.waitFor();
    expect(await box.isChecked()).toBe(true);
    await s.screenshot(p, 'widget-email-setting');
    await box.uncheck();
    await expect.poll(async () => (await t.server.ctx.store.emailRecipient(t.envId, 'alice'))!.optOut, { timeout: 5000 }).toBe(true);
    await box.check();
    await expect.poll(async () => (await t.server.ctx.store.emailRecipient(t.envId, 'alice'))!.optOut, { timeout: 5000 }).toBe(false);
    // The environment turning emails off and on again shows in the open menu, without a reload.
    await t.server.ctx.environments.updateConfig(t.envId, { emailNotifications: false });
    await expect.poll(() => box.count(), { timeout: 5000 }).toBe(0);
    await t.server.ctx.environments.updateConfig(t.envId, { emailNotifications: true });
    await box.waitFor({ timeout: 5000 });
    expect(await box.isChecked()).toBe(true);
  }, 60_000);

  it('opens the thread an email links to (#thread-<id>), and the one a later link names', async () => {
    const thread = async (body: string) => (await t.api('POST', '/api/v1/rooms/email-link/threads', { userId: 'alice', body })).body.thread.id as string;
    const first = await thread('The first thread, linked from an email');
    const second = await thread('The second thread');
    const p = await pageWithWidget('email-link', `/healthz#thread-${encodeURIComponent(first)}`);
    const widget = p.locator('pulse-widget');
    await widget.getByText('The first thread, linked from an email').waitFor({ timeout: 5000 });
    await s.screenshot(p, 'widget-email-link');
    await p.evaluate((id) => (location.hash = `thread-${id}`), second);
    await widget.getByText('The second thread').waitFor({ timeout: 5000 });
    expect(await widget.getByText('The first thread, linked from an email').count()).toBe(0);
    // Closed, it stays closed, also when the page moves the widget (detached, attached again).
    await widget.getByRole('button', { name: 'Close', exact: true }).click();
    await p.evaluate(() => {
      const w = document.querySelector('pulse-widget')!;
      w.remove();
      document.body.append(w);
    });
    await widget.locator('.toolbar').waitFor();
    await p.waitForTimeout(1500);
    expect(await widget.getByText('The second thread').count()).toBe(0);
  }, 60_000);
});
