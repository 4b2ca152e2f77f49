import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PulseNode } from '../src/index.ts';

/** The README's method table, row by row: `name(args)` and `METHOD /path/{param}`. */
const rows = [...readFileSync(new URL('../README.md', import.meta.url), 'utf8').matchAll(/^\| `(\w+)\(([^)]*)\)` \| `(\w+) (\S+)` \|$/gm)].map(
  ([, name, args, method, path]) => ({ name: name!, args: args!.split(',').map((a) => a.trim()).filter(Boolean), method: method!, path: path! }),
);

describe('@pulse/node README', () => {
  it('names every method the class has', () => {
    const methods = Object.getOwnPropertyNames(PulseNode.prototype).filter((m) => m !== 'constructor' && m !== 'request');
    expect(rows.map((r) => r.name).sort()).toEqual(methods.sort());
  });

  it.each(rows)('$name calls $method $path', async ({ name, args, method, path }) => {
    let seen = '';
    const fetch = (async (url: string, init: RequestInit) => {
      seen = `${init.method} ${new URL(url).pathname}`;
      return new Response('{}', { status: 200 });
    }) as typeof globalThis.fetch;
    const pulse = new PulseNode({ endpoint: 'http://pulse.test', secretKey: 'sk_test', fetch });
    const values = args.map((a) => (a.endsWith('?') ? undefined : a === 'resolved' ? true : /Id$/.test(a) ? `{${a}}` : { userId: 'u' }));
    await (pulse as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(...values);
    expect(seen.replace(/%7B/g, '{').replace(/%7D/g, '}')).toBe(`${method} ${path}`);
  });
});
