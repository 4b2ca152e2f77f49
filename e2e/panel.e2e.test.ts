import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../packages/server/test/helpers/server.ts';
import { join } from 'node:path';
import { browserAvailable, launchBrowser, SCREENSHOTS, watchConsole, type BrowserSession } from './helpers/browser.ts';

/**
 * The admin panel in Chromium, as a new operator uses it: first-run setup with the console's
 * token, login, an environment and its keys, a live client page using those keys, configuration,
 * key rotation, moderation, the team, and a Member who can look but not change anything.
 */

const OWNER = { name: 'Olivia Owner', email: 'olivia@example.com', password: 'a long owner password' };
const MEMBER = { name: 'Max Member', email: 'max@example.com', password: 'a long member password' };
const ROOM = 'docs/getting-started';

/**
 * A page with a raw WebSocket client speaking the protocol: it shows what a widget would know
 * (connection, config flags, threads) and records every frame and the close code.
 */
async function openClientPage(page: Page, url: string, widget: boolean): Promise<void> {
  await page.goto(`${url}/healthz`);
  await page.evaluate((widget) => {
    document.head.innerHTML = '<title>Client page</title>';
    document.body.innerHTML = `
      <main style="font:15px/1.5 system-ui;max-width:720px;margin:2rem auto">
        <h1 style="font-size:1.3rem">A page using Pulse</h1>
        <p>Connection: <strong id="status">not connected</strong> <span id="close"></span></p>
        <p>Reactions: <strong id="reactions">?</strong> · Drawing: <strong id="drawing">?</strong></p>
        <p>Threads in this room: <strong id="threads">?</strong></p>
        <ul id="log" style="font:12px ui-monospace,monospace;color:#555"></ul>
      </main>`;
    const w = window as unknown as Record<string, unknown>;
    const frames: any[] = [];
    const threads = new Map<string, unknown>();
    w.frames_ = frames;
    w.connect_ = (endpoint: string, apiKey: string, token: string, room: string) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(endpoint);
        w.closed_ = undefined;
        const show = (id: string, text: string) => (document.getElementById(id)!.textContent = text);
        const flags = (config: Record<string, boolean>) => {
          show('reactions', config.allowReactions ? 'on' : 'off');
          show('drawing', config.allowDrawing ? 'on' : 'off');
        };
        ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', apiKey, token, room }));
        ws.onmessage = (e) => {
          const m = JSON.parse(String(e.data));
          frames.push(m);
          const li = document.createElement('li');
          li.textContent = m.type;
          document.getElementById('log')!.prepend(li);
          if (m.type === 'auth:ok') {
            show('status', 'connected');
            show('close', '');
            flags(m.config);
            threads.clear();
            for (const t of m.room?.threads ?? []) threads.set(t.id, t);
            show('threads', String(threads.size));
            resolve();
          }
          if (m.type === 'auth:error') reject(new Error(m.code));
          if (m.type === 'config:updated') flags(m.config);
          if (m.type === 'thread:created') threads.set(m.thread.id, m.thread);
          if (m.type === 'thread:deleted') threads.delete(m.threadId);
          if (m.type === 'comment:deleted' && m.threadDeleted) threads.delete(m.threadId);
          if (m.type.startsWith('thread:') || m.type.startsWith('comment:')) show('threads', String(threads.size));
        };
        ws.onclose = (e) => {
          w.closed_ = e.code;
          show('status', 'disconnected');
          show('close', `(closed ${e.code} ${e.reason})`);
        };
      });
    if (widget) {
      const s = document.createElement('script');
      s.type = 'module';
      s.src = '/sdk/pulse-widget.js';
      document.head.append(s);
      // The real widget beside the raw client, for the pictures (assertions use the raw client).
      w.mountWidget_ = (endpoint: string, apiKey: string, token: string, room: string) => {
        document.querySelector('pulse-widget')?.remove();
        const el = document.createElement('pulse-widget');
        el.setAttribute('api-key', apiKey);
        el.setAttribute('token', token);
        el.setAttribute('room', room);
        el.setAttribute('endpoint', endpoint);
        document.body.append(el);
      };
    }
  }, widget);
}

describe.skipIf(!browserAvailable)('Admin panel in Chromium', { timeout: 60_000 }, () => {
  let t: TestServer;
  let s: BrowserSession;
  let admin: Page;
  let client: Page;
  let adminErrors: string[];
  let keys: { publishableKey: string; secretKey: string };
  let envId: string;
  let widgetServed = false;

  const shot = (page: Page, name: string, fullPage = false) =>
    fullPage ? page.screenshot({ path: join(SCREENSHOTS, `panel-${name}.png`), fullPage: true }).then(() => undefined) : s.screenshot(page, `panel-${name}`);
  const mint = async (secretKey: string, userId = 'reader', name = 'Rita Reader') =>
    fetch(`${t.url}/auth/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId, name, avatar: null }),
    });
  const rest = (secretKey: string, method: string, path: string, body?: unknown) =>
    fetch(`${t.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${secretKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const connectClient = async (pk: string, sk: string) => {
    const token = (await (await mint(sk)).json()).token as string;
    await client.evaluate(([endpoint, pk, token, room]) => (window as any).connect_(endpoint, pk, token, room), [t.wsUrl, pk, token, ROOM] as const);
    if (widgetServed) {
      const widgetToken = (await (await mint(sk, 'wanda', 'Wanda Widget')).json()).token as string;
      await client.evaluate(([endpoint, pk, token, room]) => (window as any).mountWidget_(endpoint, pk, token, room), [t.wsUrl, pk, widgetToken, ROOM] as const);
    }
  };
  const frames = (type: string) => client.evaluate((type) => ((window as any).frames_ as any[]).filter((f) => f.type === type), type);

  beforeAll(async () => {
    t = await startTestServer('sqlite');
    s = await launchBrowser();
    const context = await s.context();
    context.setDefaultTimeout(10_000);
    admin = await context.newPage();
    adminErrors = watchConsole(admin);
    const sdk = await fetch(`${t.url}/sdk/pulse-widget.js`);
    widgetServed = sdk.ok && (sdk.headers.get('content-type') ?? '').includes('javascript');
  }, 60_000);
  let failures = 0;
  afterEach(async (ctx) => {
    // A failed step leaves a picture of every open page behind.
    if (ctx.task.result?.state !== 'fail') return;
    failures++;
    for (const page of s.browser.contexts().flatMap((c) => c.pages())) {
      await s.screenshot(page, `panel-failed-${failures}-${page.url().replace(/\W+/g, '-').slice(-40)}`).catch(() => {});
    }
  });
  afterAll(async () => {
    await s?.close();
    await t?.close();
  });

  it('runs first-run setup with the one-time token from the console', async () => {
    expect(t.server.setupToken).toBeTruthy();
    await admin.goto(`${t.url}/panel/`);
    // No admin yet: the app asks for setup even without the link.
    await admin.getByRole('heading', { name: 'Welcome to Pulse' }).waitFor();
    await admin.goto(`${t.url}/panel/setup?token=${t.server.setupToken}`);
    await admin.getByLabel('Your name').fill(OWNER.name);
    await admin.getByLabel('Email').fill(OWNER.email);
    await admin.getByLabel('Password', { exact: true }).fill(OWNER.password);
    await admin.getByLabel('Confirm password').fill(OWNER.password);
    await shot(admin, 'setup');
    await admin.getByRole('button', { name: 'Create admin account' }).click();
    await admin.getByRole('heading', { name: 'Environments' }).waitFor();
    expect(admin.url()).toBe(`${t.url}/panel/environments`);
    // The first start created the Development environment.
    await admin.getByRole('link', { name: /Development/ }).first().waitFor();
    await shot(admin, 'environments');
  });

  it('logs out and logs in again (a wrong password first)', async () => {
    await admin.getByRole('button', { name: 'Log out' }).click();
    await admin.getByRole('heading', { name: 'Log in' }).waitFor();
    await admin.getByLabel('Email').fill(OWNER.email);
    await admin.getByLabel('Password').fill('not the password');
    await admin.getByRole('button', { name: 'Log in' }).click();
    await admin.getByText('Wrong email or password.').waitFor();
    await shot(admin, 'login-error');
    await admin.getByLabel('Password').fill(OWNER.password);
    await shot(admin, 'login');
    await admin.getByRole('button', { name: 'Log in' }).click();
    await admin.getByRole('heading', { name: 'Environments' }).waitFor();
  });

  it('creates an environment and shows its key pair once', async () => {
    await admin.getByRole('button', { name: 'Create Environment' }).click();
    await admin.getByLabel('Name').fill('Production');
    await shot(admin, 'create-environment');
    await admin.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
    const dialog = admin.getByRole('dialog', { name: /Production/ });
    await dialog.getByText('The secret key is shown only once.').waitFor();
    keys = {
      publishableKey: await dialog.getByLabel('Publishable key', { exact: true }).inputValue(),
      secretKey: await dialog.getByLabel('Secret key', { exact: true }).inputValue(),
    };
    expect(keys.publishableKey).toMatch(/^pk_[0-9a-f]{48}$/);
    expect(keys.secretKey).toMatch(/^sk_[0-9a-f]{48}$/);
    await shot(admin, 'keys-once');
    // Done stays disabled until the operator confirms the secret is saved.
    expect(await dialog.getByRole('button', { name: 'Done' }).isDisabled()).toBe(true);
    await dialog.getByLabel('I have saved the secret key').check();
    await dialog.getByRole('button', { name: 'Done' }).click();
    await admin.getByRole('heading', { name: 'Production' }).waitFor();
    envId = /\/environments\/(env_[0-9a-f]+)/.exec(admin.url())![1]!;
    // The secret is gone for good: only its prefix is on the page.
    await admin.getByRole('heading', { name: 'API Keys' }).waitFor();
    await admin.locator('tr[data-key-kind="secret"]').first().waitFor();
    const html = await admin.content();
    expect(html).not.toContain(keys.secretKey);
    expect(html).toContain(`${keys.secretKey.slice(0, 11)}…`);
    expect(html).toContain(keys.publishableKey);
    await shot(admin, 'environment', true);
  });

  it('connects a client page with those keys (token minted with the sk)', async () => {
    const res = await mint(keys.secretKey);
    expect(res.status).toBe(200);
    await rest(keys.secretKey, 'PUT', '/api/v1/users/alice', { name: 'Alice Chen', avatar: null });
    const thread = await (await rest(keys.secretKey, 'POST', `/api/v1/rooms/${encodeURIComponent(ROOM)}/threads`, { userId: 'alice', body: 'Is this paragraph still accurate?' })).json();
    expect(thread.thread.id).toBeTruthy();
    const context = await s.context();
    context.setDefaultTimeout(10_000);
    client = await context.newPage();
    await openClientPage(client, t.url, widgetServed);
    await connectClient(keys.publishableKey, keys.secretKey);
    await expect.poll(() => client.locator('#status').textContent()).toBe('connected');
    expect(await client.locator('#reactions').textContent()).toBe('on');
    expect(await client.locator('#threads').textContent()).toBe('1');
    if (widgetServed) await client.locator('pulse-widget').waitFor({ state: 'attached' });
    await client.waitForTimeout(500); // let the widget draw, for the picture
    await shot(client, 'client-page');
  });

  it('changes a config flag in the Configure modal; the connected client gets it live', async () => {
    await admin.getByRole('button', { name: 'Configure Environment' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Configure Environment' });
    for (const group of ['Media', 'Features', 'Display', 'P2P / Real-Time Data']) await dialog.getByRole('group', { name: group }).waitFor();
    // Settings that depend on a switch that is off say so, and stay editable.
    const meshRow = dialog.locator('.config-row').filter({ hasText: 'P2P Mesh Limit' });
    expect(await meshRow.getByText('No effect while Allow P2P is off').count()).toBe(1);
    expect(await meshRow.getAttribute('class')).toContain('is-idle');
    expect(await dialog.getByRole('spinbutton', { name: 'P2P Mesh Limit' }).isEditable()).toBe(true);
    expect(await dialog.locator('.config-row.is-idle').count()).toBe(7); // six P2P settings, the link template
    await shot(admin, 'configure-idle');
    await dialog.locator('#cfg-allowP2P').check();
    expect(await meshRow.getByText('No effect while').count()).toBe(0);
    await dialog.locator('#cfg-allowP2P').uncheck();
    await dialog.getByRole('switch', { name: 'Allow Reactions' }).uncheck();
    await dialog.getByRole('spinbutton', { name: 'Max File Size (MB)' }).fill('500');
    await dialog.getByText('At most 100.').waitFor();
    expect(await dialog.getByRole('button', { name: /^Save/ }).isDisabled()).toBe(true);
    // Counted with the other edit (the switch), though Save stays off until it is fixed.
    expect(await dialog.getByRole('button', { name: 'Save (2)' }).count()).toBe(1);
    // Refused as typed, but marked as changed like any other edit.
    expect(await dialog.locator('.config-row.is-changed').filter({ hasText: 'Max File Size (MB)' }).count()).toBe(1);
    await shot(admin, 'configure-invalid');
    await dialog.getByRole('spinbutton', { name: 'Max File Size (MB)' }).fill('25');
    await shot(admin, 'configure');
    // A link template the server would refuse is shown at its field as it is typed (the server's
    // own check, from @pulse/protocol), and Save waits for it.
    const template = dialog.getByRole('textbox', { name: 'Email Link Template' });
    await template.fill('https://app.example.com/{user}');
    await dialog.getByText('only {roomId} and {threadId}').waitFor();
    expect(await template.getAttribute('aria-invalid')).toBe('true');
    expect(await dialog.getByRole('button', { name: 'Save (3)' }).isDisabled()).toBe(true);
    await template.fill('ftp://files.example.com/{roomId}');
    await dialog.getByText('must be empty or an http:// or https:// URL').waitFor();
    await shot(admin, 'configure-refused');
    await template.fill('');
    expect(await dialog.getByText('only {roomId} and {threadId}').count()).toBe(0);
    // Escape with changes not saved asks first; "Cancel" there keeps them.
    await admin.keyboard.press('Escape');
    const discard = admin.getByRole('dialog', { name: 'Discard your changes?' });
    await discard.getByText('2 settings are changed and not saved.').waitFor();
    await shot(admin, 'configure-discard');
    await discard.getByRole('button', { name: 'Cancel' }).click();
    await discard.waitFor({ state: 'detached' });
    expect(await dialog.getByRole('spinbutton', { name: 'Max File Size (MB)' }).inputValue()).toBe('25');
    await dialog.getByRole('button', { name: 'Save (2)' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => client.locator('#reactions').textContent()).toBe('off');
    const updates = await frames('config:updated');
    expect(updates.at(-1).config).toMatchObject({ allowReactions: false, maxFileSizeMb: 25 });
    await shot(client, 'client-config-updated');
    // The audit log on the environment page says who did it.
    await admin.getByText('Changed the configuration').waitFor();
    await admin.getByText('maxFileSizeMb 10 → 25, allowReactions on → off').waitFor();
  });

  it('rotates keys: the old sk gets 401 on REST and the client is disconnected (4403)', async () => {
    await admin.getByRole('button', { name: 'Rotate Keys' }).click();
    const confirm = admin.getByRole('dialog', { name: 'Rotate the keys?' });
    await shot(admin, 'rotate-confirm');
    await confirm.getByRole('button', { name: 'Rotate Keys' }).click();
    const reveal = admin.getByRole('dialog', { name: 'New keys' });
    const next = {
      publishableKey: await reveal.getByLabel('Publishable key', { exact: true }).inputValue(),
      secretKey: await reveal.getByLabel('Secret key', { exact: true }).inputValue(),
    };
    expect(next.secretKey).not.toBe(keys.secretKey);
    await expect.poll(() => client.evaluate(() => (window as any).closed_)).toBe(4403);
    expect(await client.locator('#status').textContent()).toBe('disconnected');
    await shot(client, 'client-disconnected');
    const old = await rest(keys.secretKey, 'GET', '/api/v1/rooms');
    expect(old.status).toBe(401);
    expect((await old.json()).error.code).toBe('key_revoked');
    expect((await mint(keys.secretKey)).status).toBe(401);
    expect((await rest(next.secretKey, 'GET', '/api/v1/rooms')).status).toBe(200);
    await shot(admin, 'rotated-keys');
    await reveal.getByLabel('I have saved the secret key').check();
    await reveal.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => admin.locator('tr[data-key-status="revoked"]').count()).toBe(2);
    await expect.poll(() => admin.locator('tr[data-key-status="active"]').count()).toBe(2);
    await admin.getByText('Rotated the keys').waitFor();
    await shot(admin, 'environment-after-rotation', true);
    keys = next;
    await connectClient(keys.publishableKey, keys.secretKey); // back with the new pair
    await expect.poll(() => client.locator('#status').textContent()).toBe('connected');
  });

  it('browses the data; an edit and a deletion reach the client live', async () => {
    await rest(keys.secretKey, 'PUT', '/api/v1/users/bob', { name: 'Bob <script>alert(1)</script> Smith', avatar: null });
    const second = await (await rest(keys.secretKey, 'POST', `/api/v1/rooms/${encodeURIComponent(ROOM)}/threads`, { userId: 'bob', body: '<img src=x onerror="window.__xss=1"> spam spam' })).json();
    await rest(keys.secretKey, 'POST', `/api/v1/threads/${second.thread.id}/comments`, { userId: 'alice', body: 'Please keep it civil.' });
    await expect.poll(() => client.locator('#threads').textContent()).toBe('2');

    await admin.getByRole('link', { name: 'Browse Data' }).click();
    await admin.locator('th', { hasText: 'Room ID' }).waitFor();
    await admin.getByRole('searchbox', { name: 'Search rooms by ID' }).fill('getting');
    await expect.poll(() => admin.url()).toContain('search=getting');
    await shot(admin, 'data-rooms');
    await admin.getByRole('link', { name: ROOM }).click();
    await admin.locator('th', { hasText: 'First comment' }).waitFor();
    await shot(admin, 'data-threads');
    await admin.getByRole('link', { name: /spam spam/ }).click();
    await admin.locator('article.comment').first().waitFor();
    // Names and bodies are text, never HTML.
    await admin.getByText('Bob <script>alert(1)</script> Smith').first().waitFor();
    await admin.getByText('<img src=x onerror="window.__xss=1"> spam spam').waitFor();
    expect(await admin.evaluate(() => (window as any).__xss)).toBeUndefined();
    await shot(admin, 'data-comments');

    // Edit the spam.
    const spam = admin.locator('article.comment').first();
    // Escape cancels an edit, as in the widget.
    await spam.getByRole('button', { name: 'Edit' }).click();
    await spam.getByLabel('Comment text').fill('never saved');
    await spam.getByLabel('Comment text').press('Escape');
    await expect.poll(() => spam.getByLabel('Comment text').count()).toBe(0);
    await spam.getByRole('button', { name: 'Edit' }).click();
    await spam.getByLabel('Comment text').fill('[removed by a moderator]');
    await shot(admin, 'data-edit');
    await spam.getByRole('button', { name: 'Save' }).click();
    await spam.getByText('[removed by a moderator]').waitFor();
    await expect.poll(async () => (await frames('comment:updated')).some((f) => f.comment.body === '[removed by a moderator]')).toBe(true);

    // Delete the whole thread.
    await admin.getByRole('button', { name: 'Delete thread' }).click();
    await shot(admin, 'delete-confirm');
    await admin.getByRole('dialog').getByRole('button', { name: 'Delete thread' }).click();
    await admin.locator('th', { hasText: 'First comment' }).waitFor();
    await expect.poll(() => client.locator('#threads').textContent()).toBe('1');
    expect((await frames('thread:deleted')).map((f) => f.threadId)).toContain(second.thread.id);
    await shot(client, 'client-after-moderation');

    await admin.getByRole('link', { name: 'Rooms' }).click();
    await admin.getByRole('tab', { name: 'Users' }).click();
    await admin.locator('th', { hasText: 'External ID' }).waitFor();
    await shot(admin, 'data-users');
  });

  it('adds a Member on the Team page', async () => {
    await admin.getByRole('link', { name: 'Team' }).click();
    await admin.getByRole('heading', { name: 'Team', exact: true, level: 1 }).waitFor();
    await admin.getByRole('button', { name: 'Add Member' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Add Member' });
    await dialog.getByLabel('Email').fill(MEMBER.email);
    await dialog.getByLabel('Name').fill(MEMBER.name);
    // Too short: the button stays off, and the field says why.
    await dialog.getByLabel('Password').fill('short');
    await dialog.getByText('3 more characters needed.').waitFor();
    expect(await dialog.getByRole('button', { name: 'Add member' }).isDisabled()).toBe(true);
    await dialog.getByLabel('Password').fill(MEMBER.password);
    expect(await dialog.getByText('more characters needed').count()).toBe(0);
    await dialog.getByLabel('Role').selectOption('member');
    await shot(admin, 'add-member');
    await dialog.getByRole('button', { name: 'Add member' }).click();
    await admin.locator(`tr[data-member="${MEMBER.email}"]`).waitFor();
    // Nobody can remove or demote themselves.
    expect(await admin.locator(`tr[data-member="${OWNER.email}"]`).getByRole('button', { name: 'Remove' }).count()).toBe(0);
    await shot(admin, 'team');
  });

  it('shows clear empty and not-found states', async () => {
    const dev = (await admin.evaluate(() => fetch('/panel/api/environments').then((r) => r.json()))).environments.find((e: any) => e.name === 'Development');
    await admin.goto(`${t.url}/panel/environments/${dev.id}/data`);
    await admin.getByText('No rooms yet').waitFor();
    await shot(admin, 'data-empty');
    await admin.getByRole('searchbox', { name: 'Search rooms by ID' }).fill('nothing-like-this');
    await admin.getByText('No rooms match “nothing-like-this”').waitFor();
    await admin.goto(`${t.url}/panel/environments/env_does_not_exist`);
    await admin.getByText('Environment not found').waitFor();
    await shot(admin, 'environment-not-found');
    await admin.goto(`${t.url}/panel/no/such/page`);
    await admin.getByText('Page not found').waitFor();
  });

  it('lets a Member look but not rotate, revoke, configure or moderate (UI and API)', async () => {
    const context = await s.context();
    context.setDefaultTimeout(10_000);
    const member = await context.newPage();
    const memberErrors = watchConsole(member);
    await member.goto(`${t.url}/panel/environments/${envId}`);
    await member.getByLabel('Email').fill(MEMBER.email);
    await member.getByLabel('Password').fill(MEMBER.password);
    await member.getByRole('button', { name: 'Log in' }).click();
    await member.getByRole('heading', { name: 'Production' }).waitFor();
    await member.getByText('view-only', { exact: true }).waitFor();
    await member.locator('tr[data-key-status="active"]').first().waitFor();
    expect(await member.getByRole('button', { name: 'Rotate Keys' }).isDisabled()).toBe(true);
    expect(await member.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: 'Configure Environment' }).count()).toBe(0);
    expect(await member.getByRole('button', { name: 'Edit name' }).count()).toBe(0);
    await shot(member, 'member-environment', true);
    await member.getByRole('button', { name: 'View Configuration' }).click();
    const config = member.getByRole('dialog', { name: 'Environment Configuration' });
    await config.getByRole('switch', { name: 'Allow Reactions' }).waitFor();
    expect(await config.getByRole('switch', { name: 'Allow Reactions' }).isDisabled()).toBe(true);
    expect(await config.getByRole('button', { name: /^Save/ }).count()).toBe(0);
    await shot(member, 'member-configuration');
    await config.getByRole('button', { name: 'Close' }).last().click();

    await member.getByRole('link', { name: 'Browse Data' }).click();
    await member.getByRole('link', { name: ROOM }).click();
    await member.locator('th', { hasText: 'First comment' }).waitFor();
    expect(await member.getByRole('button', { name: 'Delete' }).count()).toBe(0);
    await member.getByRole('link', { name: /Is this paragraph/ }).click();
    await member.locator('article.comment').first().waitFor();
    expect(await member.getByRole('button', { name: /Edit|Delete/ }).count()).toBe(0);
    await shot(member, 'member-data');
    await member.getByRole('link', { name: 'Team' }).click();
    await member.locator(`tr[data-member="${MEMBER.email}"]`).waitFor();
    expect(await member.getByRole('button', { name: 'Add Member' }).isDisabled()).toBe(true);
    expect(await member.getByRole('button', { name: 'Remove' }).count()).toBe(0);

    // The server refuses too, with the member's own session and CSRF token.
    const { keyId, threadId, commentId } = await admin.evaluate(async ([envId, room]) => {
      const keys = await (await fetch(`/panel/api/environments/${envId}/keys`)).json();
      const threads = await (await fetch(`/panel/api/environments/${envId}/rooms/${encodeURIComponent(room)}/threads`)).json();
      const comments = await (await fetch(`/panel/api/environments/${envId}/threads/${threads.items[0].id}/comments`)).json();
      return { keyId: keys.keys.find((k: any) => k.status === 'active').id, threadId: threads.items[0].id, commentId: comments.items[0].id };
    }, [envId, ROOM] as const);
    const statuses = await member.evaluate(
      async ({ envId, keyId, threadId, commentId }) => {
        const csrf = decodeURIComponent(/(?:^|; )pulse_csrf=([^;]+)/.exec(document.cookie)![1]!);
        const call = async (method: string, path: string, body?: unknown) => {
          const res = await fetch(`/panel/api${path}`, {
            method,
            headers: { 'x-csrf-token': csrf, ...(body ? { 'content-type': 'application/json' } : {}) },
            ...(body ? { body: JSON.stringify(body) } : {}),
          });
          return [res.status, (await res.json()).error?.code];
        };
        return {
          rotate: await call('POST', `/environments/${envId}/keys/rotate`),
          revoke: await call('POST', `/environments/${envId}/keys/${keyId}/revoke`),
          configure: await call('PATCH', `/environments/${envId}/config`, { allowDrawing: false }),
          deleteThread: await call('DELETE', `/environments/${envId}/threads/${threadId}`),
          deleteComment: await call('DELETE', `/environments/${envId}/comments/${commentId}`),
          editComment: await call('PATCH', `/environments/${envId}/comments/${commentId}`, { body: 'x' }),
        };
      },
      { envId, keyId, threadId, commentId },
    );
    for (const [what, result] of Object.entries(statuses)) expect({ what, result }).toEqual({ what, result: [403, 'forbidden'] });
    // Nothing changed: the client still has its thread and its connection.
    expect(await client.locator('#threads').textContent()).toBe('1');
    expect(await client.locator('#status').textContent()).toBe('connected');
    expect((await rest(keys.secretKey, 'GET', '/api/v1/rooms')).status).toBe(200);
    // Expected 403s from the refused calls are the only console errors.
    expect(memberErrors.filter((e) => !/status of 403/.test(e))).toEqual([]);
  });

  it('works on a phone-sized screen', async () => {
    const context = await s.context({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    context.setDefaultTimeout(10_000);
    const phone = await context.newPage();
    await phone.goto(`${t.url}/panel/login`);
    await phone.getByLabel('Email').fill(OWNER.email);
    await phone.getByLabel('Password').fill(OWNER.password);
    await shot(phone, 'mobile-login');
    await phone.getByRole('button', { name: 'Log in' }).click();
    await phone.getByRole('heading', { name: 'Environments' }).waitFor();
    await phone.goto(`${t.url}/panel/environments/${envId}`);
    await phone.getByRole('heading', { name: 'API Keys' }).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(phone, 'mobile-environment', true);
    // On a short page the top bar keeps its height: the page below takes the rest of the screen.
    await phone.goto(`${t.url}/panel/team`);
    await phone.getByRole('heading', { name: 'Team', exact: true, level: 1 }).waitFor();
    expect((await phone.locator('.sidebar').boundingBox())!.height).toBeLessThan(70);
    await shot(phone, 'mobile-team');
    await phone.getByRole('button', { name: 'Menu' }).click();
    await phone.getByRole('link', { name: 'Team' }).waitFor();
    await shot(phone, 'mobile-menu');
  });

  it('logged no unexpected errors in the admin console', () => {
    // On purpose: the wrong-password step answers 401 and the not-found step 404. (A link template
    // the server would refuse is caught as it is typed: no 400.)
    expect(adminErrors.filter((e) => !/status of 40[14]/.test(e))).toEqual([]);
  });
});
