import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../packages/server/src/auth/passwords.ts';
import { optionsFromEnv } from '../packages/server/src/options.ts';
import { WebhookReceiver } from '../packages/server/test/helpers/receivers.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, watchConsole, type BrowserSession } from './helpers/browser.ts';

/** The webhooks page as an operator uses it: add an endpoint, keep its secret, send a test event, see the delivery, resend it. */
describe.skipIf(!browserAvailable)('panel: webhooks page (Chromium)', () => {
  let t: TestServer;
  let browser: BrowserSession;
  let page: Page;
  let errors: string[];
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    t = await startTestServer('sqlite', { webhooks: optionsFromEnv({ PULSE_WEBHOOKS_ALLOW_PRIVATE: '1', PULSE_WEBHOOKS_RETRY_BASE_MS: '200' }).webhooks! });
    await receiver.start();
    await t.server.ctx.store.createAdmin({
      id: 'adm_owner',
      email: 'owner@example.com',
      name: 'Owner',
      role: 'admin',
      passwordHash: await hashPassword('a long owner password'),
      createdAt: new Date().toISOString(),
    });
    browser = await launchBrowser();
    page = await (await browser.context({ viewport: { width: 1280, height: 900 } })).newPage();
    errors = watchConsole(page);
  });
  afterAll(async () => {
    await browser?.close();
    await receiver.stop();
    await t?.close();
  });

  it('adds an endpoint, shows the secret once, delivers a test event and resends it', async () => {
    await page.goto(`${t.url}/panel/login`);
    await page.getByLabel('Email').fill('owner@example.com');
    await page.getByLabel('Password').fill('a long owner password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Environments' }).waitFor();

    await page.goto(`${t.url}/panel/environments/${t.envId}`);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('No webhook endpoints').waitFor();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const dialog = page.getByRole('dialog');
    // A URL the server refuses: the reason is shown at the field, without the field's name.
    await dialog.getByLabel('Endpoint URL').fill('ftp://example.com/hooks');
    await dialog.getByRole('button', { name: 'Add endpoint' }).click();
    const urlError = dialog.locator('.field-error');
    await urlError.waitFor();
    expect(await urlError.textContent()).not.toMatch(/^url:/);
    expect(await dialog.getByLabel('Endpoint URL').getAttribute('aria-invalid')).toBe('true');
    await browser.screenshot(page, 'webhooks-add-refused');
    // The browser logs the 400 it was answered; nothing else may be logged.
    expect(errors.splice(0)).toEqual([expect.stringContaining('status of 400')]);
    await dialog.getByLabel('Endpoint URL').fill(receiver.url);
    expect(await urlError.count()).toBe(0); // gone once the URL changes
    await dialog.getByLabel('Description (optional)').fill('Receiver on my laptop');
    await dialog.getByLabel(/All events/).uncheck();
    // No event chosen: the button is off, and the dialog says why.
    expect(await dialog.getByRole('button', { name: 'Add endpoint' }).isDisabled()).toBe(true);
    await dialog.getByText('Choose at least one event').waitFor();
    await dialog.getByLabel('comment.created').check();
    expect(await dialog.getByText('Choose at least one event').count()).toBe(0);
    await dialog.getByLabel('notification.created').check();
    await browser.screenshot(page, 'webhooks-add');
    await dialog.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = await page.getByRole('dialog').getByLabel('Secret', { exact: true }).inputValue();
    expect(secret).toMatch(/^whsec_/);
    receiver.secret = secret;
    await browser.screenshot(page, 'webhooks-secret');
    await page.getByRole('button', { name: 'I have stored the secret' }).click();

    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText('Delivered').waitFor({ timeout: 10_000 });
    expect(receiver.ofType('webhook.test')).toHaveLength(1);
    // An example of a chosen type, to try a handler.
    await page.getByRole('combobox', { name: 'Test event type' }).selectOption('notification.created');
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText('Example notification.created queued').waitFor();
    await expect.poll(() => receiver.ofType('notification.created').length, { timeout: 10_000 }).toBe(1);
    expect(receiver.ofType('notification.created')[0]!.payload.data.roomId).toBe('pulse-example-room');
    // Listed as an example, not as a real notification.
    await page.getByRole('row').filter({ hasText: 'notification.created' }).getByText('example', { exact: true }).waitFor({ timeout: 10_000 });
    await page.getByRole('combobox', { name: 'Test event type' }).selectOption('webhook.test');
    // A comment from the REST API shows up as a delivery too.
    await t.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    const thread = (await t.api('POST', '/api/v1/rooms/e2e-room/threads', { userId: 'ann', body: 'first' })).body.thread;
    await t.api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: 'second' });
    await page.getByText('comment.created', { exact: true }).first().waitFor({ timeout: 10_000 });
    await page.getByRole('row').filter({ hasText: 'webhook.test' }).getByRole('button', { name: 'Resend' }).click();
    await page.getByText('Queued again, with the same webhook-id.').waitFor();
    expect(await page.getByText('Retrying').count()).toBe(0); // sent again on request: not a failure
    await expect.poll(() => receiver.ofType('webhook.test').length, { timeout: 10_000 }).toBe(2);
    await page.getByRole('row').filter({ hasText: 'comment.created' }).first().waitFor();
    await page.waitForTimeout(4500);
    await browser.screenshot(page, 'webhooks-deliveries');

    // Rotating: the receiver still on the old secret keeps verifying for a day.
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('dialog').getByText('For 24 hours the current secret signs too').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate secret' }).click();
    const rotated = await page.getByRole('dialog').getByLabel('Secret', { exact: true }).inputValue();
    expect(rotated).not.toBe(secret);
    await page.getByRole('button', { name: 'I have stored the secret' }).click();
    await page.getByText('the previous one also signs until').waitFor();
    await browser.screenshot(page, 'webhooks-rotated');
    await page.getByRole('button', { name: 'Send test event' }).click();
    await expect.poll(() => receiver.ofType('webhook.test').length, { timeout: 10_000 }).toBe(3);

    // Disabled, a comment is missed; enabled again, "Recover missed events" sends it.
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('button', { name: 'Enable' }).waitFor();
    // A disabled endpoint is sent nothing: the buttons that would send say so instead of failing.
    expect(await page.getByRole('button', { name: 'Send test event' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Send test event' }).getAttribute('title')).toMatch(/enable it/);
    expect(await page.getByRole('row').filter({ hasText: 'webhook.test' }).first().getByRole('button', { name: 'Resend' }).isDisabled()).toBe(true);
    await t.api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: 'while disabled' });
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('button', { name: 'Disable' }).waitFor();
    await page.getByRole('button', { name: 'Recover missed events' }).click();
    await page.getByRole('dialog').getByLabel('Since').waitFor();
    await browser.screenshot(page, 'webhooks-recover');
    await page.getByRole('dialog').getByRole('button', { name: 'Recover events' }).click();
    await page.getByText('Queued 1 event to send again.').waitFor();
    await expect.poll(() => receiver.ofType('comment.created').some((r) => r.payload.data.comment.body === 'while disabled'), { timeout: 10_000 }).toBe(true);

    // The receiver fails with a long HTML page: the open page says so by itself, the answer wraps
    // and every Resend stays in view; back to work, the endpoint shows as working again.
    const badge = page.locator('.webhook-title .badge');
    expect(await badge.textContent()).toBe('Enabled');
    receiver.mode = { kind: 'fail', status: 502, headers: { 'content-type': 'text/html' }, body: `<html><body>${'A'.repeat(20_000)}</body></html>` };
    await t.api('POST', `/api/v1/threads/${thread.id}/comments`, { userId: 'ann', body: 'while failing' });
    await page.locator('.webhook-title').getByText('Failing').waitFor({ timeout: 15_000 });
    await page.getByText('HTTP 502').first().waitFor({ timeout: 10_000 });
    const viewport = page.viewportSize()!;
    for (const button of await page.getByRole('button', { name: 'Resend' }).all()) {
      const box = (await button.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
    }
    await browser.screenshot(page, 'webhooks-failing');
    receiver.mode = { kind: 'ok' };
    await expect.poll(() => receiver.ofType('comment.created').some((r) => r.payload.data.comment.body === 'while failing'), { timeout: 20_000 }).toBe(true);
    await page.locator('.webhook-title').getByText('Enabled').waitFor({ timeout: 15_000 });

    // Edited: the filter takes thread.created too; the secret stays.
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    const edit = page.getByRole('dialog');
    expect(await edit.getByLabel('Endpoint URL').inputValue()).toBe(receiver.url);
    expect(await edit.getByLabel('comment.created').isChecked()).toBe(true);
    await edit.getByLabel('thread.created').check();
    await edit.getByLabel('Description (optional)').fill('Receiver on my laptop, threads too');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Endpoint saved.').waitFor();
    await page.getByText('Receiver on my laptop, threads too').waitFor();
    await t.api('POST', '/api/v1/rooms/e2e-room/threads', { userId: 'ann', body: 'a new thread' });
    await expect.poll(() => receiver.ofType('thread.created').length, { timeout: 10_000 }).toBe(1);
    expect(errors).toEqual([]);
  }, 120_000);

  it('sets the email settings in the Configure modal, the link template as text', async () => {
    await page.goto(`${t.url}/panel/environments/${t.envId}`);
    await page.getByRole('button', { name: 'Configure Environment' }).click();
    const dialog = page.getByRole('dialog', { name: 'Configure Environment' });
    // This test server has no SMTP: the Email group says so.
    await dialog.getByRole('note').filter({ hasText: 'This server has no PULSE_SMTP_URL' }).waitFor();
    await dialog.getByRole('switch', { name: 'Email Notifications' }).check();
    await dialog.getByRole('spinbutton', { name: 'Email Delay (seconds)' }).fill('900');
    const template = dialog.getByRole('textbox', { name: 'Email Link Template' });
    await template.fill('https://app.example.com/rooms/{roomId}#thread-{threadId}');
    await template.scrollIntoViewIfNeeded();
    await browser.screenshot(page, 'configure-email');
    await dialog.getByRole('button', { name: 'Save (3)' }).click();
    await expect
      .poll(async () => (await t.server.ctx.store.getConfig(t.envId))?.emailLinkTemplate, { timeout: 5000 })
      .toBe('https://app.example.com/rooms/{roomId}#thread-{threadId}');
    expect(await t.server.ctx.store.getConfig(t.envId)).toMatchObject({ emailNotifications: true, emailDelaySeconds: 900 });
    expect(errors).toEqual([]);
  }, 60_000);
});
