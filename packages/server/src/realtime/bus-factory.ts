import type { ServerOptions } from '../options.ts';
import { MemoryBus, type Bus } from './bus.ts';

/** The bus for this server: in-process by default; Redis when REDIS_URL is set (cluster mode). */
export async function createBus(options: ServerOptions): Promise<Bus> {
  if (options.redisUrl) throw new Error('REDIS_URL is set, but cluster mode is not available in this build yet.');
  return new MemoryBus();
}
