import { PulseClient, type PulseClientOptions, type TokenProvider } from '@pulse/core';
import { createContext, createElement, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { PulseStore } from './store.ts';

export interface PulseProviderProps {
  /** The environment's publishable key (`pk_…`). */
  apiKey: string;
  /**
   * The user's token from your backend (`POST /auth/token`), or a function returning a fresh one,
   * called on every connect and before the token expires. A new string re-authenticates at once;
   * a new function is simply used from the next connect on (an inline arrow does not reconnect).
   */
  token: string | TokenProvider;
  /** The room to join. Changing it moves the same client to the other room: no remount. */
  room: string;
  /** The Pulse server: `https://…` or `wss://…` (`http://` / `ws://` for local servers). */
  endpoint: string;
  /** Device type shown in presence (guessed in browsers when left out). */
  deviceType?: PulseClientOptions['deviceType'];
  /** A WebSocket implementation where there is no global one (Node before 22: the `ws` package). */
  WebSocket?: PulseClientOptions['WebSocket'];
  children?: ReactNode;
}

/** What `<PulseWidget>` inherits from the nearest provider. */
export interface PulseConnectionProps {
  apiKey: string;
  token: string | TokenProvider;
  room: string;
  endpoint: string;
}

export const StoreContext = createContext<PulseStore | null>(null);
export const ConnectionContext = createContext<PulseConnectionProps | null>(null);

/**
 * Connects to a Pulse room for everything inside it. One `PulseClient` per `apiKey` + `endpoint`:
 * a new `room` or token is applied to the same client, so state subscriptions and components
 * stay mounted. The client connects in an effect (never during server-side rendering) and
 * disconnects on unmount.
 */
export function PulseProvider(props: PulseProviderProps): ReactNode {
  const { apiKey, endpoint, room, token, deviceType, WebSocket, children } = props;

  // A function token is called through this stable wrapper, so a new function identity on each
  // render (an inline arrow) does not reconnect; the latest function is the one called.
  const latestToken = useRef(token);
  latestToken.current = token;
  const [provider] = useState<TokenProvider>(() => () => {
    const current = latestToken.current;
    return typeof current === 'function' ? current() : current;
  });
  const tokenOption = typeof token === 'function' ? provider : token;

  const store = useMemo(
    () => new PulseStore(new PulseClient({ apiKey, endpoint, room, token: tokenOption, ...(deviceType ? { deviceType } : {}), ...(WebSocket ? { WebSocket } : {}) })),
    // A new client only for another server or environment; room and token follow below.
    [apiKey, endpoint],
  );
  const client = store.client;

  useEffect(() => {
    client.connect();
    return () => client.disconnect();
  }, [client]);

  useEffect(() => client.setRoom(room), [client, room]);

  const applied = useRef<{ client: PulseClient; token: string | TokenProvider } | null>(null);
  useEffect(() => {
    const last = applied.current;
    applied.current = { client, token: tokenOption };
    // The client was created with this token: nothing to apply on its first run.
    if (!last || last.client !== client || last.token === tokenOption) return;
    client.setToken(tokenOption);
  }, [client, tokenOption]);

  const connection = useMemo(() => ({ apiKey, endpoint, room, token }), [apiKey, endpoint, room, token]);
  return createElement(
    StoreContext.Provider,
    { value: store },
    createElement(ConnectionContext.Provider, { value: connection }, children),
  );
}

/** The nearest provider's store; throws a clear error outside one. */
export function useStore(hook: string): PulseStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error(`${hook}() must be used inside <PulseProvider>.`);
  return store;
}
