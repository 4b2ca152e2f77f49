/**
 * Shared values travel as Yjs content, which holds more than JSON: a Date, NaN, a Map or bytes
 * would reach other peers (and the server's copy) changed, a BigInt would break the REST view and
 * a cycle the document's encoding. So values must be JSON data, checked before they touch the
 * document. `undefined` object properties are allowed (TypeScript's optional fields).
 */
export function assertJsonValue(value: unknown, what: string): void {
  const path: string[] = [];
  const onPath = new Set<object>();
  const fail = (problem: string): never => {
    throw new TypeError(`${what}: ${path.length ? `the value at ${path.join('')}` : 'the value'} ${problem}; values must be JSON data (objects, arrays, strings, finite numbers, booleans, null)`);
  };
  const check = (v: unknown): void => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) fail(`is ${v}`);
        return;
      case 'object':
        break;
      default:
        fail(`is a ${typeof v}`);
    }
    if (v === null) return;
    const obj = v as object;
    if (onPath.has(obj)) fail('contains itself (a cycle)');
    if (path.length > 64) fail('is nested more than 64 levels deep');
    const proto = Object.getPrototypeOf(obj) as object | null;
    const isArray = Array.isArray(obj);
    if (!isArray && proto !== Object.prototype && proto !== null) {
      fail(`is a ${(obj.constructor as { name?: string } | undefined)?.name || 'non-plain object'}${obj instanceof Date ? ' (store date.toISOString())' : ''}`);
    }
    onPath.add(obj);
    if (isArray) {
      const array = obj as unknown[];
      for (let i = 0; i < array.length; i++) {
        path.push(`[${i}]`);
        // A hole ([1, , 3]) too: forEach would skip it, and peers would read undefined.
        if (array[i] === undefined) fail('is undefined');
        check(array[i]);
        path.pop();
      }
    } else {
      for (const [key, item] of Object.entries(obj)) {
        if (item === undefined) continue;
        path.push(`.${key}`);
        check(item);
        path.pop();
      }
    }
    onPath.delete(obj);
  };
  check(value);
}
