import { CLOSE_CODES } from '@pulse/protocol';
import type { PulseClient } from '@pulse/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBus } from '../src/realtime/redis-bus.ts';
import { connectClient, RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { clearPrefix, redisAvailable, REDIS_URL, startCluster, startRedis, stopRedis, type ClusterNode, type TestCluster } from './helpers/cluster.ts';
import { runCli } from './helpers/process.ts';
import { postgresAvailable } from './helpers/services.ts';

/**
 * Cluster mode end to end: three `pulse start` processes on one PostgreSQL schema and one Redis
 * prefix, clients on different nodes. Heartbeats are shortened (node TTL 2 s) so that a killed
 * node's users leave within seconds instead of the production timeout.
 */
const NODE_TTL_MS = 2000;
const GRACE_MS = 300;

// One file for everything that touches Redis: the Redis restart below must not hit a suite running beside it.
describe.skipIf(!redisAvailable)('RedisBus', () => {
  const prefix = `pulse-t-bus-${process.pid}-${Date.now()}:`;
  const buses: RedisBus[] = [];
  const logs: string[] = [];
  const bus = async (url = REDIS_URL, connectWaitMs?: number) => {
    const b = await RedisBus.connect({ url, prefix, log: (m) => logs.push(m), ...(connectWaitMs ? { connectWaitMs } : {}) });
    buses.push(b);
    return b;
  };
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    admin.disconnect();
    await clearPrefix(prefix);
  });
  const subscribers = async (channel: string) => ((await admin.pubsub('NUMSUB', prefix + channel)) as [string, number])[1];

  it('subscribes a channel once per node however many handlers it has, and unsubscribes with the last', async () => {
    const b = await bus();
    const offA = b.subscribe('room:e1:r1', () => undefined);
    const offB = b.subscribe('room:e1:r1', () => undefined);
    await b.subscribed('room:e1:r1');
    expect(await subscribers('room:e1:r1')).toBe(1);
    offA();
    await sleep(50);
    expect(await subscribers('room:e1:r1')).toBe(1);
    offB();
    await waitFor(async () => (await subscribers('room:e1:r1')) === 0, 2000, 'the UNSUBSCRIBE');
    expect(b.channelCount).toBe(0);
  });

  it('delivers a publish once to its own node at once (no Redis round trip) and once to every other subscribed node', async () => {
    const [a, b, c] = [await bus(), await bus(), await bus()];
    const got: Record<string, string[]> = { a: [], b: [], c: [] };
    a.subscribe('room:e1:r2', (p) => got.a!.push(p));
    b.subscribe('room:e1:r2', (p) => got.b!.push(p));
    c.subscribe('room:e1:other', (p) => got.c!.push(p));
    await Promise.all([a.subscribed('room:e1:r2'), b.subscribed('room:e1:r2'), c.subscribed('room:e1:other')]);
    a.publish('room:e1:r2', 'd{"n":1}');
    expect(got.a).toEqual(['d{"n":1}']); // synchronously
    await waitFor(() => got.b!.length === 1);
    await sleep(100);
    expect(got).toEqual({ a: ['d{"n":1}'], b: ['d{"n":1}'], c: [] });
  });

  it('holds two Redis connections per node, whatever the number of rooms', async () => {
    const b = await bus();
    for (let i = 0; i < 200; i++) b.subscribe(`room:e1:many-${i}`, () => undefined);
    await b.subscribed('room:e1:many-199');
    const list = (await admin.client('LIST')) as string;
    // Named after the prefix: deployments sharing a Redis are told apart in CLIENT LIST.
    expect(list.split('\n').filter((l) => l.includes(`name=${prefix}${b.nodeId}:`))).toHaveLength(2);
    expect(await subscribers('room:e1:many-123')).toBe(1);
  });

  it('refuses to start on a Redis database the server does not have (ioredis would go on in database 0)', async () => {
    const url = new URL(REDIS_URL);
    url.pathname = '/99';
    const before = logs.length;
    await expect(bus(url.toString())).rejects.toThrow(/REDIS_URL selects database 99, which Redis refused \(ERR DB index is out of range/);
    // What went wrong is the error above, not a lost connection that came back.
    expect(logs.slice(before)).toEqual([]);
  });

  it('starts degraded when Redis cannot be reached, says so in health, and still delivers locally', async () => {
    const b = await bus('redis://127.0.0.1:1', 300);
    expect(b.health()).toMatch(/^error: redis unavailable/);
    expect(logs.some((l) => l.includes('not reachable at start-up'))).toBe(true);
    const got: string[] = [];
    b.subscribe('room:e1:r3', (p) => got.push(p));
    b.publish('room:e1:r3', 'e{}', 'ephemeral');
    b.publish('room:e1:r3', 'd{}');
    expect(got).toEqual(['e{}', 'd{}']);
  });
});

describe.skipIf(!postgresAvailable || !redisAvailable)('cluster: three nodes on one PostgreSQL and one Redis', () => {
  let cluster: TestCluster;
  let A: ClusterNode;
  let B: ClusterNode;
  let C: ClusterNode;
  const open: (PulseClient | RawSocket)[] = [];
  const client = async (node: ClusterNode, userId: string, room: string, options = {}) => {
    const c = await connectClient(node.asTestServer, userId, room, options);
    open.push(c);
    return c;
  };
  const raw = async (node: ClusterNode, userId: string, room: string, keys?: { pk: string; token: string }) => {
    const s = new RawSocket(node.wsUrl);
    open.push(s);
    if (!keys) {
      await s.auth(node.asTestServer, userId, room);
      return s;
    }
    await s.opened;
    s.send({ type: 'auth', apiKey: keys.pk, token: keys.token, room });
    await s.next('auth:ok');
    return s;
  };
  const presenceOn = async (node: ClusterNode, room: string) => {
    const res = await node.api('GET', `/api/v1/rooms/${room}/presence`);
    expect(res.status).toBe(200);
    return (res.body.items as any[]).map((i) => `${i.user.id.split(':').pop()}:${i.status}`).sort();
  };
  const ids = (c: PulseClient) => c.state.presence.map((p) => p.userId).sort().join(',');

  beforeAll(async () => {
    cluster = await startCluster(3, { PULSE_CLUSTER_NODE_TTL_MS: String(NODE_TTL_MS), PULSE_PRESENCE_LEAVE_GRACE_MS: String(GRACE_MS) });
    [A, B, C] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });
  afterEach(() => {
    for (const c of open.splice(0)) (c instanceof RawSocket ? c.close() : c.disconnect());
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('reports a healthy bus on every node', async () => {
    for (const node of [A, B, C]) {
      const res = await fetch(`${node.url}/healthz`);
      expect(res.status).toBe(200);
      expect((await res.json()).checks).toMatchObject({ database: 'ok', bus: 'ok' });
    }
  });

  it('relays cursors, typing and other ephemeral events between sockets on different nodes', async () => {
    const alice = await client(A, 'alice', 'live');
    const bob = await client(B, 'bob', 'live');
    const carol = await client(C, 'carol', 'live');
    const elsewhere = await client(C, 'dave', 'not-live');
    const seenByBob: unknown[] = [];
    const seenByCarol: unknown[] = [];
    bob.state.on('cursor', (p) => seenByBob.push(p));
    carol.state.on('cursor', (p) => seenByCarol.push(p));
    elsewhere.state.on('cursor', () => {
      throw new Error('dave is in another room');
    });
    const pos = { x: 0.25, y: 0.5, pageX: 320, pageY: 900 };
    alice.moveCursor(pos);
    await waitFor(() => seenByBob.length > 0 && seenByCarol.length > 0, 3000, 'the cursor on B and C');
    expect(seenByBob[0]).toEqual({ userId: 'alice', position: pos });
    expect(seenByCarol).toHaveLength(1); // once, not once per path

    carol.startTyping('thread-x');
    await waitFor(() => alice.state.typing.length === 1 && bob.state.typing.length === 1, 3000, 'typing on A and B');
    expect(alice.state.typing).toEqual([{ userId: 'carol', threadId: 'thread-x' }]);
    carol.stopTyping('thread-x');
    await waitFor(() => alice.state.typing.length === 0 && bob.state.typing.length === 0);

    const emojis: unknown[] = [];
    alice.state.on('emoji-drop', (e) => emojis.push(e));
    bob.sendEmoji('🎉', pos);
    await waitFor(() => emojis.length === 1);
  });

  it('delivers comments made over WebSocket on A and over REST on B to sockets on C, with one seq order', async () => {
    const alice = await client(A, 'alice', 'durable');
    const carol = await client(C, 'carol', 'durable');
    const threadId = alice.createThread('From node A');
    await waitFor(() => carol.state.thread(threadId), 3000, 'the WS thread on C');

    await B.api('PUT', '/api/v1/users/ci-bot', { name: 'CI Bot' });
    const reply = await B.api('POST', `/api/v1/threads/${threadId}/comments`, { userId: 'ci-bot', body: 'From node B over REST' });
    expect(reply.status).toBe(201);
    await waitFor(() => carol.state.comment(reply.body.comment.id) && alice.state.comment(reply.body.comment.id), 3000, 'the REST comment on A and C');

    const replyId = carol.reply(threadId, 'From node C');
    await waitFor(() => alice.state.comment(replyId), 3000, 'the reply on A');
    await B.api('PATCH', `/api/v1/threads/${threadId}`, { resolved: true });
    await waitFor(() => alice.state.thread(threadId)?.resolved && carol.state.thread(threadId)?.resolved);
    await alice.sync();
    await carol.sync();
    await waitFor(() => alice.state.seq === carol.state.seq);
    expect(alice.state.thread(threadId)!.comments.map((c) => c.body)).toEqual(['From node A', 'From node B over REST', 'From node C']);
  });

  it('notifies a user connected to another node, in another room', async () => {
    const alice = await client(A, 'alice', 'notify-a');
    const bob = await client(C, 'bob', 'notify-elsewhere');
    const threadId = alice.createThread('@bob please look', { mentions: ['bob'] });
    await waitFor(() => bob.state.notifications.some((n) => n.threadId === threadId), 3000, 'the notification on C');
    const viaRest = await B.api('POST', `/api/v1/threads/${threadId}/comments`, { userId: 'alice', body: 'again @bob', mentions: ['bob'] });
    expect(viaRest.status).toBe(201);
    await waitFor(() => bob.state.notifications.filter((n) => n.threadId === threadId).length === 2, 3000, 'the REST mention on C');
    const n = bob.state.notifications.find((x) => x.threadId === threadId)!;
    bob.markNotificationsRead([n.id]);
    await bob.sync();
    // bob's other tab, on another node, sees the read state change.
    const bob2 = await client(B, 'bob', 'notify-a');
    expect(bob2.state.notifications.find((x) => x.id === n.id)!.read).toBe(true);
  });

  it('shows one avatar for two tabs on two nodes, the same presence on every node and over REST on any node', async () => {
    const room = 'presence';
    const alice = await client(A, 'alice', room);
    const bobOnB = await client(B, 'bob', room, { deviceType: 'mobile' });
    const bobOnC = await client(C, 'bob', room, { deviceType: 'mobile' });
    expect(ids(bobOnC)).toBe('alice,bob'); // auth:ok on C carries presence from A and B
    await waitFor(() => ids(alice) === 'alice,bob' && ids(bobOnB) === 'alice,bob');
    expect(alice.state.presence).toHaveLength(2);
    expect(alice.state.presence.find((p) => p.userId === 'bob')!.deviceType).toBe('mobile');
    for (const node of [A, B, C]) expect(await presenceOn(node, room)).toEqual(['alice:online', 'bob:online']);

    // Idle on one node, online on the other: still online; idle on both: idle everywhere.
    bobOnB.updatePresence('idle');
    await sleep(200);
    expect(alice.state.presence.find((p) => p.userId === 'bob')!.status).toBe('online');
    bobOnC.updatePresence('idle');
    await waitFor(() => alice.state.presence.find((p) => p.userId === 'bob')?.status === 'idle', 3000, 'bob idle on A');
    for (const node of [A, B, C]) expect(await presenceOn(node, room)).toEqual(['alice:online', 'bob:idle']);

    // One tab closes: bob stays; the other closes: bob leaves everywhere after the grace period.
    const leaves: string[] = [];
    alice.state.on('presence', (list) => leaves.push(list.map((p) => p.userId).join(',')));
    bobOnB.disconnect();
    await sleep(GRACE_MS + 300);
    expect(ids(alice)).toBe('alice,bob');
    bobOnC.disconnect();
    await waitFor(() => ids(alice) === 'alice', 3000, 'bob to leave on A');
    for (const node of [A, B, C]) expect(await presenceOn(node, room)).toEqual(['alice:online']);
    expect(leaves.every((l) => l === 'alice,bob' || l === 'alice')).toBe(true);
  });

  it('does not flicker when a user moves to another node within the grace period', async () => {
    const alice = await client(A, 'alice', 'move');
    const bob = await client(B, 'bob', 'move');
    await waitFor(() => ids(alice) === 'alice,bob');
    const seen: string[] = [];
    alice.state.on('presence', (list) => seen.push(list.map((p) => p.userId).sort().join(',')));
    bob.disconnect();
    await client(C, 'bob', 'move');
    await sleep(GRACE_MS + 500);
    expect(seen.every((s) => s === 'alice,bob')).toBe(true);
    expect(await presenceOn(B, 'move')).toEqual(['alice:online', 'bob:online']);
  });

  it('applies appear-offline to all of a user’s tabs on every node', async () => {
    const alice = await client(A, 'alice', 'hide');
    const bobOnB = await client(B, 'bob', 'hide');
    const bobOnC = await client(C, 'bob', 'hide');
    await waitFor(() => ids(alice) === 'alice,bob');
    bobOnB.setAppearOffline(true);
    await waitFor(() => ids(alice) === 'alice', 3000, 'bob hidden on A');
    for (const node of [A, B, C]) expect(await presenceOn(node, 'hide')).toEqual(['alice:online']);
    // The tab on C is hidden too: its cursor leaves no trace, and a new tab on A starts hidden.
    const cursors: unknown[] = [];
    alice.state.on('cursor', (p) => cursors.push(p));
    bobOnC.moveCursor({ x: 0.1, y: 0.1, pageX: 1, pageY: 1 });
    await client(A, 'bob', 'hide');
    await sleep(300);
    expect(cursors).toEqual([]);
    expect(ids(alice)).toBe('alice');
    bobOnC.setAppearOffline(false);
    await waitFor(() => ids(alice) === 'alice,bob', 3000, 'bob visible again');
    expect(await presenceOn(B, 'hide')).toEqual(['alice:online', 'bob:online']);
  });

  it('pushes config changes made with the CLI to sockets on every node within a second', async () => {
    const clients = await Promise.all([A, B, C].map((node, i) => client(node, `u${i}`, 'config')));
    const result = await runCli(['env', 'config', A.envId, 'allowDrawing=false'], cluster.env);
    expect(result.code).toBe(0);
    const done = Date.now();
    await waitFor(() => clients.every((c) => c.state.config.allowDrawing === false), 1000, 'config on every node');
    expect(Date.now() - done).toBeLessThan(1000);
    await runCli(['env', 'config', A.envId, 'allowDrawing=true'], cluster.env);
    await waitFor(() => clients.every((c) => c.state.config.allowDrawing === true), 1000);
  }, 90_000); // several CLI processes, each seconds to start on a busy machine

  it('closes sockets on every node within a second when keys are rotated or revoked', async () => {
    const created = await runCli(['env', 'create', 'Lifecycle', '--json'], cluster.env);
    expect(created.code).toBe(0);
    const env = created.json as { id: string; publishableKey: string; secretKey: string };
    const token = async (userId: string, sk: string) => (await A.api('POST', '/auth/token', { userId, name: userId }, sk)).body.token as string;
    const onOldPair = await Promise.all([A, B, C].map(async (node, i) => raw(node, '', 'keys', { pk: env.publishableKey, token: await token(`u${i}`, env.secretKey) })));
    const rotated = await runCli(['env', 'rotate', env.id, '--json'], cluster.env);
    expect(rotated.code).toBe(0);
    let done = Date.now();
    for (const s of onOldPair) expect((await s.waitClosed(1000)).code).toBe(CLOSE_CODES.FORBIDDEN);
    expect(Date.now() - done).toBeLessThan(1000);

    // Revoking the secret key closes the sockets opened with tokens it minted (the pk stays).
    const pair = rotated.json as { publishableKey: string; secretKey: string };
    const sockets = await Promise.all([A, B, C].map(async (node, i) => raw(node, '', 'keys', { pk: pair.publishableKey, token: await token(`v${i}`, pair.secretKey) })));
    for (const node of [A, B, C]) expect((await node.api('GET', '/api/v1/rooms', undefined, pair.secretKey)).status).toBe(200); // now cached
    const revoked = await runCli(['env', 'revoke', env.id, pair.secretKey.slice(0, 11)], cluster.env);
    expect(revoked.code).toBe(0);
    done = Date.now();
    for (const s of sockets) expect((await s.waitClosed(1000)).code).toBe(CLOSE_CODES.UNAUTHORIZED);
    expect(Date.now() - done).toBeLessThan(1000);
    // Keys are cached per node, and forgotten through the control log: REST refuses the revoked
    // secret key on every node within a poll.
    for (const node of [A, B, C]) {
      await waitFor(async () => (await node.api('GET', '/api/v1/rooms', undefined, pair.secretKey)).status === 401, 1000, `node ${node.name} to refuse the revoked key`);
    }
  }, 90_000); // several CLI processes, each seconds to start on a busy machine

  it('passes `pulse start --cluster-check` with the cluster’s settings, and fails it with a different secret or no Redis', async () => {
    const good = await runCli(['start', '--cluster-check'], cluster.env);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/✓ PostgreSQL\s+reachable .* migrated/);
    expect(good.stdout).toMatch(/✓ Redis\s+reachable .*PUBLISH\/SUBSCRIBE round trip/);
    expect(good.stdout).toMatch(/✓ Nodes\s+3 node\(s\) running under this prefix, all with this PULSE_SECRET/);
    expect(good.stdout).toMatch(/! PULSE_PUBLIC_URL/);
    expect(good.stdout).toContain('Ready for cluster mode');

    const otherSecret = await runCli(['start', '--cluster-check'], { ...cluster.env, PULSE_SECRET: 'x'.repeat(40) });
    expect(otherSecret.code).toBe(1);
    expect(otherSecret.stdout).toMatch(/✗ Nodes\s+3 of 3 running node\(s\) use a different PULSE_SECRET/);

    const { REDIS_URL: _r, PULSE_SECRET: _s, ...noRedis } = cluster.env;
    const bad = await runCli(['start', '--cluster-check'], noRedis);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/✗ Redis\s+REDIS_URL is not set/);
    expect(bad.stdout).toMatch(/✗ PULSE_SECRET\s+not set/);
    expect(bad.stdout).toContain('Not ready: 2 problem(s)');

    // Why Redis failed, not only that the connection closed.
    const noDb = new URL(cluster.env.REDIS_URL!);
    noDb.pathname = '/99';
    const [wrongDb, closedPort] = await Promise.all([
      runCli(['start', '--cluster-check'], { ...cluster.env, REDIS_URL: noDb.toString() }),
      runCli(['start', '--cluster-check'], { ...cluster.env, REDIS_URL: 'redis://127.0.0.1:1/0' }),
    ]);
    expect(wrongDb.stdout).toMatch(/✗ Redis\s+redis:\/\/\S+\/99: ERR DB index is out of range/);
    expect(closedPort.stdout).toMatch(/✗ Redis\s+redis:\/\/127\.0\.0\.1:1\/0: connect ECONNREFUSED/);
  }, 90_000); // several CLI processes, each seconds to start on a busy machine

  it('removes the users of a node killed with -9 from every node’s presence, with presence:leave', async () => {
    const alice = await client(A, 'alice', 'doomed');
    const bob = await client(B, 'bob', 'doomed');
    await client(C, 'carol', 'doomed');
    await client(C, 'bob', 'doomed'); // bob is also on B: he stays
    await waitFor(() => ids(alice) === 'alice,bob,carol' && ids(bob) === 'alice,bob,carol');
    const leaves: string[] = [];
    alice.state.on('presence', (list) => leaves.push(list.map((p) => p.userId).sort().join(',')));
    const killed = Date.now();
    await C.kill();
    await waitFor(() => ids(alice) === 'alice,bob' && ids(bob) === 'alice,bob', NODE_TTL_MS + 3000, 'carol to leave A and B');
    const took = Date.now() - killed;
    expect(took).toBeLessThan(NODE_TTL_MS + 2500);
    expect(took).toBeGreaterThan(NODE_TTL_MS / 3); // it was the heartbeat, not something else
    expect(leaves).toEqual(['alice,bob']);
    for (const node of [A, B]) expect(await presenceOn(node, 'doomed')).toEqual(['alice:online', 'bob:online']);
  });

  it('survives a Redis restart: degraded health meanwhile, sockets kept, then traffic and presence again', async () => {
    const alice = await client(A, 'alice', 'outage');
    const bob = await client(B, 'bob', 'outage');
    await waitFor(() => ids(alice) === 'alice,bob' && ids(bob) === 'alice,bob');
    const threadId = alice.createThread('before the outage');
    await waitFor(() => bob.state.thread(threadId));
    try {
      stopRedis();
      await waitFor(async () => (await fetch(`${A.url}/healthz`)).status === 503, 3000, 'A to report degraded');
      const health = await (await fetch(`${B.url}/healthz`)).json();
      expect(health.status).toBe('degraded');
      expect(health.checks.bus).toMatch(/^error: redis/);
      // Durable writes still work (PostgreSQL) and reach sockets on the same node at once.
      const duringOutage = alice.reply(threadId, 'written while Redis is down');
      await alice.sync();
      expect(alice.state.comment(duringOutage)).toBeTruthy();
      await sleep(300);
    } finally {
      await startRedis();
    }
    await waitFor(async () => (await fetch(`${A.url}/healthz`)).status === 200 && (await fetch(`${B.url}/healthz`)).status === 200, 10_000, 'health to recover');
    expect(alice.connectionState).toBe('connected');
    expect(bob.connectionState).toBe('connected');
    // The comment written during the outage reaches bob (queued publish, or the resync on recovery).
    await waitFor(() => bob.state.thread(threadId)?.comments.length === 2, 5000, 'the outage comment on B');
    // Live traffic flows again, and presence (lost with Redis's memory) is rebuilt on every node.
    const cursors: unknown[] = [];
    bob.state.on('cursor', (p) => cursors.push(p));
    await waitFor(
      () => {
        alice.moveCursor({ x: Math.random(), y: 0.5, pageX: 1, pageY: 1 });
        return cursors.length > 0;
      },
      5000,
      'cursors from A on B',
    );
    await waitFor(async () => (await presenceOn(C === undefined ? A : B, 'outage')).join() === 'alice:online,bob:online', 5000, 'presence rebuilt');
    expect(ids(alice)).toBe('alice,bob');
    expect(ids(bob)).toBe('alice,bob');
  }, 30_000);
});
