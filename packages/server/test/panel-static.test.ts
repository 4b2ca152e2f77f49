import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PANEL_DIST, registerPanelStatic } from '../src/panel-api/static.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** The built SPA at /panel: files, SPA fallback, content types, cache headers, and the 503 page without a build. */

describe('Panel static files', () => {
  let dir: string;
  let app: FastifyInstance;
  let missing: FastifyInstance;
  const INDEX = '<!doctype html><html><head><title>Pulse Admin</title></head><body><div id="root"></div></body></html>';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pulse-panel-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'index-Ab12Cd34.js'), 'console.log("panel")');
    writeFileSync(join(dir, 'assets', 'index-Ef56Gh78.css'), 'body{}');
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(tmpdir(), 'pulse-panel-secret.txt'), 'outside');
    app = Fastify();
    registerPanelStatic(app, dir);
    await app.ready();
    missing = Fastify();
    registerPanelStatic(missing, join(dir, 'no-such-build'));
    await missing.ready();
  });
  afterAll(async () => {
    await app?.close();
    await missing?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(tmpdir(), 'pulse-panel-secret.txt'), { force: true });
  });

  it('serves index.html at /panel and /panel/, never cached, with security headers', async () => {
    for (const url of ['/panel', '/panel/']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.body).toBe(INDEX);
    }
  });

  it('falls back to index.html for client routes', async () => {
    for (const url of [
      '/panel/environments',
      '/panel/environments/env_1/data/rooms/a%2Fb/threads/t1',
      '/panel/environments/env_1/data/rooms/100%25', // a room id with a percent sign
      '/panel/environments/env_1/data/rooms/notes.md', // a room id that looks like a file
      '/panel/team',
      '/panel/setup?token=abc',
    ]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe(INDEX);
    }
  });

  it('serves hashed assets with their content type, cached for a year', async () => {
    const js = await app.inject({ url: '/panel/assets/index-Ab12Cd34.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe('console.log("panel")');
    const css = await app.inject({ url: '/panel/assets/index-Ef56Gh78.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const svg = await app.inject({ url: '/panel/favicon.svg' });
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['cache-control']).toBe('public, max-age=300');
    const head = await app.inject({ method: 'HEAD', url: '/panel/assets/index-Ab12Cd34.js' });
    expect(head.statusCode).toBe(200);
  });

  it('answers 404 for missing files rather than the app', async () => {
    expect((await app.inject({ url: '/panel/assets/index-Old00000.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/panel/robots.txt' })).statusCode).toBe(404);
  });

  it('never serves files outside the build', async () => {
    for (const url of ['/panel/..%2fpulse-panel-secret.txt', '/panel/%2e%2e/%2e%2e/etc/passwd', '/panel/assets/..%2f..%2fpulse-panel-secret.txt', '/panel/%00']) {
      const res = await app.inject({ url });
      expect(res.body, url).not.toContain('outside');
      expect(res.body, url).not.toContain('root:');
    }
  });

  it('shows a clear 503 page when the panel has not been built', async () => {
    for (const url of ['/panel', '/panel/environments/env_1']) {
      const res = await missing.inject({ url });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toContain('has not been built');
      expect(res.body).toContain('npm run build');
    }
  });
});

describe.skipIf(!existsSync(join(PANEL_DIST, 'index.html')))('Panel served by a real server (built)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the built app and its assets, and hands out the CSRF cookie', async () => {
    const res = await fetch(`${t.url}/panel/environments`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<div id="root"></div>');
    expect(res.headers.getSetCookie().some((c) => c.startsWith('pulse_csrf=') && c.includes('SameSite=Strict'))).toBe(true);
    const script = /src="(\/panel\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(t.url + script);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    // The API next to it still answers in JSON.
    const api = await fetch(`${t.url}/panel/api/nope`);
    expect(api.status).toBe(404);
    expect((await api.json()).error.code).toBe('not_found');
  });
});
