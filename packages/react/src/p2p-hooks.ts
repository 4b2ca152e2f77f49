import type { P2PManager, P2PTransport, PeerState, SharedCounter, SharedList, SharedMap } from '@pulse/core';
import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { useStore } from './provider.ts';

export interface P2PState {
  /** The room's P2P session, or null while it starts (or when it cannot: see `error`). */
  p2p: P2PManager | null;
  /** Why there is no session: e.g. a P2PError `p2p_disabled` while the environment has `allowP2P: false`. */
  error: Error | null;
}

/**
 * The room's P2P session (`await client.p2p`) as React state. It follows the session's life: a
 * new room (`room` prop changed) or `allowP2P` turned back on starts a new one, `allowP2P` turned
 * off shows the error.
 */
export function useP2P(): P2PState {
  const client = useStore('useP2P').client;
  const [state, setState] = useState<P2PState>({ p2p: null, error: null });
  // Bumped when the session ends or the config changes, to ask for a session again.
  const [generation, setGeneration] = useState(0);
  useEffect(() => client.state.on('config', () => setGeneration((g) => g + 1)), [client]);
  useEffect(() => {
    let live = true;
    let off: (() => void) | undefined;
    client.p2p.then(
      (p2p) => {
        if (!live) return;
        setState({ p2p, error: null });
        off = p2p.on('destroyed', () => {
          if (!live) return;
          setState({ p2p: null, error: null });
          setGeneration((g) => g + 1);
        });
      },
      (error: unknown) => live && setState({ p2p: null, error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return () => {
      live = false;
      off?.();
    };
  }, [client, generation]);
  return state;
}

/** `p2p.transport` ('p2p' | 'websocket'), or null without a session. */
export function useP2PTransport(): P2PTransport | null {
  const { p2p } = useP2P();
  const subscribe = useCallback((listener: () => void) => p2p?.on('transport:change', listener) ?? (() => undefined), [p2p]);
  return useSyncExternalStore(subscribe, () => p2p?.transport ?? null, () => null);
}

/** `p2p.peers`: the other users of the session and the connection to each (a new Map on each change). */
export function useP2PPeers(): Map<string, PeerState> {
  const { p2p } = useP2P();
  const peers = useMemo(() => ({ current: new Map<string, PeerState>() }), []);
  const subscribe = useCallback(
    (listener: () => void) => {
      if (!p2p) return () => undefined;
      const changed = () => {
        peers.current = p2p.peers;
        listener();
      };
      peers.current = p2p.peers;
      const offs = (['peer:connect', 'peer:disconnect', 'peer:state'] as const).map((event) => p2p.on(event, changed));
      return () => offs.forEach((off) => off());
    },
    [p2p, peers],
  );
  return useSyncExternalStore(subscribe, () => peers.current, () => peers.current);
}

interface Observable<V> {
  on(event: 'change', handler: () => void): () => void;
  toJSON(): V;
}

export interface SharedValue<O, V> {
  /** The shared object, for changes (`set`, `push`, `increment`, …); null until the session is up. */
  object: O | null;
  /** Its current value as plain JSON; re-renders when it changes. */
  data: V;
  /** Why there is no object: P2P off, too many shared objects in the room (`maxSharedObjects`), … */
  error: Error | null;
}

/** One shared object of the session, with its JSON value cached between changes. */
function useShared<O extends Observable<V>, V>(make: (p2p: P2PManager) => O, empty: V, deps: unknown[]): SharedValue<O, V> {
  const { p2p, error } = useP2P();
  const made = useMemo((): { object: O | null; error: Error | null } => {
    if (!p2p) return { object: null, error };
    try {
      return { object: make(p2p), error: null };
    } catch (err) {
      return { object: null, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }, [p2p, error, ...deps]);
  const cache = useMemo(() => ({ value: undefined as V | undefined }), [made.object]);
  const subscribe = useCallback(
    (listener: () => void) =>
      made.object?.on('change', () => {
        cache.value = undefined;
        listener();
      }) ?? (() => undefined),
    [made.object, cache],
  );
  const get = (): V => (made.object ? (cache.value ??= made.object.toJSON()) : empty);
  const data = useSyncExternalStore(subscribe, get, () => empty);
  return { object: made.object, data, error: made.error };
}

const EMPTY_RECORD = Object.freeze({}) as Record<string, never>;
const EMPTY_LIST = Object.freeze([]) as never[];

/** A shared map of the room (`p2p.sharedMap(name)`): `const { data, object: map } = useSharedMap<Card>('cards')`. */
export function useSharedMap<T = unknown>(name: string): SharedValue<SharedMap<T>, Record<string, T>> {
  return useShared<SharedMap<T>, Record<string, T>>((p2p) => p2p.sharedMap<T>(name), EMPTY_RECORD, [name]);
}

/** A shared list of the room (`p2p.sharedList(name)`): `data` is its items in order. */
export function useSharedList<T = unknown>(name: string): SharedValue<SharedList<T>, T[]> {
  return useShared<SharedList<T>, T[]>((p2p) => p2p.sharedList<T>(name), EMPTY_LIST, [name]);
}

/** A shared counter of the room (`p2p.sharedCounter(name)`): `data` is its value (0 before the session). */
export function useSharedCounter(name: string): SharedValue<SharedCounter, number> {
  return useShared<SharedCounter, number>((p2p) => p2p.sharedCounter(name), 0, [name]);
}
