import type { P2PManager, PulseClient } from '@pulse/core';
import * as Y from 'yjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { P2P_LIMITS, type EnvConfig } from '@pulse/protocol';
import { p2pOf } from '../src/p2p/index.ts';
import { checkedUpdate, SharedStatePersistence, toBase64 } from '../src/p2p/persistence.ts';
import { connectClient, RawSocket, sleep, waitFor } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { postgresAvailable } from './helpers/services.ts';

/**
 * P2P shared data with Node clients (no WebRTC): everything goes through the server's relay.
 * The same suite on both databases: persistence goes through the Store.
 */
const FAST = { realtime: { leaveGraceMs: 100, authTimeoutMs: 2000, offlineAfterMs: 60_000 } };
const INTERVAL_MS = 1000;

for (const driver of ['sqlite', 'postgres'] as const)
describe.skipIf(driver === 'postgres' && !postgresAvailable)(`P2P shared data through the relay (${driver})`, () => {
  let t: TestServer;
  const open: (PulseClient | RawSocket)[] = [];
  const client = async (userId: string, room: string) => {
    const c = await connectClient(t, userId, room);
    open.push(c);
    return c;
  };
  const joined = async (userId: string, room: string): Promise<[PulseClient, P2PManager]> => {
    const c = await client(userId, room);
    return [c, await c.p2p];
  };
  /** Raw sockets of two users in the room, both authenticated, then both joined to its P2P session. */
  const rawPeers = async (userIds: [string, string], room: string): Promise<[RawSocket, RawSocket]> => {
    const sockets: [RawSocket, RawSocket] = [new RawSocket(t.wsUrl), new RawSocket(t.wsUrl)];
    open.push(...sockets);
    for (const [i, s] of sockets.entries()) await s.auth(t, userIds[i]!, room);
    for (const s of sockets) {
      s.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
      await s.next('p2p:joined');
    }
    return sockets;
  };
  const config = (patch: Record<string, unknown>) => t.server.ctx.environments.updateConfig(t.envId, patch);
  const service = () => p2pOf(t.server.hub)!;

  beforeAll(async () => {
    t = await startTestServer(driver, FAST);
    await config({ allowP2P: true, p2pPersistIntervalMs: INTERVAL_MS });
  });
  afterEach(async () => {
    for (const c of open.splice(0)) (c instanceof RawSocket ? c.close() : c.disconnect());
    await config({ allowP2P: true, p2pPersistIntervalMs: INTERVAL_MS, p2pMaxStateBytes: 5_242_880, maxSharedObjects: 20, allowP2PBinary: false });
  });
  afterAll(() => t.close());

  it('rejects client.p2p clearly when the environment has allowP2P off', async () => {
    await config({ allowP2P: false });
    const c = await client('alice', 'off-room');
    await expect(c.p2p).rejects.toMatchObject({ name: 'P2PError', code: 'p2p_disabled', message: expect.stringContaining('allowP2P') });
    // Refused on the server too, whatever a client sends.
    const s = new RawSocket(t.wsUrl);
    open.push(s);
    await s.auth(t, 'mallory', 'off-room');
    s.send({ type: 'p2p:join', ref: 'j', stateVector: 'AA==', webrtc: false });
    expect(await s.next('p2p:error')).toMatchObject({ ref: 'j', code: 'p2p_disabled' });
    s.send({ type: 'p2p:update', update: 'AAA=' });
    expect(await s.next('p2p:error', 3000, (m) => m.code !== 'p2p_disabled' || !m.ref)).toMatchObject({ code: 'p2p_disabled' });
  });

  it('syncs maps, lists and counters between clients over the relay, with change events', async () => {
    const [, a] = await joined('alice', 'r-sync');
    const [, b] = await joined('bob', 'r-sync');
    expect(a.transport).toBe('websocket');
    await waitFor(() => a.peers.has('bob') && b.peers.has('alice'), 3000, 'peers');
    expect(a.peers.get('bob')).toEqual({ userId: 'bob', state: 'connected', dataChannelOpen: false });
    expect(a.sharedMap('tasks')).toBe(a.sharedMap('tasks'));

    const changes: unknown[] = [];
    b.sharedMap<{ title: string }>('tasks').on('change', (c) => changes.push(...c));
    const tasks = a.sharedMap<{ title: string; column: string }>('tasks');
    tasks.set('t1', { title: 'Design', column: 'todo' });
    tasks.set('t2', { title: 'Build', column: 'todo' });
    expect(tasks.delete('t2')).toBe(true);
    expect(tasks.delete('nope')).toBe(false);
    a.sharedList<string>('order').push('t1', 'tx');
    a.sharedList<string>('order').insert(0, 'first');
    a.sharedCounter('votes').increment(3);
    b.sharedCounter('votes').decrement();

    const bt = b.sharedMap<{ title: string; column: string }>('tasks');
    await waitFor(() => bt.size === 1 && b.sharedList('order').length === 3 && a.sharedCounter('votes').value === 2, 3000, 'convergence');
    expect(bt.toJSON()).toEqual({ t1: { title: 'Design', column: 'todo' } });
    expect(bt.get('t1')).toEqual({ title: 'Design', column: 'todo' });
    expect(bt.has('t1')).toBe(true);
    expect(bt.keys()).toEqual(['t1']);
    expect(bt.entries()).toEqual([['t1', { title: 'Design', column: 'todo' }]]);
    expect(b.sharedList('order').toArray()).toEqual(['first', 't1', 'tx']);
    expect(b.sharedCounter('votes').value).toBe(2);
    expect(changes).toContainEqual({ action: 'add', key: 't1', value: { title: 'Design', column: 'todo' }, oldValue: undefined, local: false });
    // t2 may arrive added-then-deleted in one batch (nothing to report) or as two changes.
    b.sharedList<string>('order').move(2, 0);
    await waitFor(() => a.sharedList('order').get(0) === 'tx', 3000, 'the move');
    expect(a.sharedList('order').toArray()).toEqual(['tx', 'first', 't1']);
  });

  it('never loses concurrent counter increments', async () => {
    const peers = await Promise.all(['u1', 'u2', 'u3'].map((u) => joined(u, 'r-counter')));
    for (let i = 0; i < 50; i++) for (const [, p] of peers) p.sharedCounter('clicks').increment();
    await waitFor(() => peers.every(([, p]) => p.sharedCounter('clicks').value === 150), 5000, 'every increment everywhere');
  });

  it('limits the number of shared objects per room', async () => {
    await config({ maxSharedObjects: 2 });
    const [, a] = await joined('alice', 'r-limit');
    a.sharedMap('one');
    a.sharedList('two');
    expect(a.sharedMap('one')).toBeDefined(); // the same name again is no new object
    expect(() => a.sharedCounter('three')).toThrow(expect.objectContaining({ code: 'too_many_shared_objects' }));
  });

  it('relays raw messages to everyone or to one user; binary only when allowed', async () => {
    const [ca, a] = await joined('alice', 'r-raw');
    const [, b] = await joined('bob', 'r-raw');
    const [, c] = await joined('carol', 'r-raw');
    await waitFor(() => a.peers.size === 2, 3000, 'peers');
    const got: Record<string, unknown[]> = { b: [], c: [] };
    b.on('message', (m) => got.b!.push(m));
    c.on('message', (m) => got.c!.push(m));
    a.send({ type: 'ping', n: 1 });
    a.send('plain text');
    a.sendTo('carol', { secret: true });
    await waitFor(() => got.b!.length === 2 && got.c!.length === 3, 3000, 'messages');
    expect(got.b).toEqual([
      { data: { type: 'ping', n: 1 }, fromUserId: 'alice' },
      { data: 'plain text', fromUserId: 'alice' },
    ]);
    expect(got.c![2]).toEqual({ data: { secret: true }, fromUserId: 'alice' });
    expect(() => a.sendTo('nobody', 1)).toThrow(expect.objectContaining({ code: 'peer_not_found' }));
    // The limit is in bytes as sent: quotes (escaped) up to it arrive; 'é' × 40,000 (80 KB) is refused at once.
    const quotes = '"'.repeat(30_000);
    a.sendTo('carol', quotes);
    await waitFor(() => got.c!.length === 4, 3000, 'the escaped message');
    expect(got.c![3]).toEqual({ data: quotes, fromUserId: 'alice' });
    expect(() => a.send('é'.repeat(40_000))).toThrow(expect.objectContaining({ code: 'message_too_big' }));
    expect(() => a.send(new Uint8Array([1, 2]))).toThrow(expect.objectContaining({ code: 'p2p_binary_disabled' }));
    await config({ allowP2PBinary: true });
    await waitFor(() => ca.state.config.allowP2PBinary, 3000, 'the config');
    a.send(new Uint8Array([1, 2, 255]));
    await waitFor(() => got.b!.length === 3, 3000, 'the binary message');
    expect(got.b![2]).toEqual({ data: new Uint8Array([1, 2, 255]), fromUserId: 'alice' });
  });

  it('slows a sender of raw messages over the rate limit down, and drops none', async () => {
    const [, a] = await joined('alice', 'r-flood');
    const [, b] = await joined('bob', 'r-flood');
    await waitFor(() => a.peers.size === 1, 3000, 'peers');
    const errors: unknown[] = [];
    a.on('error', (e) => errors.push(e));
    const got: number[] = [];
    b.on('message', (m) => got.push((m.data as { i: number }).i));
    const started = Date.now();
    for (let i = 0; i < 400; i++) a.send({ i });
    await waitFor(() => got.length === 400, 10_000, 'every message');
    // In order, none refused; past the burst of 200, at the rate of 100 a second.
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(errors).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('refuses a binary raw message whose data is not base64, and relays nothing of it', async () => {
    await config({ allowP2PBinary: true });
    const [s1, s2] = await rawPeers(['sender', 'receiver'], 'r-binary-check');
    s1.send({ type: 'p2p:message', ref: 'bad', data: 'not base64!', encoding: 'binary' });
    s1.send({ type: 'p2p:message', ref: 'good', data: 'AQL/', encoding: 'binary' });
    const refusal = await waitFor(() => s1.messages.find((m) => m.ref === 'bad' && (m.type === 'error' || m.type === 'p2p:error')), 3000, 'the refusal');
    expect(refusal).toMatchObject({ code: 'invalid_message', message: expect.stringContaining('base64') });
    await waitFor(() => s2.messages.some((m) => m.type === 'p2p:message'), 3000, 'the good message');
    await sleep(100);
    expect(s2.messages.filter((m) => m.type === 'p2p:message').map((m) => m.data)).toEqual(['AQL/']);
  });

  it("bounds what one user's raw messages make the server send: size times receivers, per second", async () => {
    const sockets = Array.from({ length: 10 }, () => new RawSocket(t.wsUrl));
    open.push(...sockets);
    for (const [i, s] of sockets.entries()) {
      await s.auth(t, i === 0 ? 'shouter' : `listener-${i}`, 'r-relay-budget');
      s.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
      await s.next('p2p:joined');
    }
    const [sender, ...listeners] = sockets;
    await waitFor(() => sender!.messages.filter((m) => m.type === 'p2p:peer-joined').length === 9, 3000, 'peers');
    // ~60 KB to 9 receivers: ~540 KB each, so about 16 fit in a second's budget (8 MiB), and one
    // more for every ~540 KB the budget refills while the 30 are handled (more on a slow machine).
    const data = 'x'.repeat(60_000);
    const perMessage = data.length * 9;
    const started = performance.now();
    for (let i = 0; i < 30; i++) sender!.send({ type: 'p2p:message', ref: `m${i}`, data, encoding: 'text' });
    // Frames are handled in order: once this one is refused (not base64), all 30 have been.
    sender!.send({ type: 'p2p:message', ref: 'end', data: 'not base64!', encoding: 'binary' });
    await waitFor(() => sender!.messages.some((m) => m.ref === 'end'), 5000, 'the last frame handled');
    // The budget (one second's worth) plus what refilled by now, over what one message is charged.
    const allowed = Math.floor((P2P_LIMITS.relayBytesPerSecond * (1 + (performance.now() - started) / 1000)) / perMessage) + 1;
    const refused = sender!.messages.filter((m) => m.type === 'p2p:error' && String(m.ref).startsWith('m'));
    expect(refused[0]).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('MiB a second') });
    const relayed = 30 - refused.length;
    expect(relayed).toBeGreaterThanOrEqual(14);
    expect(relayed).toBeLessThanOrEqual(allowed);
    await waitFor(() => listeners.every((l) => l.messages.filter((m) => m.type === 'p2p:message').length === relayed), 5000, 'the relayed messages');
  });

  it('relays signals only to the named peer of the same room and environment', async () => {
    const s1 = new RawSocket(t.wsUrl);
    const s2 = new RawSocket(t.wsUrl);
    const other = new RawSocket(t.wsUrl);
    open.push(s1, s2, other);
    await s1.auth(t, 'alice', 'r-sig');
    await s2.auth(t, 'bob', 'r-sig');
    await other.auth(t, 'eve', 'r-sig-other');
    const join = async (s: RawSocket) => {
      s.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: true });
      return s.next('p2p:joined');
    };
    const j1 = await join(s1);
    const j2 = await join(s2);
    const jOther = await join(other);
    expect(j2.peers.map((p: any) => p.userId)).toEqual(['alice']);
    s1.send({ type: 'p2p:signal', to: j2.self.connectionId, signal: '{"description":{"type":"offer","sdp":"v=0"}}' });
    expect(await s2.next('p2p:signal')).toEqual({ type: 'p2p:signal', from: j1.self.connectionId, userId: 'alice', signal: '{"description":{"type":"offer","sdp":"v=0"}}' });
    // Another room's peer cannot be addressed, and nothing reaches it.
    s1.send({ type: 'p2p:signal', ref: 'x', to: jOther.self.connectionId, signal: 'hi' });
    expect(await s1.next('p2p:error', 3000, (m) => m.ref === 'x')).toMatchObject({ code: 'peer_not_found' });
    await sleep(100);
    expect(other.messages.find((m) => m.type === 'p2p:signal')).toBeUndefined();
    // Nor can oneself: nothing is echoed back.
    s1.send({ type: 'p2p:signal', ref: 'self', to: j1.self.connectionId, signal: 'hi' });
    expect(await s1.next('p2p:error', 3000, (m) => m.ref === 'self')).toMatchObject({ code: 'peer_not_found' });
    s1.send({ type: 'p2p:sync', ref: 'self-sync', to: j1.self.connectionId, stateVector: 'AA==' });
    expect(await s1.next('p2p:error', 3000, (m) => m.ref === 'self-sync')).toMatchObject({ code: 'peer_not_found' });
    expect(s1.messages.find((m) => m.type === 'p2p:signal' || m.type === 'p2p:sync')).toBeUndefined();
    // Malformed P2P frames get a clear error.
    s1.send({ type: 'p2p:update', ref: 'bad', update: 'not base64!' });
    expect(await s1.next('error', 3000, (m) => m.ref === 'bad')).toMatchObject({ code: 'invalid_message', message: expect.stringContaining('base64') });
    s1.send({ type: 'p2p:sync', ref: 'big', to: 'conn_x', stateVector: 'AA==', extra: 1 });
    expect(await s1.next('error', 3000, (m) => m.ref === 'big')).toMatchObject({ code: 'invalid_message' });
  });

  it('answers a connection\'s p2p:join once per joinIntervalMs: one sooner waits its turn, a third is refused', async () => {
    const [s1, s2] = await rawPeers(['jo', 'jay'], 'r-rejoin'); // joined once already
    const started = Date.now();
    s1.send({ type: 'p2p:join', ref: 'again', stateVector: 'AA==', webrtc: false });
    s1.send({ type: 'p2p:join', ref: 'flood', stateVector: 'AA==', webrtc: false });
    expect(await s1.next('p2p:error', 3000, (m) => m.ref === 'flood')).toMatchObject({ code: 'rate_limited' });
    await s1.next('p2p:joined', 5000, (m) => m.ref === 'again');
    expect(Date.now() - started).toBeGreaterThanOrEqual(P2P_LIMITS.joinIntervalMs - 500);
    // A leave while a join waits its turn cancels the join: the peer stays gone.
    s1.send({ type: 'p2p:join', ref: 'waiting', stateVector: 'AA==', webrtc: false });
    await sleep(100);
    s1.send({ type: 'p2p:leave', ref: 'bye' });
    await sleep(P2P_LIMITS.joinIntervalMs + 300);
    expect(s1.messages.some((m) => m.type === 'p2p:joined' && m.ref === 'waiting')).toBe(false);
    // The other peer saw jo leave, and not come back.
    const kinds = s2.messages.map((m) => m.type).filter((k) => k === 'p2p:peer-joined' || k === 'p2p:peer-left');
    expect(kinds.at(-1)).toBe('p2p:peer-left');
  });

  it('relays one p2p:sync request per peer per half syncIntervalMs; a PulseClient answers a flood once per interval', async () => {
    const [, victim] = await joined('victim', 'r-syncflood');
    victim.sharedMap<string>('m').set('k', 'v'.repeat(1000));
    const attacker = new RawSocket(t.wsUrl);
    open.push(attacker);
    await attacker.auth(t, 'mallory', 'r-syncflood');
    attacker.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    const to = (await attacker.next('p2p:joined')).peers[0].connectionId as string;
    const answers = () => attacker.messages.filter((m) => m.type === 'p2p:sync' && m.update !== undefined).length;
    attacker.send({ type: 'p2p:sync', ref: 'first', to, stateVector: 'AA==' });
    attacker.send({ type: 'p2p:sync', ref: 'again', to, stateVector: 'AA==' });
    expect(await attacker.next('p2p:error', 3000, (m) => m.ref === 'again')).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('p2p:sync') });
    await waitFor(() => answers() === 1, 3000, 'the answer to the first request');
    // Past the server's half interval the next request is relayed; the victim answers it only
    // once its own interval since the first answer is over.
    await sleep(P2P_LIMITS.syncIntervalMs / 2 + 100);
    attacker.send({ type: 'p2p:sync', ref: 'later', to, stateVector: 'AA==' });
    await sleep(300);
    expect(answers()).toBe(1);
    await waitFor(() => answers() === 2, P2P_LIMITS.syncIntervalMs + 1000, 'the paced answer');
    expect(attacker.messages.filter((m) => m.type === 'p2p:error' && m.ref === 'later')).toEqual([]);
  });

  it('sends joiners the stored state without reading it again while its version is unchanged', async () => {
    const [, a] = await joined('writer', 'r-cached');
    a.sharedMap<string>('m').set('k', 'v'.repeat(1000));
    await service().persistence.flush(t.envId, 'r-cached');
    const reads = vi.spyOn(t.server.ctx.store, 'getSharedState');
    const versions = vi.spyOn(t.server.ctx.store, 'sharedStateStamp');
    try {
      for (const user of ['r1', 'r2', 'r3']) {
        const [, b] = await joined(user, 'r-cached');
        await waitFor(() => b.sharedMap<string>('m').get('k') === 'v'.repeat(1000));
      }
      // Each join looked at the version; the state itself was read at most once, to store what
      // the joiners sent (a write reads the state it merges into), not once per join.
      expect(versions.mock.calls.length).toBeGreaterThanOrEqual(3);
      expect(reads.mock.calls.length).toBeLessThanOrEqual(1);
    } finally {
      reads.mockRestore();
      versions.mockRestore();
    }
  });

  it('never serves a deleted state to joiners on another node, although versions start over after a delete', async () => {
    const hooks = { config: () => undefined, saved: () => undefined, refused: () => undefined, log: () => undefined };
    const nodeA = new SharedStatePersistence(t.server.ctx.store, hooks);
    const nodeB = new SharedStatePersistence(t.server.ctx.store, hooks);
    const update = (value: string) => {
      const doc = new Y.Doc();
      doc.getMap('m').set('k', value);
      return toBase64(Y.encodeStateAsUpdate(doc));
    };
    const read = async () => {
      const doc = new Y.Doc();
      Y.applyUpdate(doc, await nodeA.current(t.envId, 'r-restamp', true));
      return doc.getMap('m').get('k');
    };
    nodeB.add(t.envId, 'r-restamp', checkedUpdate(update('old')));
    await nodeB.flush(t.envId, 'r-restamp');
    expect(await read()).toBe('old');
    await t.server.ctx.store.deleteSharedState(t.envId, 'r-restamp');
    nodeB.discard(t.envId, 'r-restamp');
    await sleep(5); // another write time
    nodeB.add(t.envId, 'r-restamp', checkedUpdate(update('new')));
    await nodeB.flush(t.envId, 'r-restamp');
    expect((await t.server.ctx.store.getSharedState(t.envId, 'r-restamp'))?.version).toBe(1); // the same version as the deleted state's
    expect(await read()).toBe('new');
  });

  it('bounds updates waiting to be stored by their merged size, and never by a stored state over a lowered limit', async () => {
    let max = 4096;
    const refusals: string[] = [];
    const hooks = { config: () => ({ p2pMaxStateBytes: max, p2pPersistIntervalMs: 60_000 }) as EnvConfig, saved: () => undefined, refused: (_e: string, _r: string, err: Error) => void refusals.push(err.message), log: () => undefined };
    const node = new SharedStatePersistence(t.server.ctx.store, hooks);
    const doc = new Y.Doc();
    doc.getArray('a').push(['x'.repeat(3000)]);
    const full = toBase64(Y.encodeStateAsUpdate(doc));
    // Three joiners' sync steps carry the same state: merged, they are one, and edits still pass.
    for (let i = 0; i < 4; i++) node.add(t.envId, 'r-pending-merged', checkedUpdate(full));
    const edit = new Y.Doc();
    Y.applyUpdate(edit, Y.encodeStateAsUpdate(doc));
    let small = '';
    edit.on('update', (u: Uint8Array) => (small = toBase64(u)));
    edit.getArray('a').push(['y']);
    expect(() => node.add(t.envId, 'r-pending-merged', checkedUpdate(small))).not.toThrow();
    await node.flush(t.envId, 'r-pending-merged');
    expect(refusals).toEqual([]);
    // The limit lowered under the stored state: the edit that removes the data still goes through.
    max = 1024;
    edit.getArray('a').delete(0, 1);
    expect(() => node.add(t.envId, 'r-pending-merged', checkedUpdate(small))).not.toThrow();
    await node.close();
  });

  it('refuses updates that would take a room past clientsPerRoom writers (each costs every later merge)', async () => {
    // A valid update of `n` clients' one-item GC structs, as a crafted client would build it.
    const varUint = (out: number[], v: number) => {
      for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v % 128) | 0x80);
      out.push(v);
    };
    const crafted = (n: number, base: number) => {
      const out: number[] = [];
      varUint(out, n);
      for (let i = 0; i < n; i++) {
        varUint(out, 1);
        varUint(out, base + n - i);
        varUint(out, 0);
        out.push(0);
        varUint(out, 1);
      }
      varUint(out, 0);
      return toBase64(Uint8Array.from(out));
    };
    const [s1, s2] = await rawPeers(['crafty', 'victim'], 'r-clients');
    const per = 4000;
    for (let i = 0; i < 3; i++) s1.send({ type: 'p2p:update', ref: `u${i}`, update: crafted(per, 1000 + i * per * 2) });
    expect(await s1.next('p2p:error', 5000, (m) => m.ref === 'u2')).toMatchObject({ code: 'p2p_state_too_large', message: expect.stringContaining('writers') });
    expect(s1.messages.some((m) => m.type === 'p2p:error' && m.ref !== 'u2')).toBe(false);
    // Past the limit in one update: refused before it is decoded.
    const big = JSON.stringify({ type: 'p2p:update', ref: 'u-big', update: crafted(P2P_LIMITS.clientsPerRoom + 1, 1e9) });
    const pieces = Math.ceil(big.length / 40_000);
    for (let i = 0; i < pieces; i++) s1.send({ type: 'p2p:chunk', id: 'big', index: i, count: pieces, data: big.slice(i * 40_000, (i + 1) * 40_000) });
    const errors = await waitFor(() => {
      const all = s1.messages.filter((m) => m.type === 'p2p:error');
      return all.length === 2 ? all : undefined;
    }, 5000, 'the second refusal');
    expect(errors[1]).toMatchObject({ code: 'p2p_state_too_large' });
    // The two that fitted reached the other peer; the refused ones did not.
    await waitFor(() => s2.messages.filter((m) => m.type === 'p2p:update').length === 2, 3000, 'the relayed updates');
    await sleep(200);
    expect(s2.messages.filter((m) => m.type === 'p2p:update')).toHaveLength(2);
  });

  it('lets a peer go whose p2p:leave carries a refused update', async () => {
    const [s1, s2] = await rawPeers(['alice', 'bob'], 'r-leave');
    s1.send({ type: 'p2p:leave', ref: 'bye', update: 'AQIDBAXIBw==' });
    expect(await s1.next('p2p:error', 3000, (m) => m.ref === 'bye')).toMatchObject({ code: 'invalid_message' });
    expect(await s2.next('p2p:peer-left')).toMatchObject({ userId: 'alice' });
  });

  it('refuses updates and state vectors that are not Yjs, so one bad frame cannot break the room', async () => {
    const s1 = new RawSocket(t.wsUrl);
    const s2 = new RawSocket(t.wsUrl);
    open.push(s1, s2);
    await s1.auth(t, 'alice', 'r-garbage');
    await s2.auth(t, 'bob', 'r-garbage');
    s1.send({ type: 'p2p:join', ref: 'sv', stateVector: 'BQ==', webrtc: false }); // five entries announced, none there
    expect(await s1.next('p2p:error', 3000, (m) => m.ref === 'sv')).toMatchObject({ code: 'invalid_message', message: expect.stringContaining('stateVector') });
    s1.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    const j1 = await s1.next('p2p:joined');
    s2.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    await s2.next('p2p:joined');
    const garbage = 'AQIDBAXIBw=='; // valid base64, not an update
    s1.send({ type: 'p2p:update', ref: 'u', update: garbage });
    s1.send({ type: 'p2p:persist', ref: 'p', update: garbage });
    s2.send({ type: 'p2p:sync', ref: 's', to: j1.self.connectionId, update: garbage });
    // Five bytes announcing billions of writers: not an update, rather than one with too many writers.
    s1.send({ type: 'p2p:update', ref: 'huge-count', update: '//////8P' });
    for (const [s, ref] of [[s1, 'u'], [s1, 'p'], [s2, 's'], [s1, 'huge-count']] as const) {
      expect(await s.next('p2p:error', 3000, (m) => m.ref === ref)).toMatchObject({ code: 'invalid_message', message: expect.stringContaining('not a Yjs update') });
    }
    expect(s2.messages.find((m) => m.type === 'p2p:update')).toBeUndefined();
    // The room still stores, lists and lets peers in.
    // Valid Yjs, though not JSON (PulseClient refuses these; a client of its own may not): listed as JSON.
    const doc = new Y.Doc();
    doc.getMap('map:m').set('k', 1);
    doc.getMap('map:m').set('big', 10n as never);
    doc.getMap('map:m').set('bytes', new Uint8Array([1, 2]));
    s1.send({ type: 'p2p:update', update: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64') });
    expect((await s2.next('p2p:update')).userId).toBe('alice');
    await service().persistence.flush(t.envId, 'r-garbage');
    const listed = await t.api('GET', '/api/v1/rooms/r-garbage/shared');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ objects: [{ type: 'map', name: 'm', value: { k: 1, big: '10', bytes: 'AQI=' } }] });
    const s3 = new RawSocket(t.wsUrl);
    open.push(s3);
    await s3.auth(t, 'carol', 'r-garbage');
    s3.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    expect((await s3.next('p2p:joined')).peers).toHaveLength(2);
  });

  it('keeps chunk pieces only for peers of the session, within the state limit, until the socket goes', async () => {
    const s = new RawSocket(t.wsUrl);
    open.push(s);
    await s.auth(t, 'mallory', 'r-chunks');
    const piece = (id: string, index: number) => ({ type: 'p2p:chunk', ref: `${id}-${index}`, id, index, count: 1400, data: 'A'.repeat(49_152) });
    const answer = (ref: string) => s.next('p2p:error', 3000, (m) => m.ref === ref);
    // Not joined: one chunked frame at a time, and it must be the p2p:join (a large state vector).
    const update = JSON.stringify({ type: 'p2p:update', update: 'AAA=' });
    s.send({ type: 'p2p:chunk', ref: 'u', id: 'u', index: 0, count: 1, data: update });
    expect(await answer('u')).toMatchObject({ code: 'p2p_not_joined' });
    s.send(piece('f0', 0));
    s.send(piece('f1', 0));
    expect(await answer('f1-0')).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('At most 1 chunked frame') });
    s.close();
    await waitFor(() => service().chunks.held === 0, 3000, 'the pieces of a socket that closed released');
    const s2 = new RawSocket(t.wsUrl);
    open.push(s2);
    await s2.auth(t, 'mallory', 'r-chunks');
    const join = JSON.stringify({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    s2.send({ type: 'p2p:chunk', id: 'j', index: 1, count: 2, data: join.slice(10) });
    s2.send({ type: 'p2p:chunk', id: 'j', index: 0, count: 2, data: join.slice(0, 10) });
    await s2.next('p2p:joined');
    s2.close();
    await config({ p2pMaxStateBytes: 100_000 }); // ~199,000 characters of pieces per connection
    await waitFor(async () => (await t.server.hub.configOf(t.envId)).p2pMaxStateBytes === 100_000, 3000, 'the config');
    const s3 = new RawSocket(t.wsUrl);
    open.push(s3);
    await s3.auth(t, 'mallory', 'r-chunks');
    s3.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    await s3.next('p2p:joined');
    await waitFor(() => service().chunks.held === 0, 3000, 'nothing held');
    for (const id of ['f0', 'f1', 'f2', 'f3']) s3.send(piece(id, 0));
    await waitFor(() => service().chunks.held === 4 * 49_152, 3000, 'four pieces kept');
    // The fifth piece would take the connection past its limit, spread over frames or not.
    s3.send(piece('f0', 1));
    expect(await s3.next('p2p:error', 3000, (m) => m.ref === 'f0-1')).toMatchObject({ code: 'p2p_state_too_large' });
    expect(service().chunks.held).toBe(3 * 49_152);
    s3.close();
    await waitFor(() => service().chunks.held === 0, 3000, 'the pieces released');
  });

  it('persists the room: a client joining after everyone left loads it, also after a restart', async () => {
    const before = service().persistence.writes;
    const [ca, a] = await joined('alice', 'r-persist');
    a.sharedMap('board').set('card', { title: 'Kept' });
    a.sharedList('cols').push('todo', 'done');
    a.sharedCounter('n').increment(5);
    await sleep(100);
    ca.disconnect(); // the last peer leaves: written at once
    await waitFor(async () => (await t.server.ctx.store.getSharedState(t.envId, 'r-persist')) !== undefined, 3000, 'the state stored');
    expect(service().persistence.writes).toBe(before + 1);
    const [, b] = await joined('bob', 'r-persist');
    expect(b.sharedMap('board').get('card')).toEqual({ title: 'Kept' });
    expect(b.sharedList('cols').toArray()).toEqual(['todo', 'done']);
    expect(b.sharedCounter('n').value).toBe(5);
    b.sharedCounter('n').increment();
    await sleep(50);
    for (const c of open.splice(0)) (c as PulseClient).disconnect();
    await waitFor(async () => (await t.server.ctx.store.getSharedState(t.envId, 'r-persist'))?.version === 2, 3000, 'the second write');
    // REST names the stored version, as the p2p.state.persisted webhook does.
    expect((await t.api('GET', '/api/v1/rooms/r-persist/shared')).body).toMatchObject({ roomId: 'r-persist', version: 2 });
    await t.restart();
    const [, c] = await joined('carol', 'r-persist');
    expect(c.sharedCounter('n').value).toBe(6);
    expect(c.sharedMap('board').toJSON()).toEqual({ card: { title: 'Kept' } });
  });

  it('writes at most once per interval however fast the updates come', async () => {
    const [, a] = await joined('alice', 'r-rate');
    const [, b] = await joined('bob', 'r-rate');
    const before = service().persistence.writes;
    const started = Date.now();
    while (Date.now() - started < 2500) {
      a.sharedMap('m').set('k', Date.now());
      b.sharedCounter('c').increment();
      await sleep(20);
    }
    const writes = service().persistence.writes - before;
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(Math.ceil(2500 / INTERVAL_MS) + 1);
  });

  it('refuses a state over p2pMaxStateBytes with a clear error and keeps what was stored', async () => {
    const [ca, a] = await joined('alice', 'r-big');
    const [, b] = await joined('bob', 'r-big');
    a.sharedMap('m').set('small', 'ok');
    await sleep(50);
    await service().persistence.flush(t.envId, 'r-big');
    const stored = (await t.server.ctx.store.getSharedState(t.envId, 'r-big'))!;
    await config({ p2pMaxStateBytes: 2048 });
    await sleep(100);
    const errors: { code: string; message: string }[] = [];
    const bobs: { code: string }[] = [];
    a.on('error', (e) => errors.push(e));
    b.on('error', (e) => bobs.push(e));
    a.sharedMap('m').set('big', 'x'.repeat(5000));
    await waitFor(() => errors.length > 0 && bobs.length > 0, 3000, 'the refusal, told to every peer');
    expect(errors[0]).toMatchObject({ code: 'p2p_state_too_large', message: expect.stringContaining('2048') });
    expect(bobs[0]).toMatchObject({ code: 'p2p_state_too_large' });
    const after = (await t.server.ctx.store.getSharedState(t.envId, 'r-big'))!;
    expect(after.version).toBe(stored.version);
    expect([...after.state]).toEqual([...stored.state]);
    ca.disconnect();
  });

  it('keeps the edits a refused write carried, and stores them once data is removed (as the docs advise)', async () => {
    await config({ p2pMaxStateBytes: 2048 });
    await sleep(100);
    const [ca, a] = await joined('alice', 'r-refused-batch');
    const errors: { code: string }[] = [];
    a.on('error', (e) => errors.push(e));
    const m = a.sharedMap<string>('m');
    m.set('seed', 's');
    await sleep(50);
    await service().persistence.flush(t.envId, 'r-refused-batch');
    // In one interval: an edit that fits, then one that takes the state past the limit.
    m.set('keep', 'important');
    m.set('big', 'x'.repeat(5000));
    await sleep(50);
    await service().persistence.flush(t.envId, 'r-refused-batch');
    await waitFor(() => errors.length > 0, 3000, 'the refusal');
    expect(errors[0]).toMatchObject({ code: 'p2p_state_too_large' });
    const storedMap = async () => {
      const doc = new Y.Doc();
      Y.applyUpdate(doc, (await t.server.ctx.store.getSharedState(t.envId, 'r-refused-batch'))!.state);
      return doc.getMap('map:m').toJSON();
    };
    expect(await storedMap()).toEqual({ seed: 's' });
    // A joiner meanwhile gets what the peers hold, refused write included.
    const [cb, b] = await joined('bob', 'r-refused-batch');
    expect(b.sharedMap('m').get('keep')).toBe('important');
    cb.disconnect();
    // Removing the data brings the state under the limit: the next write stores the edit that came with it.
    m.delete('big');
    await sleep(50);
    await service().persistence.flush(t.envId, 'r-refused-batch');
    expect(await storedMap()).toEqual({ seed: 's', keep: 'important' });
    expect((await t.server.ctx.store.getSharedState(t.envId, 'r-refused-batch'))!.state.byteLength).toBeLessThan(2048);
    expect(errors).toHaveLength(1);
    ca.disconnect();
  });

  it('refuses at once, and relays none of, updates past twice p2pMaxStateBytes waiting to be stored', async () => {
    await config({ p2pMaxStateBytes: 4096, p2pPersistIntervalMs: 60_000 });
    await sleep(100);
    const [s1, s2] = await rawPeers(['flooder', 'watcher'], 'r-pending-flood');
    const doc = new Y.Doc();
    const updates: string[] = [];
    doc.on('update', (u: Uint8Array) => updates.push(toBase64(u)));
    for (let i = 0; i < 12; i++) doc.getArray('a').push(['x'.repeat(1000)]);
    updates.forEach((update, i) => s1.send({ type: 'p2p:update', ref: `f${i}`, update }));
    // ~1 KB each: once nine wait (past 8 KB), the rest are refused, not relayed. (The nine are
    // refused in turn when written, without a ref: that state is over the limit.)
    const refused = await waitFor(() => {
      const all = s1.messages.filter((m) => m.type === 'p2p:error' && m.ref);
      return all.length === 3 ? all : undefined;
    }, 5000, 'the refusals');
    expect(refused.map((m) => m.ref)).toEqual(['f9', 'f10', 'f11']);
    expect(refused[0]).toMatchObject({ code: 'p2p_state_too_large', message: expect.stringContaining('twice p2pMaxStateBytes (4096)') });
    await waitFor(() => s2.messages.filter((m) => m.type === 'p2p:update').length === 9, 3000, 'the relayed updates');
    await sleep(200);
    expect(s2.messages.filter((m) => m.type === 'p2p:update')).toHaveLength(9);
    await config({ p2pMaxStateBytes: 5_242_880, p2pPersistIntervalMs: 5000 });
  });

  it('carries updates larger than one WebSocket frame (chunked)', async () => {
    const [, a] = await joined('alice', 'r-chunk');
    const [, b] = await joined('bob', 'r-chunk');
    const big = 'y'.repeat(300_000);
    a.sharedMap('m').set('big', big);
    await waitFor(() => b.sharedMap('m').get('big') === big, 5000, 'the big value');
    // Text that grows in a frame: 2-byte UTF-8, JSON escapes (each piece is sized in bytes as sent).
    const wide = 'é"\n'.repeat(40_000);
    a.sharedMap('m').set('wide', wide);
    await waitFor(() => b.sharedMap('m').get('wide') === wide, 5000, 'the wide value');
  });

  it('answers a request sent in pieces with the ref of the request, refused or not', async () => {
    const [s1] = await rawPeers(['alice', 'bob'], 'r-chunk-ref');
    // Valid base64, not a Yjs update, too long for one frame.
    const json = JSON.stringify({ type: 'p2p:update', ref: 'chunked', update: Buffer.alloc(60_000, 0xff).toString('base64') });
    const pieces = [json.slice(0, 40_000), json.slice(40_000)];
    pieces.forEach((data, index) => s1.send({ type: 'p2p:chunk', id: 'c1', index, count: pieces.length, data }));
    expect(await s1.next('p2p:error')).toMatchObject({ code: 'invalid_message', ref: 'chunked' });
  });

  it('carries a frame of more pieces than the message burst allows, paced, and stores it', async () => {
    await config({ p2pMaxStateBytes: 20 * 1024 * 1024 });
    await waitFor(async () => (await t.server.hub.configOf(t.envId)).p2pMaxStateBytes === 20 * 1024 * 1024, 3000, 'the config');
    const [, a] = await joined('alice', 'r-paced');
    const [, b] = await joined('bob', 'r-paced');
    const errors: unknown[] = [];
    a.on('error', (e) => errors.push(e));
    // ~12 M characters as base64: ~250 pieces of 48 KiB, past the 200-message burst of a connection.
    const big = 'z'.repeat(9 * 1024 * 1024);
    a.sharedMap('m').set('big', big);
    a.sharedMap('m').set('after', 1);
    // ~6 s here on a quiet machine (the pieces past the client's budget go at 50 a second).
    await waitFor(() => b.sharedMap('m').get('after') === 1, 40_000, 'the value sent after the big one');
    expect(b.sharedMap('m').get('big')).toBe(big);
    expect(errors).toEqual([]);
  }, 60_000);

  it('merges offline edits on reconnect, in both directions', async () => {
    const [ca, a] = await joined('alice', 'r-offline');
    const [, b] = await joined('bob', 'r-offline');
    a.sharedMap('m').set('shared', 1);
    await waitFor(() => b.sharedMap('m').get('shared') === 1, 3000, 'first sync');
    ca.disconnect();
    a.sharedMap('m').set('from-a-offline', true);
    a.sharedCounter('c').increment(2);
    b.sharedMap('m').set('from-b-meanwhile', true);
    b.sharedCounter('c').increment(3);
    await sleep(100);
    ca.connect();
    await waitFor(() => a.sharedMap('m').get('from-b-meanwhile') === true && b.sharedMap('m').get('from-a-offline') === true, 5000, 'both offline edits');
    await waitFor(() => a.sharedCounter('c').value === 5 && b.sharedCounter('c').value === 5, 3000, 'the counter');
  });

  it('tears the manager down on every client when allowP2P is turned off live', async () => {
    const [, a] = await joined('alice', 'r-live');
    const [cb, b] = await joined('bob', 'r-live');
    const destroyed: string[] = [];
    a.on('destroyed', (e) => destroyed.push(e.reason));
    b.on('destroyed', (e) => destroyed.push(e.reason));
    await config({ allowP2P: false });
    await waitFor(() => destroyed.length === 2, 3000, 'both managers torn down');
    expect(destroyed[0]).toContain('allowP2P');
    expect(() => a.sharedMap('x')).toThrow(expect.objectContaining({ code: 'p2p_disabled' }));
    await expect(cb.p2p).rejects.toMatchObject({ code: 'p2p_disabled' });
    await config({ allowP2P: true });
    await waitFor(() => cb.state.config.allowP2P, 3000, 'the config');
    const again = await cb.p2p;
    expect(again).not.toBe(b);
  });

  it('sweeps state past its TTL', async () => {
    const store = t.server.ctx.store;
    const past = new Date(Date.now() - 1000).toISOString();
    await store.putSharedState(t.envId, 'r-old', { state: Y.encodeStateAsUpdate(new Y.Doc()), expectedVersion: null, at: past, expiresAt: past });
    const [ca, a] = await joined('alice', 'r-fresh');
    a.sharedMap('m').set('k', 1);
    await sleep(50);
    ca.disconnect();
    const fresh = await waitFor(() => store.getSharedState(t.envId, 'r-fresh'), 3000, 'fresh state');
    const ttlMs = Date.parse(fresh.expiresAt) - Date.parse(fresh.updatedAt);
    expect(ttlMs).toBe(30 * 86_400_000);
    expect(await service().sweep()).toBeGreaterThanOrEqual(1);
    expect(await store.getSharedState(t.envId, 'r-old')).toBeUndefined();
    expect(await store.getSharedState(t.envId, 'r-fresh')).toBeDefined();
  });

  it('shows a room\'s shared objects over REST and deletes them, live peers included', async () => {
    const [, a] = await joined('alice', 'r-rest');
    a.sharedMap<{ title: string }>('cards').set('c1', { title: 'One' });
    a.sharedList<string>('order').push('c1');
    a.sharedCounter('votes').increment(4);
    await sleep(100);
    const res = await t.api('GET', '/api/v1/rooms/r-rest/shared');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ roomId: 'r-rest', bytes: expect.any(Number) });
    expect(res.body.objects).toEqual([
      { type: 'map', name: 'cards', value: { c1: { title: 'One' } } },
      { type: 'list', name: 'order', value: ['c1'] },
      { type: 'counter', name: 'votes', value: 4 },
    ]);
    expect((await t.api('GET', '/api/v1/rooms/nothing-here/shared')).body.error.code).toBe('not_found');
    // Reading a room is not serving it: nothing is kept in memory for it (a script walking many rooms would fill it).
    expect(service().persistence.holds(t.envId, 'nothing-here')).toBe(false);
    expect((await t.api('GET', '/api/v1/rooms/r-rest/shared', undefined, 'sk_wrong')).status).toBe(401);
    // Another environment's key sees nothing of this room.
    const other = await t.server.ctx.environments.create('Other');
    expect((await t.api('GET', '/api/v1/rooms/r-rest/shared', undefined, other.secretKey)).status).toBe(404);
    expect((await t.api('DELETE', '/api/v1/rooms/r-rest/shared', undefined, other.secretKey)).status).toBe(204);
    expect((await t.api('GET', '/api/v1/rooms/r-rest/shared')).status).toBe(200);

    const reasons: string[] = [];
    a.on('destroyed', (e) => reasons.push(e.reason));
    expect((await t.api('DELETE', '/api/v1/rooms/r-rest/shared')).status).toBe(204);
    await waitFor(() => reasons.length === 1, 3000, 'the reset');
    expect(reasons[0]).toContain('cleared');
    expect((await t.api('GET', '/api/v1/rooms/r-rest/shared')).status).toBe(404);
    expect(await t.server.ctx.store.getSharedState(t.envId, 'r-rest')).toBeUndefined();
  });

  it('never carries one room\'s document into another after setRoom', async () => {
    const [c, a] = await joined('alice', 'r-room-a');
    a.sharedMap('m').set('only-in-a', true);
    const reasons: string[] = [];
    a.on('destroyed', (e) => reasons.push(e.reason));
    c.setRoom('r-room-b');
    await waitFor(() => reasons.length === 1, 3000, 'the old manager torn down');
    expect(reasons[0]).toContain('r-room-b');
    const b = await c.p2p;
    expect(b).not.toBe(a);
    expect(b.sharedMap('m').has('only-in-a')).toBe(false);
  });

  it('serves the new room from client.p2p at once after setRoom, and the old room keeps its last edit', async () => {
    const [c, a] = await joined('alice', 'r-move-a');
    a.sharedMap('m').set('last', 'in a'); // not stored yet: handed over as the old session ends
    c.setRoom('r-move-b');
    const b = await c.p2p; // asked right away: the new room's, never the old one's
    expect(b).not.toBe(a);
    b.sharedMap('m').set('first', 'in b');
    const [, inB] = await joined('bob', 'r-move-b');
    await waitFor(() => inB.sharedMap('m').get('first') === 'in b', 3000, 'the write in the new room');
    await waitFor(async () => (await t.api('GET', '/api/v1/rooms/r-move-a/shared')).body.objects?.[0]?.value?.last === 'in a', 3000, 'the old room\'s last edit kept');
  });

  it('rejects client.p2p when the client stops before it could join, instead of waiting for ever', async () => {
    const { PulseClient } = await import('@pulse/core');
    const { WebSocket } = await import('ws');
    const make = (token: string) => new PulseClient({ apiKey: t.publishableKey, token, room: 'r-never', endpoint: t.wsUrl, WebSocket: WebSocket as never });
    const early = make('whatever');
    const p = early.p2p;
    early.connect();
    early.disconnect();
    await expect(p).rejects.toMatchObject({ name: 'P2PError', code: 'p2p_not_joined', message: expect.stringContaining('not reconnecting') });
    // A token the server refuses, with no function to get another: the client stops, and so does the wait.
    const refused = make('not-a-token');
    open.push(refused);
    const q = refused.p2p;
    refused.connect();
    await expect(q).rejects.toMatchObject({ code: 'p2p_not_joined' });
  });

  it('refuses to store more shared objects than maxSharedObjects from a client that does not check', async () => {
    await config({ maxSharedObjects: 2 });
    const s = new RawSocket(t.wsUrl);
    open.push(s);
    await s.auth(t, 'mallory', 'r-objects');
    s.send({ type: 'p2p:join', stateVector: 'AA==', webrtc: false });
    await s.next('p2p:joined');
    const doc = new Y.Doc();
    for (const name of ['map:a', 'map:b', 'map:c', 'map:d', 'map:e']) doc.getMap(name).set('k', 1);
    s.send({ type: 'p2p:update', update: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64') });
    await service().persistence.flush(t.envId, 'r-objects');
    expect(await s.next('p2p:error')).toMatchObject({ code: 'too_many_shared_objects', message: expect.stringContaining('maxSharedObjects') });
    expect(await t.server.ctx.store.getSharedState(t.envId, 'r-objects')).toBeUndefined();
  });

  it("stores the other peers' edits of an interval in which a client created objects past maxSharedObjects", async () => {
    await config({ maxSharedObjects: 2 });
    const [honest, mallory] = await rawPeers(['ann', 'mallory'], 'r-objects-mixed');
    const send = (s: RawSocket, d: Y.Doc) => s.send({ type: 'p2p:update', update: Buffer.from(Y.encodeStateAsUpdate(d)).toString('base64') });
    const fair = new Y.Doc();
    fair.getMap('map:board').set('card', 'kept');
    send(honest, fair);
    const bad = new Y.Doc();
    for (const name of ['map:a', 'map:b', 'map:c', 'map:d', 'map:e']) bad.getMap(name).set('k', 1);
    send(mallory, bad);
    await honest.next('p2p:update');
    await service().persistence.flush(t.envId, 'r-objects-mixed');
    expect(await mallory.next('p2p:error')).toMatchObject({ code: 'too_many_shared_objects' });
    const stored = new Y.Doc();
    Y.applyUpdate(stored, (await t.server.ctx.store.getSharedState(t.envId, 'r-objects-mixed'))!.state);
    expect([...stored.share.keys()]).toEqual(['map:board']);
    expect(stored.getMap('map:board').toJSON()).toEqual({ card: 'kept' });
  });

  it('keeps a room whose peers created their last shared objects at the same moment, and its later edits', async () => {
    await config({ maxSharedObjects: 2 });
    const [s1, s2] = await rawPeers(['ann', 'ben'], 'r-race');
    // Each saw one object and made its second: three in all, one over the limit.
    const shared = new Y.Doc();
    shared.getMap('map:board').set('k', 1);
    const [a, b] = [new Y.Doc(), new Y.Doc()];
    for (const d of [a, b]) Y.applyUpdate(d, Y.encodeStateAsUpdate(shared));
    a.getMap('map:ann').set('k', 1);
    b.getMap('map:ben').set('k', 1);
    const send = (s: RawSocket, d: Y.Doc) => s.send({ type: 'p2p:update', update: Buffer.from(Y.encodeStateAsUpdate(d)).toString('base64') });
    send(s1, a);
    send(s2, b);
    await s2.next('p2p:update');
    await service().persistence.flush(t.envId, 'r-race');
    a.getMap('map:board').set('k', 2); // an edit after the race is stored too
    send(s1, a);
    await s2.next('p2p:update', 3000, (m) => s2.messages.filter((x) => x.type === 'p2p:update').indexOf(m) === 1);
    await service().persistence.flush(t.envId, 'r-race');
    const stored = new Y.Doc();
    Y.applyUpdate(stored, (await t.server.ctx.store.getSharedState(t.envId, 'r-race'))!.state);
    expect([...stored.share.keys()].sort().map((k) => [k, stored.getMap(k).toJSON()])).toEqual([
      ['map:ann', { k: 1 }],
      ['map:ben', { k: 1 }],
      ['map:board', { k: 2 }],
    ]);
    expect([...s1.messages, ...s2.messages].find((m) => m.type === 'p2p:error')).toBeUndefined();
  });
});
