import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { describe, expect, it } from 'vitest';
import type { Store } from '../store/index.ts';
import { RoomSnapshots } from './room-state.ts';

/** A store whose rooms each hold one thread of `size` characters, counting the loads. */
function fakeStore(size: number) {
  const loads: string[] = [];
  const store = {
    roomSeq: async () => 1,
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
    const snapshots = new RoomSnapshots(store, async () => [], { rooms: 100, bytes: 2500 });
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
    const alone = new RoomSnapshots(big.store, async () => [], { rooms: 100, bytes: 2500 });
    expect((await alone.json('env', 'huge', DEFAULT_ENV_CONFIG)).durable.length).toBeGreaterThan(5000);
    await alone.json('env', 'huge', DEFAULT_ENV_CONFIG);
    expect(big.loads).toEqual(['huge']);
  });
});
