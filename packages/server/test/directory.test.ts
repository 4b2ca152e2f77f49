import { LIMITS } from '@pulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_SEARCH_BURST, DIRECTORY_SEARCHES_AT_ONCE } from '../src/user-rate-limiter.ts';
import { mintToken } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

describe('GET /api/v1/directory/users', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite');
  });
  afterAll(() => t.close());

  const tokens = new Map<string, string>();
  const get = async (userId: string, query: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await mintToken(t, userId));
    return fetch(`${t.url}/api/v1/directory/users?${query}`, { headers: { 'x-pulse-key': t.publishableKey, 'x-pulse-token': tokens.get(userId)! } });
  };

  it('limits each user\'s searches (each may scan thousands of users), not lookups by id', async () => {
    // A few more than the burst at once: one search more is allowed every 500 ms, so however slow
    // this machine is (under 2.5 s for all), some are refused.
    expect((await get('typist', 'ids=a')).status).toBe(200); // lookups by id are not limited (and the token is minted)
    const answers = await Promise.all(Array.from({ length: DIRECTORY_SEARCH_BURST + 5 }, (_, i) => get('typist', `q=a${i}`)));
    const refused = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(DIRECTORY_SEARCH_BURST);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused[0]!.json()).toMatchObject({ error: { code: 'rate_limited', message: expect.stringContaining('Too many directory searches') } });
    expect((await get('typist', 'ids=a,b')).status).toBe(200);
    expect((await get('someone-else', 'q=a')).status).toBe(200);
  });

  it('runs one search per user, two per environment and four in all at once; refuses more, with Retry-After', async () => {
    const limits = DIRECTORY_SEARCHES_AT_ONCE;
    const store = t.server.ctx.store;
    const searchUsers = store.searchUsers.bind(store);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    store.searchUsers = async (...args) => {
      await held;
      return searchUsers(...args);
    };
    // Users of this environment and of two others.
    const others = await Promise.all([1, 2].map((i) => t.server.ctx.environments.create(`Directory ${i}`)));
    type Env = { envId: string; publishableKey: string; secretKey: string };
    const here: Env = { envId: t.envId, publishableKey: t.publishableKey, secretKey: t.secretKey };
    const [a, b] = others.map((o): Env => ({ envId: o.id, publishableKey: o.publishableKey, secretKey: o.secretKey }));
    const signedIn = new Map<string, string>();
    for (const [env, user] of [[here, 'u1'], [here, 'u2'], [here, 'u3'], [a!, 'u1'], [a!, 'u2'], [b!, 'u1']] as const) {
      signedIn.set(`${env.envId}/${user}`, await mintToken(t, user, user, env.secretKey));
    }
    const search = (env: Env, userId: string) =>
      fetch(`${t.url}/api/v1/directory/users?q=x`, { headers: { 'x-pulse-key': env.publishableKey, 'x-pulse-token': signedIn.get(`${env.envId}/${userId}`)! } });
    try {
      const under = [search(here, 'u1'), search(here, 'u2'), search(a!, 'u1'), search(a!, 'u2')];
      await new Promise((resolve) => setTimeout(resolve, 300)); // all four under way
      const sameUser = await search(here, 'u1');
      expect(sameUser.status).toBe(429);
      expect(await sameUser.json()).toMatchObject({ error: { code: 'rate_limited', message: expect.stringContaining('One user search at a time') } });
      const sameEnvironment = await search(here, 'u3');
      expect(sameEnvironment.status).toBe(503);
      const elsewhere = await search(b!, 'u1'); // its environment has none under way, but the server has four
      expect(elsewhere.status).toBe(503);
      expect(Number(elsewhere.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await elsewhere.json()).toMatchObject({ error: { code: 'service_unavailable' } });
      expect(limits).toEqual({ perUser: 1, perEnvironment: 2, total: 4 });
      release();
      expect((await Promise.all(under)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect((await search(b!, 'u1')).status).toBe(200);
    } finally {
      release();
      store.searchUsers = searchUsers;
    }
  });

  it('finds @mention suggestions among every user, the newest of thousands too', async () => {
    const store = t.server.ctx.store;
    const at = new Date().toISOString();
    for (let i = 0; i < 6000; i++) await store.upsertUser(t.envId, { externalId: `member-${i}`, name: `Member Number ${i}`, avatar: null }, at);
    const search = async (q: string) => ((await (await get('looker', `q=${encodeURIComponent(q)}`)).json()) as { items: { id: string }[] }).items.map((u) => u.id);
    expect(await search('number 5999')).toEqual(['member-5999']);
    expect(await search('MEMBER-5998')).toEqual(['member-5998']);
    // At most ten, by name; % and _ are letters, not wildcards.
    expect(await search('member number 12')).toHaveLength(10);
    expect(await search('number_1')).toEqual([]);
    expect(await search('100%')).toEqual([]);
  });

  it('refuses control characters in a search or a lookup (a NUL cut the pattern short: everyone matched)', async () => {
    for (const query of ['q=%00zzzqqq', 'q=Member%00zz', 'ids=alice%00', 'q=%E2%80%AE%01']) {
      const res = await get('nul-typist', query);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    }
    expect((await get('nul-typist', 'q=zzzqqq')).status).toBe(200);
  });

  it('looks up at most LIMITS.directoryIds distinct ids at a time, and says so past that (none dropped silently)', async () => {
    expect((await t.api('PUT', '/api/v1/users/looked-up', { name: 'Looked Up' })).status).toBe(200);
    const ids = (n: number) => [...Array.from({ length: n - 1 }, (_, i) => `nobody-${i}`), 'looked-up'].join(',');
    const atLimit = await get('id-asker', `ids=${ids(LIMITS.directoryIds)},looked-up`); // a repeat counts once
    expect(atLimit.status).toBe(200);
    expect(((await atLimit.json()) as { items: { id: string }[] }).items.map((u) => u.id)).toEqual(['looked-up']);
    const over = await get('id-asker', `ids=${ids(LIMITS.directoryIds + 1)}`);
    expect(over.status).toBe(400);
    expect(await over.json()).toMatchObject({ error: { code: 'validation_failed', message: expect.stringContaining(`at most ${LIMITS.directoryIds}`) } });
  });
});
