import type { P2PManager, PulseClient } from '@pulse/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { redisAvailable, startCluster, type ClusterNode, type TestCluster } from './helpers/cluster.ts';
import { runCli } from './helpers/process.ts';
import { postgresAvailable } from './helpers/services.ts';

/** P2P shared data across two `pulse start` processes on one PostgreSQL and one Redis. */
describe.skipIf(!postgresAvailable || !redisAvailable)('P2P shared data across two cluster nodes', () => {
  let cluster: TestCluster;
  let A: ClusterNode;
  let B: ClusterNode;
  const open: PulseClient[] = [];
  const joined = async (node: ClusterNode, userId: string, room: string): Promise<[PulseClient, P2PManager]> => {
    const c = await connectClient(node.asTestServer, userId, room);
    open.push(c);
    return [c, await c.p2p];
  };

  beforeAll(async () => {
    // Short node heartbeats, so a killed node's peers leave within seconds.
    cluster = await startCluster(2, { PULSE_CLUSTER_NODE_TTL_MS: '2000' });
    [A, B] = cluster.nodes as [ClusterNode, ClusterNode];
    const r = await runCli(['env', 'config', A.envId, 'allowP2P=true', 'p2pPersistIntervalMs=1000'], cluster.env);
    expect(r.code).toBe(0);
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('relays CRDT updates and raw messages between peers on different nodes', async () => {
    const [, a] = await joined(A, 'alice', 'c-relay');
    const [, b] = await joined(B, 'bob', 'c-relay');
    await waitFor(() => a.peers.has('bob') && b.peers.has('alice'), 3000, 'peers across nodes');
    a.sharedMap('m').set('from-a', 1);
    b.sharedList('l').push('from-b');
    for (let i = 0; i < 20; i++) {
      a.sharedCounter('c').increment();
      b.sharedCounter('c').increment();
    }
    await waitFor(() => b.sharedMap('m').get('from-a') === 1 && a.sharedList('l').get(0) === 'from-b', 3000, 'map and list');
    await waitFor(() => a.sharedCounter('c').value === 40 && b.sharedCounter('c').value === 40, 3000, 'the counter');
    const got: unknown[] = [];
    b.on('message', (m) => got.push(m));
    a.sendTo('bob', { hello: 'across' });
    await waitFor(() => got.length === 1, 3000, 'the raw message');
    expect(got[0]).toEqual({ data: { hello: 'across' }, fromUserId: 'alice' });
  });

  it("counts the other node's peers from a room's first join on a node: peer list and mesh places", async () => {
    expect((await runCli(['env', 'config', A.envId, 'p2pMeshLimit=2'], cluster.env)).code).toBe(0);
    const sockets: RawSocket[] = [];
    const join = async (node: ClusterNode, userId: string, room: string) => {
      const s = new RawSocket(node.asTestServer.wsUrl);
      sockets.push(s);
      await s.auth(node.asTestServer, userId, room);
      s.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: true });
      return s.next('p2p:joined');
    };
    try {
      await sleep(1000); // every node picks a config change up within a second
      // The race this guards against lost about one room in three: five rooms.
      for (let i = 0; i < 5; i++) {
        const room = `c-mesh-${i}`;
        for (const user of ['ma', 'mb']) expect((await join(A, user, room)).self.mesh).toBe(true);
        await sleep(50);
        const third = await join(B, 'mc', room); // the room's first peer on B
        expect(third.peers.map((p: { userId: string }) => p.userId).sort()).toEqual(['ma', 'mb']);
        expect(third.self.mesh).toBe(false);
      }
    } finally {
      for (const s of sockets) s.close();
      expect((await runCli(['env', 'config', A.envId, 'p2pMeshLimit=6'], cluster.env)).code).toBe(0);
    }
  });

  it('gives a joiner on one node what peers on the other node changed, stored or not', async () => {
    const [, a] = await joined(A, 'alice', 'c-join');
    a.sharedMap('m').set('early', 'yes');
    await sleep(50);
    const [, c] = await joined(B, 'carol', 'c-join');
    await waitFor(() => c.sharedMap('m').get('early') === 'yes', 3000, 'the live state');
  });

  it('persists edits made through both nodes; a later joiner anywhere loads all of them', async () => {
    const [ca, a] = await joined(A, 'alice', 'c-persist');
    const [cb, b] = await joined(B, 'bob', 'c-persist');
    a.sharedMap('m').set('a', 1);
    b.sharedMap('m').set('b', 2);
    a.sharedCounter('n').increment(2);
    b.sharedCounter('n').increment(3);
    await waitFor(() => a.sharedCounter('n').value === 5 && b.sharedCounter('n').value === 5, 3000, 'convergence');
    ca.disconnect();
    cb.disconnect();
    await sleep(500);
    for (const node of [B, A]) {
      const [c, p] = await joined(node, 'dave', 'c-persist');
      expect(p.sharedMap('m').toJSON()).toEqual({ a: 1, b: 2 });
      expect(p.sharedCounter('n').value).toBe(5);
      c.disconnect();
      await sleep(200);
    }
  });

  it('drops the peers of a node that died from the other node\'s sessions', async () => {
    const [, a] = await joined(A, 'alice', 'c-dead');
    await joined(B, 'bob', 'c-dead');
    await waitFor(() => a.peers.has('bob'), 3000, 'bob on the other node');
    const left: string[] = [];
    a.on('peer:disconnect', (e) => left.push(e.userId));
    await B.kill();
    await waitFor(() => left.includes('bob'), 25_000, "bob's peer to leave");
    expect(a.peers.has('bob')).toBe(false);
    // Alone now: changes still reach the server (and are stored).
    a.sharedMap('m').set('after', 1);
    await waitFor(async () => ((await A.api('GET', '/api/v1/rooms/c-dead/shared')).body.objects ?? []).length > 0, 12_000, 'the state stored');
  }, 60_000);
});
