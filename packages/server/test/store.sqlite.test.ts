import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { describeStoreConformance } from './store.conformance.ts';

describeStoreConformance('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-store-'));
  return { store: openSqliteStore({ file: join(dir, 'pulse.db') }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
