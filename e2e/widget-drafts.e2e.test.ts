import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { browserAvailable, launchBrowser, openDemo, widgetOf, type BrowserSession } from './helpers/browser.ts';

/**
 * What someone wrote is never lost without a way to get it back: when the server refuses it, or
 * when the thread it was meant for goes away. Alice and Bob on the demo page, each test in its own room.
 */
describe.skipIf(!browserAvailable)('<pulse-widget> keeps what you wrote', () => {
  let t: TestServer;
  let s: BrowserSession;
  const w = widgetOf;

  const open = async (as: string, room: string) => {
    const page = await openDemo(s, t.url, as, room);
    // "Copy your text" writes here, whatever the browser's clipboard permissions.
    await page.evaluate(() => {
      const copied: string[] = ((window as unknown as { copied: string[] }).copied = []);
      Object.defineProperty(navigator, 'clipboard', { value: { writeText: async (text: string) => void copied.push(text) } });
    });
    return page;
  };
  const copied = (page: Page) => page.evaluate(() => (window as unknown as { copied: string[] }).copied);

  /** Alice starts a thread from the Comments panel; Bob opens it in his. */
  const sharedThread = async (room: string) => {
    const alice = await open('alice', room);
    const bob = await open('bob', room);
    await w(alice).getByRole('button', { name: 'Comments' }).click();
    await w(alice).locator('.panel pulse-composer textarea').fill('A thread to be deleted');
    await w(alice).locator('.panel pulse-composer textarea').press('Enter');
    await w(bob).getByRole('button', { name: 'Comments' }).click();
    await w(bob).locator('.thread-card').first().click();
    await w(bob).locator('.panel .comment').first().waitFor();
    return { alice, bob };
  };
  const deleteThread = async (alice: Page) => {
    await w(alice).getByRole('button', { name: 'Delete thread' }).click();
    await w(alice).locator('.confirm').getByRole('button', { name: 'Delete' }).click();
  };

  beforeAll(async () => {
    t = await startTestServer('sqlite', { demo: true });
    s = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('keeps the banner of a refused reply when a refused reaction follows it', async () => {
    const { alice, bob } = await sharedThread('e2e-drafts-offline');
    await bob.context().setOffline(true);
    await expect.poll(() => w(bob).locator('.banner.warn').textContent(), { timeout: 4000 }).toContain('Reconnecting');
    await w(bob).locator('.panel pulse-composer textarea').fill('My important offline reply');
    await w(bob).locator('.panel pulse-composer textarea').press('Enter');
    await w(bob).locator('.panel .comment').first().getByRole('button', { name: 'Add a reaction' }).click();
    await w(bob).getByRole('menuitem', { name: 'React with 👍' }).click();
    await deleteThread(alice);
    await bob.context().setOffline(false);

    const banners = w(bob).locator('.banner.refusal');
    await expect.poll(() => banners.count(), { timeout: 15_000 }).toBe(2);
    expect(await banners.allTextContents()).toEqual([expect.stringContaining('Not saved:'), expect.stringContaining('Not saved:')]);
    // The reply's banner offers its text; the reaction's has none to offer.
    const copy = w(bob).getByRole('button', { name: 'Copy your text' });
    expect(await copy.count()).toBe(1);
    await copy.click();
    expect(await copied(bob)).toEqual(['My important offline reply']);
    await s.screenshot(bob, 'widget-two-refusals');
    // Banners do not overlap.
    const [a, b] = [(await banners.nth(0).boundingBox())!, (await banners.nth(1).boundingBox())!];
    expect(a.y + a.height <= b.y || b.y + b.height <= a.y).toBe(true);
    // One that carries text waits for its ×, however long.
    await bob.waitForTimeout(8500);
    expect(await copy.count()).toBe(1);
    await banners.filter({ hasText: 'Copy your text' }).getByRole('button', { name: 'Dismiss' }).click();
    expect(await copy.count()).toBe(0);
    await alice.close();
    await bob.close();
  }, 60_000);

  it('offers back a reply being written when someone else deletes its thread', async () => {
    const { alice, bob } = await sharedThread('e2e-drafts-deleted');
    const draft = 'A long careful reply, ten minutes in the writing';
    await w(bob).locator('.panel pulse-composer textarea').fill(draft);
    // Alice had started a reply too, in her own thread: deleting it herself, she knows.
    await w(alice).locator('.panel pulse-composer textarea').fill('Never mind');
    await deleteThread(alice);

    await expect.poll(() => w(bob).locator('.panel').getAttribute('aria-label')).toBe('Comments');
    const banner = w(bob).locator('.banner.refusal');
    await expect.poll(() => banner.count()).toBe(1);
    expect(await banner.textContent()).toContain('Not saved: The thread you were writing in was deleted.');
    expect(await banner.getAttribute('role')).toBe('alert');
    await banner.getByRole('button', { name: 'Copy your text' }).click();
    expect(await copied(bob)).toEqual([draft]);
    await s.screenshot(bob, 'widget-draft-of-deleted-thread');
    await alice.waitForTimeout(500);
    expect(await w(alice).locator('.banner.refusal').count()).toBe(0);
    await alice.close();
    await bob.close();
  }, 60_000);
});
