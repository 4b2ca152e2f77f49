import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/helpers/server.ts';
// PulseError from @pulse/node itself: a backend depends on this package only.
import { PulseError, PulseNode } from '../src/index.ts';

describe('@pulse/node against a real server', () => {
  let t: TestServer;
  let pulse: PulseNode;
  beforeAll(async () => {
    t = await startTestServer();
    pulse = new PulseNode({ endpoint: t.url, secretKey: t.secretKey });
  });
  afterAll(() => t.close());

  it('mints tokens the server verifies', async () => {
    const { token, user } = await pulse.mintToken({ userId: 'bot', name: 'CI Bot' });
    expect(user.id).toBe(`${t.envId}:bot`);
    const verified = await t.server.ctx.tokens.verify(t.publishableKey, token);
    expect(verified.user).toMatchObject({ externalId: 'bot', name: 'CI Bot' });
  });

  it('posts as a bot and reads back, with typed routes', async () => {
    await pulse.upsertUser('bot', { name: 'CI Bot' });
    const { thread } = await pulse.createThread('deploys/main', { userId: 'bot', body: 'Deployment failed' });
    const { comment } = await pulse.createComment(thread.id, { userId: 'bot', body: 'Retrying' });
    const page = await pulse.listComments(thread.id, { limit: 1 });
    expect(page.items.map((c) => c.body)).toEqual(['Deployment failed']);
    const next = await pulse.listComments(thread.id, { limit: 1, cursor: page.nextCursor! });
    expect(next.items[0]!.id).toBe(comment.id);
    expect((await pulse.getRoom('deploys/main')).threads).toHaveLength(1);
  });

  it('reads and deletes a room\'s P2P shared data', async () => {
    await expect(pulse.getSharedState('board-1')).rejects.toMatchObject({ code: 'not_found', status: 404 });
    expect(await pulse.deleteSharedState('board-1')).toBeUndefined();
  });

  it('throws PulseError with the server code', async () => {
    await expect(pulse.getThread('nope')).rejects.toMatchObject({ code: 'thread_not_found', status: 404 });
    await expect(pulse.getThread('nope')).rejects.toBeInstanceOf(PulseError);
    expect(() => new PulseNode({ endpoint: t.url, secretKey: t.publishableKey })).toThrow(/secret key/);
  });
});
