import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoEnvironment } from '../packages/server/src/static/demo.ts';
import { apiRequest, startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, openDemo, widgetOf, type BrowserSession } from './helpers/browser.ts';

/**
 * The demo page at 1280×800 with two people: @mentions read the same in previews as in the thread,
 * and a pin's popover never lies under the Comments panel.
 */
describe.skipIf(!browserAvailable)('<pulse-widget> previews and layout', () => {
  let t: TestServer;
  let demoApi: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  let s: BrowserSession;
  let alice: Page;
  let bob: Page;
  const room = 'e2e-layout';
  const w = widgetOf;
  const open = (as: string) => openDemo(s, t.url, as, room);
  type Box = { x: number; y: number; width: number; height: number };
  const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  /** Pins a new thread at (x, y) of the window; its popover stays open. */
  /** The box of `locator` once it stopped moving (a panel slides in, a popover is placed after its thread loads). */
  const settled = async (locator: ReturnType<Page['locator']>) => {
    let last: Awaited<ReturnType<typeof locator.boundingBox>> = null;
    await expect
      .poll(
        async () => {
          const box = await locator.boundingBox();
          const still = box !== null && last !== null && box.x === last.x && box.y === last.y;
          last = box;
          return still;
        },
        { interval: 100 },
      )
      .toBe(true);
    return last!;
  };
  const pinComment = async (page: Page, x: number, y: number, text: string) => {
    await w(page).getByRole('button', { name: 'Add a comment' }).click();
    await page.mouse.click(x, y);
    const composer = w(page).locator('.popover pulse-composer textarea');
    await composer.fill(text);
    await composer.press('Enter');
    await expect.poll(() => w(page).locator('.popover .comment').count()).toBe(1);
  };

  beforeAll(async () => {
    t = await startTestServer('sqlite', { demo: true });
    const demoEnvId = (await ensureDemoEnvironment(t.server.ctx)).id;
    const { secretKey } = await t.server.ctx.environments.rotate(demoEnvId);
    demoApi = (method, path, body) => apiRequest(t.url, method, path, body, secretKey);
    s = await launchBrowser();
    alice = await open('alice');
    bob = await open('bob');
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('shows "@Bob Smith" in notification and activity previews, as the thread does', async () => {
    // A pinned thread near the right edge (where the Comments panel opens), mentioning Bob.
    await w(alice).getByRole('button', { name: 'Add a comment' }).click();
    await alice.mouse.click(1000, 420);
    const composer = w(alice).locator('.popover pulse-composer textarea');
    await composer.fill('Is this number right? @bo');
    await expect.poll(() => w(alice).locator('.popover .suggestions li').count()).toBeGreaterThan(0);
    await composer.press('Enter'); // picks Bob
    await composer.press('Enter'); // sends
    await expect.poll(() => w(alice).locator('.popover .comment .mention').textContent()).toBe('@Bob Smith');
    // And one in another room, which Bob's page holds no state for.
    const other = await demoApi('POST', '/api/v1/rooms/elsewhere/threads', { userId: 'alice', body: 'Also here, @bob.', mentions: ['bob'] });
    expect(other.status).toBe(201);

    await expect.poll(() => w(bob).locator('button[aria-label="Notifications"] .badge').textContent()).toBe('2');
    await w(bob).getByRole('button', { name: 'Notifications' }).click();
    const items = w(bob).locator('.panel .list-item');
    await expect.poll(() => items.count()).toBe(2);
    await expect.poll(() => items.locator('.mention').allTextContents()).toEqual(['@Bob Smith', '@Bob Smith']);
    expect(await items.first().textContent()).not.toContain('@bob');
    await s.screenshot(bob, 'widget-notification-mentions');

    await w(bob).getByRole('button', { name: 'Activity', exact: true }).click();
    await expect.poll(() => w(bob).locator('.panel .list-item .mention').allTextContents()).toEqual(['@Bob Smith']);
    await w(bob).getByRole('button', { name: 'Activity', exact: true }).click();
  });

  it('keeps a pin popover clear of the Comments panel at 1280×800, whichever opens first', async () => {
    const pin = w(bob).locator('.pin').first();
    await pin.waitFor();
    const popover = w(bob).locator('.popover');
    const panel = w(bob).locator('.dock .panel');

    // The panel first, then the pin.
    await w(bob).getByRole('button', { name: 'Comments', exact: true }).click();
    await panel.waitFor();
    await pin.click();
    await popover.waitFor();
    await bob.waitForTimeout(250); // the panel's slide-in
    expect(overlap((await popover.boundingBox())!, (await panel.boundingBox())!)).toBe(false);
    expect(overlap((await popover.boundingBox())!, (await pin.boundingBox())!)).toBe(false);
    await s.screenshot(bob, 'widget-popover-beside-panel');

    // The pin first, then the panel.
    await w(bob).getByRole('button', { name: 'Comments', exact: true }).click();
    await w(bob).getByRole('button', { name: 'Close' }).click();
    await pin.click();
    await popover.waitFor();
    await w(bob).getByRole('button', { name: 'Comments', exact: true }).click();
    await panel.waitFor();
    await bob.waitForTimeout(250);
    expect(overlap((await popover.boundingBox())!, (await panel.boundingBox())!)).toBe(false);

    // With the panel closed again, the popover stays clear of the toolbar too.
    await w(bob).getByRole('button', { name: 'Comments', exact: true }).click();
    await expect.poll(() => panel.count()).toBe(0);
    expect(overlap((await popover.boundingBox())!, (await w(bob).locator('.toolbar').boundingBox())!)).toBe(false);
  });

  it('keeps an open popover beside its pin while the page scrolls', async () => {
    const page = await open('bob');
    await pinComment(page, 300, 300, 'Scroll with me');
    const popover = w(page).locator('.popover');
    const before = await settled(popover);
    await page.mouse.move(640, 200);
    await page.mouse.wheel(0, 120);
    await expect.poll(() => page.evaluate(() => scrollY)).toBe(120);
    await expect.poll(async () => Math.round((await popover.boundingBox())!.y)).toBe(Math.round(before.y - 120));
    expect(overlap((await popover.boundingBox())!, (await w(page).locator('.pin.active').boundingBox())!)).toBe(false);
    await page.close();
  });

  it("moves a long thread's popover up so its reply box shows, and squeezes it above the toolbar on a phone", async () => {
    const page = await open('carol');
    await pinComment(page, 420, 640, 'A pin low on the page');
    const threadId = await w(page).evaluate((el) => (el as unknown as { threads: { id: string; comments: { body: string }[] }[] }).threads.find((t) => t.comments[0]?.body === 'A pin low on the page')!.id);
    for (let i = 0; i < 12; i++) expect((await demoApi('POST', `/api/v1/threads/${threadId}/comments`, { userId: 'bob', body: `Reply number ${i + 1}, long enough to take a line of its own in the popover.` })).status).toBe(201);
    const popover = w(page).locator('.popover');
    await expect.poll(() => popover.locator('.comment').count()).toBe(13);
    await page.waitForTimeout(100);
    const box = (await popover.boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(800 - 12);
    expect(overlap(box, (await w(page).locator('.pin.active').boundingBox())!)).toBe(false); // its pin stays in sight
    const reply = (await popover.getByRole('button', { name: 'Reply' }).boundingBox())!;
    expect(reply.y + reply.height).toBeLessThanOrEqual(800);
    await s.screenshot(page, 'widget-long-thread-popover');

    // A phone: nowhere beside the pin fits, so it opens above the toolbar, shorter.
    const phone = await openDemo(s, t.url, 'dave', room, { viewport: { width: 390, height: 844 } });
    await w(phone).evaluate((el, id) => (el as unknown as { openThread(id: string, where: string): void }).openThread(id, 'popover'), threadId);
    const small = w(phone).locator('.popover');
    await expect.poll(() => small.locator('.comment').count()).toBe(13);
    await phone.waitForTimeout(100);
    const toolbar = (await w(phone).locator('.toolbar').boundingBox())!;
    const p = (await small.boundingBox())!;
    expect(overlap(p, toolbar)).toBe(false);
    expect(p.y).toBeGreaterThanOrEqual(0);
    const phoneReply = (await small.getByRole('button', { name: 'Reply' }).boundingBox())!;
    expect(phoneReply.y + phoneReply.height).toBeLessThanOrEqual(toolbar.y);
    await s.screenshot(phone, 'widget-long-thread-phone');
  });

  it('puts the Comments or Notifications panel away on a phone when a pin is placed, so its popover can be used', async () => {
    const phone = await openDemo(s, t.url, 'erin', `${room}-phone-pin`, { viewport: { width: 375, height: 667 } });
    for (const panel of ['Comments', 'Notifications']) {
      await w(phone).getByRole('button', { name: panel, exact: true }).click();
      await w(phone).locator('.panel').waitFor();
      await w(phone).getByRole('button', { name: 'Add a comment' }).click();
      await phone.mouse.click(300, 200);
      const popover = w(phone).locator('.popover');
      await popover.locator('pulse-composer textarea').fill(`Placed with ${panel} open`);
      // A real click: it fails if anything lies over the button.
      await popover.getByRole('button', { name: 'Comment' }).click({ timeout: 3000 });
      await expect.poll(() => popover.locator('.comment').count()).toBe(1);
      expect(await popover.locator('.comment .text').textContent()).toBe(`Placed with ${panel} open`);
      await s.screenshot(phone, `widget-phone-pin-${panel.toLowerCase()}`);
      await popover.getByRole('button', { name: 'Close' }).click();
    }
    await phone.close();
  });

  it('keeps "· 1 comment" on a thread card when its author has a very long name, the name cut short', async () => {
    const longName = 'Maximilian-Alexander Bartholomew Featherstonehaugh-Wolfeschlegelsteinhausenbergerdorff III';
    const page = await openDemo(s, t.url, 'maxlong', `${room}-long-name`, { name: longName });
    await w(page).getByRole('button', { name: 'Comments', exact: true }).click();
    const composer = w(page).locator('.panel pulse-composer textarea');
    await composer.fill('A short comment');
    await composer.press('Enter');
    await w(page).getByRole('button', { name: 'Back to all comments' }).click();
    const card = w(page).locator('.thread-card').first();
    await card.waitFor();
    expect(await card.locator('.meta .name').textContent()).toBe(longName);
    const cardBox = (await card.boundingBox())!;
    for (const part of await card.locator('.meta > *').all()) {
      const box = (await part.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(cardBox.x + cardBox.width);
    }
    const count = card.locator('.meta > span', { hasText: '1 comment' });
    expect(await count.evaluate((el) => el.scrollWidth <= el.clientWidth + 1)).toBe(true); // whole, not cut
    // The name is what gives way, with an ellipsis; hovering it shows it whole.
    expect(await card.locator('.meta .name').evaluate((el) => [getComputedStyle(el).textOverflow, el.scrollWidth > el.clientWidth])).toEqual(['ellipsis', true]);
    expect(await card.locator('.meta .name').getAttribute('title')).toBe(longName);
    await s.screenshot(page, 'widget-long-name-card');
    await page.close();
  });

  it('shows the whole @mention list, clear of the popover header, and above a composer near the bottom', async () => {
    for (const name of ['Barbara Liskov', 'Bea Park', 'Ben Ortiz', 'Bruno Rossi', 'Billie Chan']) {
      expect((await demoApi('PUT', `/api/v1/users/${name.split(' ')[0]!.toLowerCase()}`, { name })).status).toBeLessThan(300);
    }
    const page = await open('alice');
    const visible = async (locator: ReturnType<Page['locator']>) => {
      const box = (await locator.boundingBox())!;
      return box.y >= 0 && box.y + box.height <= 800 && box.x >= 0 && box.x + box.width <= 1280;
    };
    const list = w(page).locator('.suggestions');

    // A new comment's popover: six people start with "b", all of them listed, none clipped.
    await w(page).getByRole('button', { name: 'Add a comment' }).click();
    await page.mouse.click(600, 300);
    const popover = w(page).locator('.popover');
    await popover.locator('pulse-composer textarea').pressSequentially('Hello @b');
    await expect.poll(() => list.locator('li').count()).toBe(6);
    for (const item of await list.locator('li').all()) expect(await visible(item)).toBe(true);
    // The list may not hide the header: its close button is still what is under the pointer there.
    const close = popover.getByRole('button', { name: 'Close' });
    expect(overlap((await list.boundingBox())!, (await close.boundingBox())!)).toBe(false);
    expect(overlap((await list.boundingBox())!, (await popover.locator('textarea').boundingBox())!)).toBe(false);
    await s.screenshot(page, 'widget-mention-list-popover');
    await popover.locator('textarea').press('Escape');
    await close.click();

    // The Comments panel's composer, at the bottom of the screen: the list opens above it.
    await w(page).getByRole('button', { name: 'Comments', exact: true }).click();
    const side = w(page).locator('.dock .panel pulse-composer textarea').last();
    await settled(side); // the panel has slid in: a person types into it after that
    await side.pressSequentially('Hi @b');
    await expect.poll(() => list.locator('li').count()).toBe(6);
    expect((await list.boundingBox())!.y + (await list.boundingBox())!.height).toBeLessThanOrEqual((await side.boundingBox())!.y);
    for (const item of await list.locator('li').all()) expect(await visible(item)).toBe(true);
    await s.screenshot(page, 'widget-mention-list-panel');
  });
});
