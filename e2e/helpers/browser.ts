import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium; no browser downloads happen here. */
export const CHROMIUM = process.env.PULSE_CHROMIUM ?? '/usr/bin/chromium';
const onCi = process.env.CI === 'true' || process.env.CI === '1';

export const browserAvailable = (() => {
  if (existsSync(CHROMIUM)) return true;
  if (onCi) throw new Error(`Chromium is required on CI but ${CHROMIUM} does not exist (apt-get install -y chromium).`);
  console.warn(`\n[pulse tests] SKIPPING browser suites: ${CHROMIUM} not found (apt-get install -y chromium)\n`);
  return false;
})();

/** Where screenshots go (not committed): look at them. */
export const SCREENSHOTS = join(process.cwd(), 'e2e', 'screenshots');

export interface BrowserSession {
  browser: Browser;
  /** A fresh context (its own cookies and storage): one per simulated user. */
  context(options?: Parameters<Browser['newContext']>[0]): Promise<BrowserContext>;
  screenshot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with the flags this network needs (no background traffic). Playwright
 * gives every launch a fresh temporary profile (its replacement for --user-data-dir).
 */
export async function launchBrowser(extraArgs: string[] = []): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async context(options) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
      contexts.push(context);
      return context;
    },
    async screenshot(page, name) {
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}

/** Collects console errors and page errors, to assert a page stayed clean. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

/** The widget on a page (its shadow root is pierced by Playwright's locators). */
export const widgetOf = (page: Page) => page.locator('pulse-widget');

/**
 * Opens the demo page as `as` (shown as `name`, when given) in `room`, in a fresh context (a user of
 * their own), and waits for the widget's toolbar. `beforeLoad` runs on the page before it navigates
 * (e.g. `watchConsole`).
 */
export async function openDemo(
  s: BrowserSession,
  baseUrl: string,
  as: string,
  room: string,
  options: { name?: string; viewport?: { width: number; height: number }; beforeLoad?: (page: Page) => void } = {},
): Promise<Page> {
  const page = await (await s.context(options.viewport ? { viewport: options.viewport } : undefined)).newPage();
  options.beforeLoad?.(page);
  const query = new URLSearchParams({ as, room, ...(options.name ? { name: options.name } : {}) });
  await page.goto(`${baseUrl}/demo/?${query}`);
  await widgetOf(page).locator('.toolbar').waitFor();
  return page;
}
