import * as Y from 'yjs';

/** One shared object of a room as JSON: what `GET /api/v1/rooms/:roomId/shared` lists. */
export interface SharedObjectView {
  type: 'map' | 'list' | 'counter';
  name: string;
  /** A map as an object, a list as an array, a counter as its number. */
  value: unknown;
}

const KINDS = ['map', 'list', 'counter'] as const;

/** The shared maps, lists and counters held in a room's merged Yjs state, sorted by type and name. */
export function sharedObjects(state: Uint8Array): SharedObjectView[] {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  const out: SharedObjectView[] = [];
  for (const key of [...doc.share.keys()]) {
    const colon = key.indexOf(':');
    const type = key.slice(0, colon) as SharedObjectView['type'];
    if (colon < 0 || !KINDS.includes(type)) continue;
    const name = key.slice(colon + 1);
    if (type === 'map') out.push({ type, name, value: jsonOnly(doc.getMap(key).toJSON()) });
    else if (type === 'list') out.push({ type, name, value: jsonOnly(doc.getArray(key).toJSON()) });
    else {
      let sum = 0;
      for (const v of doc.getMap<number>(key).values()) if (typeof v === 'number') sum += v;
      out.push({ type, name, value: sum });
    }
  }
  doc.destroy();
  return out.sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : 1) : KINDS.indexOf(a.type) - KINDS.indexOf(b.type)));
}

/**
 * Yjs holds more than JSON, and a client of its own may store it: a BigInt would fail the
 * response, bytes would show as an object of indexes. Shown as a decimal string and base64.
 */
function jsonOnly(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)),
  );
}
