import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresAvailable } from './helpers/services.ts';
import { cleanEnv } from './helpers/hardening.ts';
import { firstRunKeys, killHard, spawnServer } from './helpers/process.ts';
import { testStorage } from './helpers/server.ts';

/** An acknowledged write survives kill -9 of the server process. */
for (const driver of ['sqlite', 'postgres'] as const) {
  describe.skipIf(driver === 'postgres' && !postgresAvailable)(`durability on ${driver}`, () => {
    const storage = testStorage(driver);
    const children: ChildProcess[] = [];
    // Killed and cleaned up whatever happened in the test.
    afterAll(async () => {
      await Promise.all(children.map(killHard));
      await storage.cleanup();
    });

    it('finds every acknowledged comment after kill -9 and restart', async () => {
      const env = cleanEnv(storage.env);
      const first = await spawnServer(env);
      children.push(first.child);
      const sk = firstRunKeys(first.output(), storage.dataDir).secretKey;
      const call = (url: string, method: string, path: string, body?: unknown) =>
        fetch(url + path, {
          method,
          headers: { authorization: `Bearer ${sk}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });

      await call(first.url, 'PUT', '/api/v1/users/writer', { name: 'Writer' });
      const created = await (await call(first.url, 'POST', '/api/v1/rooms/durable/threads', { userId: 'writer', body: 'start' })).json();
      const threadId: string = created.thread.id;

      // Writes in flight 20 at a time; count only those acknowledged with 201.
      let acknowledged = 1;
      const N = 300;
      for (let batch = 0; batch < N; batch += 20) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            call(first.url, 'POST', `/api/v1/threads/${threadId}/comments`, { userId: 'writer', body: `comment ${batch + i}` }),
          ),
        );
        acknowledged += results.filter((r) => r.status === 201).length;
      }
      await killHard(first.child); // right after the last acknowledgement, no graceful shutdown

      const second = await spawnServer(env);
      children.push(second.child);
      try {
        let seen = 0;
        let cursor: string | null = null;
        do {
          const page: any = await (await call(second.url, 'GET', `/api/v1/threads/${threadId}/comments?limit=200${cursor ? `&cursor=${cursor}` : ''}`)).json();
          seen += page.items.length;
          cursor = page.nextCursor;
        } while (cursor);
        expect(acknowledged).toBe(N + 1);
        expect(seen).toBe(acknowledged);
      } finally {
        await killHard(second.child);
      }
    }, 60_000);
  });
}
