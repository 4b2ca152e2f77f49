import type { ServerOptions } from '../options.ts';
import { MemoryBus, type Bus } from './bus.ts';
import { RedisBus } from './redis-bus.ts';

/** Key and channel prefix when PULSE_REDIS_PREFIX is not set. */
export const DEFAULT_REDIS_PREFIX = 'pulse:';

/** The bus for this server: in-process by default; Redis when REDIS_URL is set (cluster mode). */
export async function createBus(options: ServerOptions): Promise<Bus> {
  if (!options.redisUrl) return new MemoryBus();
  return RedisBus.connect({
    url: options.redisUrl,
    prefix: options.redisPrefix ?? DEFAULT_REDIS_PREFIX,
    // Measurement aid (bench/cluster-fanout.ts): every delivery through Redis, even to this node.
    localShortcut: process.env.PULSE_BENCH_BUS_ROUNDTRIP !== '1',
  });
}
