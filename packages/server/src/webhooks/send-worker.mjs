// Starts the webhook sending thread (send-worker.ts, or .js once built). From the TypeScript
// sources (tests, benchmarks) the thread registers tsx first: worker threads do not inherit it.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
