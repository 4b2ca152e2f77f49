import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENV_CONFIG } from '@pulse/protocol';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { FRESH_DEPTH, WebhookDispatcher } from '../src/webhooks/dispatcher.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from '../src/webhooks/settings.ts';

async function listen(delayMs: number, seen: string[]): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    seen.push(String(req.headers['webhook-id']));
    req.resume();
    setTimeout(() => res.writeHead(204).end(), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

describe('webhooks: order', () => {
  it("keeps a healthy endpoint's deliveries in order when one of its rows belongs to an event another endpoint is still being sent", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-webhook-order-'));
    const file = join(dir, 'pulse.db');
    const store = openSqliteStore({ file });
    const seenX: string[] = [];
    const seenY: string[] = [];
    // One request at a time: up to FRESH_DEPTH wait in memory. X is healthy but a little slow, so
    // FRESH_DEPTH queue up and the rest go to rows; Y is slow (well within the 10 s timeout).
    const x = await listen(15, seenX);
    const y = await listen(3000, seenY);
    const dispatcher = new WebhookDispatcher(store, { ...DEFAULT_WEBHOOK_SETTINGS, allowPrivate: true, concurrencyPerEndpoint: 1 }, { warn: () => {} });
    try {
      await store.migrate();
      const t0 = Date.now();
      const at = (ms: number) => new Date(t0 + ms).toISOString();
      await store.createEnvironment({ id: 'env_o', name: 'o', createdAt: at(0), config: { ...DEFAULT_ENV_CONFIG } }, []);
      // X wants everything; Y only reactions.
      await store.createWebhookEndpoint('env_o', { id: 'wh_x', url: x.url, description: '', events: [], enabled: true, secret: 'whsec_AAAA', createdAt: at(0) });
      await store.createWebhookEndpoint('env_o', { id: 'wh_y', url: y.url, description: '', events: ['reaction.added'], enabled: true, secret: 'whsec_AAAA', createdAt: at(0) });
      // 8 events more than X may have waiting, in the outbox as the write path leaves them.
      const db = new BetterSqlite3(file);
      const ids: string[] = [];
      const ins = db.prepare("insert into webhook_events (id, environment_id, type, payload, dispatched, created_at) values (?, 'env_o', ?, '{}', 0, ?)");
      for (let i = 1; i <= FRESH_DEPTH + 8; i++) {
        const id = `msg_${String(i).padStart(3, '0')}`;
        ids.push(id);
        // The first event beyond X's room goes to X and Y; the others to X only.
        ins.run(id, i === FRESH_DEPTH + 1 ? 'reaction.added' : 'comment.created', at(i - 1000));
      }
      db.close();
      await dispatcher.start();
      const until = Date.now() + 9000;
      while (seenX.length < ids.length && Date.now() < until) await sleep(50);
      // Every one of X's deliveries, in the order of their events.
      expect(seenX).toEqual(ids);
    } finally {
      await dispatcher.close(100);
      for (const s of [x.server, y.server]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
