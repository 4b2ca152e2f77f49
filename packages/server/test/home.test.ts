import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.ts';

describe('GET / (the start page)', () => {
  let plain: TestServer;
  let demo: TestServer;
  beforeAll(async () => {
    plain = await startTestServer('sqlite');
    demo = await startTestServer('sqlite', { demo: true });
  });
  afterAll(async () => {
    await plain?.close();
    await demo?.close();
  });

  it('links the panel, the API reference and the widget, and says how to turn the demo on', async () => {
    const res = await fetch(`${plain.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    for (const href of ['/panel', '/api/v1/openapi.json', '/sdk/pulse-widget.js', '/healthz']) expect(html).toContain(`href="${href}"`);
    expect(html).not.toContain('href="/demo/"');
    expect(html).toContain('pulse start --demo');
    // Every link it shows answers.
    for (const href of ['/panel', '/api/v1/openapi.json', '/healthz']) expect((await fetch(plain.url + href)).status, href).toBe(200);
  });

  it('links the demo when it is on', async () => {
    const html = await (await fetch(`${demo.url}/`)).text();
    expect(html).toContain('href="/demo/"');
    expect((await fetch(`${demo.url}/demo/`)).status).toBe(200);
  });

  it("serves Pulse's icon at /favicon.ico, where browsers look for one (no 404 in the console of the demo or an email's pages)", async () => {
    const res = await fetch(`${plain.url}/favicon.ico`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(await res.text()).toMatch(/^<svg /);
    // The start page's CSP lets it load (Firefox applies img-src to icons).
    expect((await fetch(`${plain.url}/`)).headers.get('content-security-policy')).toContain("img-src 'self'");
  });

  it('is the only page at the root: other unknown paths stay 404', async () => {
    expect((await fetch(`${plain.url}/nope`)).status).toBe(404);
  });
});
