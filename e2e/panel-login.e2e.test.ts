import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../packages/server/src/auth/passwords.ts';
import { newAdminId, nowIso } from '../packages/server/src/ids.ts';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, type BrowserSession } from './helpers/browser.ts';

/** The panel's login page shows one message at a time: the one about what just happened. */
describe.skipIf(!browserAvailable)('panel login messages', () => {
  let t: TestServer;
  let s: BrowserSession;
  const email = 'lena@example.com';
  const password = 'a long login password';

  beforeAll(async () => {
    t = await startTestServer();
    await t.server.ctx.store.createAdmin({ id: newAdminId(), email, name: 'Lena', role: 'admin', passwordHash: await hashPassword(password), createdAt: nowIso() });
    s = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('shows "You have logged out." after logging out, and only the error after a wrong password', async () => {
    const page = await (await s.context()).newPage();
    await page.goto(`${t.url}/panel/`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You have logged out.').waitFor();

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong email or password.').waitFor();
    expect(await page.getByText('You have logged out.').count()).toBe(0);
    await s.screenshot(page, 'panel-login-after-logout-error');
  });
});
