import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_SEARCH_BURST } from '../src/user-rate-limiter.ts';
import { mintToken } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

describe('GET /api/v1/directory/users', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite');
  });
  afterAll(() => t.close());

  const get = async (userId: string, query: string) => {
    const token = await mintToken(t, userId);
    return fetch(`${t.url}/api/v1/directory/users?${query}`, { headers: { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token } });
  };

  it('limits each user\'s searches (each may scan thousands of users), not lookups by id', async () => {
    for (let i = 0; i < DIRECTORY_SEARCH_BURST; i++) expect((await get('typist', `q=a${i}`)).status).toBe(200);
    const refused = await get('typist', 'q=more');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: { code: 'rate_limited', message: expect.stringContaining('Too many directory searches') } });
    expect((await get('typist', 'ids=a,b')).status).toBe(200);
    expect((await get('someone-else', 'q=a')).status).toBe(200);
  });
});
