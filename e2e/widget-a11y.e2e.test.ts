import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, openDemo, widgetOf, type BrowserSession } from './helpers/browser.ts';

/**
 * What the widget says, and where the keyboard goes, for people who cannot hover, read
 * left-to-right only, or use a keyboard: one person on the demo page, each test in its own room.
 */
describe.skipIf(!browserAvailable)('<pulse-widget> for everyone', () => {
  let t: TestServer;
  let s: BrowserSession;
  const w = widgetOf;
  const open = (as: string, room: string) => openDemo(s, t.url, as, room);

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

  it('lays out right-to-left text right to left: comments, previews and the comment box', async () => {
    const room = 'e2e-a11y-rtl';
    const alice = await open('alice', room);
    const bob = await open('bob', room);
    const direction = (locator: ReturnType<Page['locator']>) => locator.evaluate((el) => getComputedStyle(el).direction);
    const hebrew = 'שלום @bob, מה דעתך על העיצוב החדש?';
    await w(alice).getByRole('button', { name: 'Comments' }).click();
    const composer = w(alice).locator('.panel pulse-composer textarea');
    await composer.fill(hebrew);
    expect(await direction(composer)).toBe('rtl');
    await composer.press('Enter');
    await expect.poll(() => w(alice).locator('.panel .comment .text').count()).toBe(1);
    expect(await direction(w(alice).locator('.panel .comment .text'))).toBe('rtl');
    // An English reply in the same thread stays left to right.
    await composer.fill('Looks good to me');
    expect(await direction(composer)).toBe('ltr');
    await composer.press('Enter');
    await expect.poll(() => w(alice).locator('.panel .comment .text').count()).toBe(2);
    expect(await direction(w(alice).locator('.panel .comment .text').nth(1))).toBe('ltr');
    await w(alice).getByRole('button', { name: 'Back to all comments' }).click();
    expect(await direction(w(alice).locator('.thread-card .preview'))).toBe('rtl');
    await s.screenshot(alice, 'widget-rtl-comments');

    await w(bob).getByRole('button', { name: 'Notifications' }).click();
    const preview = w(bob).locator('.panel .list-item div.small').first();
    await expect.poll(() => preview.textContent()).toContain('שלום');
    expect(await direction(preview)).toBe('rtl');
    await w(bob).getByRole('button', { name: 'Activity' }).click();
    const activity = w(bob).locator('.panel .list-item div.small', { hasText: 'שלום' }).first();
    await activity.waitFor();
    expect(await direction(activity)).toBe('rtl');
    await alice.close();
    await bob.close();
  });

  it('keeps the keyboard focus in the thread it posted, and Escape closes only the reaction picker', async () => {
    const page = await open('alice', 'e2e-a11y-keyboard');
    /** The focused element, through the shadow roots: tag and label. */
    const focused = () =>
      page.evaluate(() => {
        let a = document.activeElement;
        while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
        return a ? `${a.tagName} ${a.getAttribute('aria-label') ?? a.getAttribute('placeholder') ?? ''}`.trim() : null;
      });
    await w(page).getByRole('button', { name: 'Comments' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(focused).toBe('BUTTON Close comments');
    await page.keyboard.press('Tab');
    await expect.poll(focused).toBe('TEXTAREA Start a thread about this page…');
    await page.keyboard.type('Keyboard only comment');
    await page.keyboard.press('Enter');
    // The new thread opens; typing goes on in its reply box, not to the page.
    await w(page).locator('.panel[aria-label=Thread] .comment').waitFor();
    await expect.poll(focused).toBe('TEXTAREA Reply…');

    const add = w(page).locator('.panel .comment').getByRole('button', { name: 'Add a reaction' });
    await add.focus();
    await page.keyboard.press('Enter');
    await w(page).locator('.picker').waitFor();
    // A menu: its first item takes the focus.
    await expect.poll(focused).toBe('BUTTON React with 👍');
    // Tab moves along the menu; so do the arrow keys, wrapping around; Home and End go to its ends.
    const moves: [string[], string][] = [
      [['Tab'], '❤️'],
      [['ArrowRight'], '😂'],
      [['ArrowLeft', 'ArrowUp'], '👍'],
      [['ArrowLeft'], '💯'],
      [['ArrowDown'], '👍'],
      [['End'], '💯'],
      [['Home'], '👍'],
    ];
    for (const [keys, emoji] of moves) {
      for (const key of keys) await page.keyboard.press(key);
      await expect.poll(focused).toBe(`BUTTON React with ${emoji}`);
    }
    await page.keyboard.press('Escape');
    expect(await w(page).locator('.picker').count()).toBe(0);
    expect(await w(page).locator('.panel[aria-label=Thread]').count()).toBe(1);
    await expect.poll(focused).toBe('BUTTON Add a reaction');
    expect(await add.getAttribute('aria-expanded')).toBe('false');
    // Picking with the keyboard closes the picker and gives the focus back the same way.
    await page.keyboard.press('Enter');
    await expect.poll(focused).toBe('BUTTON React with 👍');
    await page.keyboard.press('Enter');
    await expect.poll(() => w(page).locator('.panel .comment .chip').count()).toBe(1);
    await expect.poll(focused).toBe('BUTTON Add a reaction');
    // The next Escape goes back from the thread to the list.
    await page.keyboard.press('Escape');
    await expect.poll(() => w(page).locator('.panel[aria-label=Comments]').count()).toBe(1);
    await page.close();
  });
});
