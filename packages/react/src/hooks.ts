import type { ClientThread, ConnectionState, PulseClient } from '@pulse/core';
import type { Notification, PresenceMember, PresenceStatus, PulseUser } from '@pulse/protocol/lite';
import { useCallback, useMemo, useSyncExternalStore } from 'react';
import { useStore } from './provider.ts';
import type { PulseStore, Snapshots } from './store.ts';

function useSnapshot<K extends keyof Snapshots>(store: PulseStore, key: K): Snapshots[K] {
  const subscribe = useCallback((listener: () => void) => store.subscribe(key, listener), [store, key]);
  const get = () => store.get(key);
  // The server renders the state as it is before connecting (empty), like the first client render.
  return useSyncExternalStore(subscribe, get, get);
}

/** The `PulseClient` of the nearest `<PulseProvider>`: for everything the hooks do not cover (createThread, reply, react, moveCursor, …). */
export function useClient(): PulseClient {
  return useStore('useClient').client;
}

/** "connected" once authenticated, "connecting" while (re)connecting, else "disconnected". */
export function useConnectionState(): ConnectionState {
  const client = useStore('useConnectionState').client;
  const subscribe = useCallback((listener: () => void) => client.on('connection', listener), [client]);
  return useSyncExternalStore(
    subscribe,
    () => client.connectionState,
    () => 'disconnected',
  );
}

/** The signed-in user, or null until the server has accepted the token. */
export function useSelf(): PulseUser | null {
  return useSnapshot(useStore('useSelf'), 'user');
}

/**
 * The room's threads with their comments, in creation order. A thread that did not change keeps
 * its object identity, so memoized rows re-render only for the threads that changed.
 */
export function useThreads(): ClientThread[] {
  return useSnapshot(useStore('useThreads'), 'threads');
}

/** One thread, or undefined while it does not exist (yet). Re-renders only when this thread changes. */
export function useThread(id: string): ClientThread | undefined {
  const store = useStore('useThread');
  const subscribe = useCallback((listener: () => void) => store.subscribe('threads', listener), [store]);
  const get = () => store.client.state.thread(id);
  return useSyncExternalStore(subscribe, get, get);
}

/** Everyone else in the room (the signed-in user left out), with their status and device. */
export function useOthers(): PresenceMember[] {
  return useSnapshot(useStore('useOthers'), 'others');
}

/**
 * Your own presence entry (null until connected) and a setter for your status, as with useState:
 * `const [me, setStatus] = useMyPresence(); setStatus('idle')`.
 */
export function useMyPresence(): [PresenceMember | null, (status: PresenceStatus) => void] {
  const store = useStore('useMyPresence');
  const presence = useSnapshot(store, 'presence');
  const user = useSnapshot(store, 'user');
  const me = useMemo(() => (user ? (presence.find((m) => m.userId === user.id) ?? null) : null), [presence, user]);
  const setStatus = useCallback((status: PresenceStatus) => store.client.updatePresence(status), [store]);
  return [me, setStatus];
}

export interface NotificationsState {
  /** Newest first, as the server sends them. */
  notifications: Notification[];
  unreadCount: number;
  /** Marks the given notifications read, or all of them. */
  markRead(ids?: string[] | 'all'): void;
}

/** The signed-in user's notifications (mentions and replies) across the environment. */
export function useNotifications(): NotificationsState {
  const store = useStore('useNotifications');
  const notifications = useSnapshot(store, 'notifications');
  return useMemo(
    () => ({
      notifications,
      unreadCount: notifications.filter((n) => !n.read).length,
      markRead: (ids: string[] | 'all' = 'all') => store.client.markNotificationsRead(ids),
    }),
    [notifications, store],
  );
}
