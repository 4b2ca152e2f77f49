import type { PulseErrorEvent, TokenProvider } from '@pulse/core';
import type { PulseUser } from '@pulse/protocol/lite';
import { createElement, useContext, useEffect, useRef, type CSSProperties, type ReactNode } from 'react';
import { ConnectionContext } from './provider.ts';

export interface PulseWidgetProps {
  /** Defaults to the nearest `<PulseProvider>`'s; required outside one. */
  apiKey?: string;
  /** Defaults to the nearest `<PulseProvider>`'s; required outside one. */
  room?: string;
  /** Defaults to the nearest `<PulseProvider>`'s; required outside one. */
  endpoint?: string;
  /** A token or a function returning a fresh one. Defaults to the nearest `<PulseProvider>`'s. */
  token?: string | TokenProvider;
  /** The corner of the floating toolbar. Default `bottom-right`. */
  position?: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left';
  /** `floating` (default) or `inline`. */
  display?: 'floating' | 'inline';
  /** The server accepted the token: the widget is live. */
  onReady?: (detail: { user: PulseUser }) => void;
  /** A request failed or connecting failed (the widget shows it too). */
  onError?: (detail: PulseErrorEvent) => void;
  className?: string;
  style?: CSSProperties;
}

/** The custom element as the widget package defines it, reduced to what this component sets. */
type WidgetElement = HTMLElement & { apiKey?: string; room?: string; endpoint?: string; token?: string; tokenProvider?: TokenProvider };

/**
 * `<pulse-widget>` as a React component: cursors, presence, comments and drawing on the page.
 * Inside `<PulseProvider>` it needs no props (it joins the provider's room, on its own connection).
 * The element's code is loaded in the browser only (`import('@pulse/widget')` after mount), so
 * server-side rendering emits the bare tag and never touches `window`.
 */
export function PulseWidget(props: PulseWidgetProps): ReactNode {
  const inherited = useContext(ConnectionContext);
  const apiKey = props.apiKey ?? inherited?.apiKey;
  const room = props.room ?? inherited?.room;
  const endpoint = props.endpoint ?? inherited?.endpoint;
  const token = props.token ?? inherited?.token;
  const ref = useRef<WidgetElement | null>(null);
  const handlers = useRef({ onReady: props.onReady, onError: props.onError });
  handlers.current = { onReady: props.onReady, onError: props.onError };

  useEffect(() => {
    void import('@pulse/widget').catch((err: unknown) => console.error('[pulse] could not load @pulse/widget:', err));
  }, []);

  // Properties, not attributes: React 18 would stringify them, and a token provider is a function.
  // Lit keeps values set before the element is defined and applies them when it upgrades.
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (apiKey !== undefined) el.apiKey = apiKey;
    if (room !== undefined) el.room = room;
    if (endpoint !== undefined) el.endpoint = endpoint;
    if (typeof token === 'function') el.tokenProvider = token;
    else if (token !== undefined) {
      el.tokenProvider = undefined;
      el.token = token;
    }
  }, [apiKey, room, endpoint, token]);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ready = (e: Event) => handlers.current.onReady?.((e as CustomEvent<{ user: PulseUser }>).detail);
    const error = (e: Event) => handlers.current.onError?.((e as CustomEvent<PulseErrorEvent>).detail);
    el.addEventListener('pulse-ready', ready);
    el.addEventListener('pulse-error', error);
    return () => {
      el.removeEventListener('pulse-ready', ready);
      el.removeEventListener('pulse-error', error);
    };
  }, []);

  const incomplete = !apiKey || !room || !endpoint || !token;
  useEffect(() => {
    if (incomplete) console.warn('[pulse] <PulseWidget> needs apiKey, room, endpoint and token: pass them or render it inside <PulseProvider>.');
  }, [incomplete]);

  return createElement('pulse-widget', {
    ref,
    position: props.position,
    display: props.display,
    className: props.className,
    style: props.style,
  });
}
