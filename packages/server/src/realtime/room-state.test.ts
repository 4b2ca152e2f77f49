import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { describe, expect, it } from 'vitest';
import type { Store } from '../store/index.ts';
import { LocalRoom } from './room.ts';
import { RoomSnapshots } from './room-state.ts';

/** A store whose rooms each hold one thread of `size` characters, counting the loads. */
function fakeStore(size: number, seq = { value: 1, reads: 0 }) {
  const loads: string[] = [];
  const store = {
    roomSeq: async () => (seq.reads++, seq.value),
    listRoomThreadsWithComments: async (_envId: string, roomId: string) => {
      loads.push(roomId);
      return [{ id: roomId, body: 'x'.repeat(size) }];
    },
    listActivity: async () => [],
    listStrokes: async () => [],
  } as unknown as Store;
  return { store, loads };
}

describe('RoomSnapshots', () => {
  it('loads a room once per seq, and forgets the least recently loaded past its byte bound', async () => {
    const { store, loads } = fakeStore(1000);
    const snapshots = new RoomSnapshots(store, { presence: async () => [], open: () => undefined }, { rooms: 100, bytes: 2500 });
    const json = (room: string) => snapshots.json('env', room, DEFAULT_ENV_CONFIG);
    await json('a');
    await json('a');
    expect(loads).toEqual(['a']);
    await json('b');
    await json('c'); // three of ~1 KB: past 2,500 bytes, 'a' goes
    await json('b');
    await json('c');
    expect(loads).toEqual(['a', 'b', 'c']);
    await json('a');
    expect(loads).toEqual(['a', 'b', 'c', 'a']);
    // A room bigger than the whole bound is still served, and cached alone.
    const big = fakeStore(5000);
    const alone = new RoomSnapshots(big.store, { presence: async () => [], open: () => undefined }, { rooms: 100, bytes: 2500 });
    expect((await alone.json('env', 'huge', DEFAULT_ENV_CONFIG)).durable.length).toBeGreaterThan(5000);
    await alone.json('env', 'huge', DEFAULT_ENV_CONFIG);
    expect(big.loads).toEqual(['huge']);
  });

  it('takes a room open on one node at the number it knows, reading it only once', async () => {
    const seq = { value: 4, reads: 0 };
    const { store, loads } = fakeStore(10, seq);
    const out = { publishBatch: () => undefined, showPresence: () => true };
    const room = new LocalRoom('env', 'r', 0, out, undefined, true);
    const snapshots = new RoomSnapshots(store, { presence: async () => [], open: () => room }, { rooms: 100, bytes: 1e6 });
    const before = async () => (await snapshots.json('env', 'r', DEFAULT_ENV_CONFIG)).before;
    expect(await before()).toContain('"seq":4');
    expect(await before()).toContain('"seq":4');
    expect([seq.reads, loads.length]).toEqual([1, 1]);
    // An event from the bus: the next joiner's snapshot is at its number, loaded again, not read.
    seq.value = 5;
    room.eventPublished(5);
    room.eventPublished(3); // an older number never lowers it
    expect(await before()).toContain('"seq":5');
    expect([seq.reads, loads.length]).toEqual([1, 2]);
    room.dispose();
  });

  it('lets only a read start the number: an event published before it (late, out of order) does not', async () => {
    const seq = { value: 7, reads: 0 };
    const { store } = fakeStore(10, seq);
    const room = new LocalRoom('env', 'r', 0, { publishBatch: () => undefined, showPresence: () => true }, undefined, true);
    const snapshots = new RoomSnapshots(store, { presence: async () => [], open: () => room }, { rooms: 100, bytes: 1e6 });
    room.eventPublished(6); // say 7 was committed while nobody was here, and 6 comes late
    expect(room.seq).toBeUndefined();
    expect((await snapshots.json('env', 'r', DEFAULT_ENV_CONFIG)).before).toContain('"seq":7');
    room.eventPublished(6);
    expect(room.seq).toBe(7);
    room.dispose();
  });

  it('reads the number for every snapshot of a room that does not keep it (cluster mode)', async () => {
    const seq = { value: 4, reads: 0 };
    const { store } = fakeStore(10, seq);
    const room = new LocalRoom('env', 'r', 0, { publishBatch: () => undefined, showPresence: () => true });
    const snapshots = new RoomSnapshots(store, { presence: async () => [], open: () => room }, { rooms: 100, bytes: 1e6 });
    room.seqRead(9);
    room.eventPublished(10);
    expect(room.seq).toBeUndefined();
    await snapshots.json('env', 'r', DEFAULT_ENV_CONFIG);
    await snapshots.json('env', 'r', DEFAULT_ENV_CONFIG);
    expect(seq.reads).toBe(2);
    room.dispose();
  });
});
