import type { Kysely, Transaction } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../schema.ts';
import { BatchWriter, type PipelinedTransactions } from './writer.ts';

/** A transaction that runs nothing: the operations below only record what they do. */
const trx = { executeQuery: () => Promise.resolve({ rows: [] }) } as unknown as Transaction<Database>;
const db = { transaction: () => ({ execute: <T>(work: (t: Transaction<Database>) => Promise<T>) => work(trx) }) } as unknown as Kysely<Database>;

function pipelined(): PipelinedTransactions & { runs: number } {
  const p = {
    runs: 0,
    run<T>(work: (t: Transaction<Database>) => Promise<T>) {
      p.runs++;
      return work(trx);
    },
  };
  return p;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('BatchWriter with pipelined transactions', () => {
  it('runs operations of different rooms side by side, those of one room and those of none one after another', async () => {
    const writer = new BatchWriter(db, { pipelined: pipelined() });
    const log: string[] = [];
    const gates = new Map<string, () => void>();
    const op = (name: string) => async () => {
      log.push(`start ${name}`);
      await new Promise<void>((resolve) => gates.set(name, resolve));
      log.push(`end ${name}`);
      return name;
    };
    const open = async (name: string) => {
      gates.get(name)!();
      await tick();
    };
    const done = Promise.all([
      writer.run(op('a1'), 'env/a'),
      writer.run(op('b1'), 'env/b'),
      writer.run(op('a2'), 'env/a'),
      writer.run(op('none')),
      writer.run(op('b2'), 'env/b'),
    ]);
    await tick();
    await tick();
    expect(log).toEqual(['start a1', 'start b1']);
    await open('b1');
    expect(log).toEqual(['start a1', 'start b1', 'end b1']); // a2 waits for a1, not for b1
    await open('a1');
    expect(log.slice(3)).toEqual(['end a1', 'start a2']);
    await open('a2');
    expect(log.slice(5)).toEqual(['end a2', 'start none']); // waits for every room before it
    await open('none');
    expect(log.slice(7)).toEqual(['end none', 'start b2']);
    await open('b2');
    expect(await done).toEqual(['a1', 'b1', 'a2', 'none', 'b2']);
  });

  it('runs a batch again one operation at a time when one fails, failing only that one', async () => {
    const pipe = pipelined();
    const writer = new BatchWriter(db, { pipelined: pipe });
    const runs: string[] = [];
    const op = (name: string, fail = false) => () => {
      runs.push(name);
      return fail ? Promise.reject(new Error(`${name} failed`)) : Promise.resolve(name);
    };
    const results = await Promise.allSettled([writer.run(op('a1'), 'env/a'), writer.run(op('b1', true), 'env/b'), writer.run(op('a2'), 'env/a')]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a1', 'b1 failed', 'a2']);
    // Pipelined: a1 and b1 side by side, a2 not started once b1 had failed; then, in a second
    // transaction, each alone, in order.
    expect(pipe.runs).toBe(2);
    expect(runs).toEqual(['a1', 'b1', 'a1', 'b1', 'a2']);
  });
});
