import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Store } from '../store/index.ts';
import { registerUnsubscribeRoutes } from './routes.ts';
import { UnsubscribeLinks } from './unsubscribe.ts';

describe('the one-click unsubscribe (RFC 8058)', () => {
  const links = new UnsubscribeLinks('a server secret of at least 32 characters', () => 'http://pulse.test');

  async function app() {
    const optedOut: string[] = [];
    const store = {
      getEnvironment: async () => ({ name: 'Acme' }),
      setEmailOptOut: async (envId: string, userId: string) => void optedOut.push(`${envId}/${userId}`),
    } as unknown as Store;
    const server = Fastify();
    registerUnsubscribeRoutes(server, store, links);
    await server.ready();
    return { server, optedOut };
  }
  const path = (user: string) => links.url('env_1', user).replace('http://pulse.test', '');

  // RFC 8058 §3.1: the POST's body SHOULD be multipart/form-data and MAY be urlencoded; only the signed URL counts.
  const bodies: [string, { headers?: Record<string, string>; payload?: string }][] = [
    ['a multipart/form-data body', { headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--\r\n' }],
    ['an application/x-www-form-urlencoded body', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' }],
    ['a text/plain body', { headers: { 'content-type': 'text/plain' }, payload: 'List-Unsubscribe=One-Click' }],
    ['no body', {}],
  ];
  it.each(bodies)('unsubscribes, the POST carrying %s', async (_kind, request) => {
    const { server, optedOut } = await app();
    try {
      const res = await server.inject({ method: 'POST', url: path('ann'), ...request });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('Unsubscribed');
      expect(optedOut).toEqual(['env_1/ann']);
    } finally {
      await server.close();
    }
  });

  it('refuses a body over 1 KB, and a link whose signature was altered, and unsubscribes nobody', async () => {
    const { server, optedOut } = await app();
    try {
      const big = await server.inject({ method: 'POST', url: path('ann'), headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: 'x'.repeat(2048) });
      expect(big.statusCode).toBe(413);
      const forged = await server.inject({ method: 'POST', url: path('ann').replace(/sig=[^&]+/, 'sig=forged'), headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x--\r\n' });
      expect(forged.statusCode).toBe(400);
      expect(optedOut).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
