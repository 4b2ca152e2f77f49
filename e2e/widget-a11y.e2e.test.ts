import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, type BrowserSession } from './helpers/browser.ts';

/**
 * What the widget says, and where the keyboard goes, for people who cannot hover, read
 * left-to-right only, or use a keyboard: one person on the demo page, each test in its own room.
 */
describe.skipIf(!browserAvailable)('<pulse-widget> for everyone', () => {
  let t: TestServer;
  let s: BrowserSession;
  const w = (page: Page) => page.locator('pulse-widget');

  const open = async (as: string, room: string) => {
    const page = await (await s.context()).newPage();
    await page.goto(`${t.url}/demo/?as=${as}&room=${room}`);
    await w(page).locator('.toolbar').waitFor();
    return page;
  };

  beforeAll(async () => {
    t = await startTestServer('sqlite', { demo: true });
    s = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it("shows why an upload failed as text, not only in the tile's tooltip", async () => {
    const page = await open('alice', 'e2e-a11y-upload');
    await w(page).getByRole('button', { name: 'Comments' }).click();
    const composer = w(page).locator('.panel pulse-composer');
    const pdf = { name: 'doc.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n') };
    const fake = { name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG at all') };
    await composer.locator('input[type=file]').setInputFiles([pdf, fake]);
    const failed = composer.locator('.pending-file.failed');
    await expect.poll(() => failed.count(), { timeout: 10_000 }).toBe(2);
    const reasons = composer.locator('.upload-error');
    expect(await reasons.count()).toBe(2);
    for (const [i, name] of ['doc.pdf', 'fake.png'].entries()) {
      const reason = reasons.nth(i);
      expect(await reason.isVisible()).toBe(true);
      const why = (await failed.nth(i).getAttribute('title'))!;
      expect(why.length).toBeGreaterThan(3);
      expect(await reason.textContent()).toContain(name);
      expect(await reason.textContent()).toContain(why);
    }
    // Screen readers hear it when it appears.
    expect(await composer.locator('[role=alert]', { hasText: 'doc.pdf' }).count()).toBe(1);
    await s.screenshot(page, 'widget-upload-failed-reason');
    // Removing the file takes its reason away.
    await composer.getByRole('button', { name: 'Remove doc.pdf' }).click();
    expect(await reasons.count()).toBe(1);
    await page.close();
  });
});
