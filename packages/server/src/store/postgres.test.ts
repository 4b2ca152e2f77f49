import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { hotStatements, PREPARED_SQL } from './kysely/hot-statements.ts';
import { prepareHotStatements } from './postgres.ts';

describe('PostgreSQL hot statements', () => {
  it('are sent as named prepared statements, one name per text; other queries pass through', () => {
    hotStatements('postgres');
    const calls: unknown[][] = [];
    const client = { query: (...args: unknown[]) => calls.push(args) } as unknown as pg.PoolClient;
    prepareHotStatements(client);
    const [first, second] = [...PREPARED_SQL];
    void client.query(first!, [1]);
    void client.query(second!, [2]);
    void client.query(first!, [3]);
    void client.query('select * from threads where id = $1', ['t']);
    void client.query('begin');
    expect(calls[0]![0]).toEqual({ name: 'pulse_0', text: first, values: [1] });
    expect(calls[1]![0]).toEqual({ name: 'pulse_1', text: second, values: [2] });
    expect(calls[2]![0]).toEqual({ name: 'pulse_0', text: first, values: [3] });
    expect(calls[3]!.slice(0, 2)).toEqual(['select * from threads where id = $1', ['t']]);
    expect(calls[4]![0]).toBe('begin');
    // Statements reading `*` are never prepared: a migration adding a column would break their plan.
    expect([...PREPARED_SQL].some((text) => text.includes('*'))).toBe(false);
    expect(PREPARED_SQL.size).toBeGreaterThan(5);
  });
});
