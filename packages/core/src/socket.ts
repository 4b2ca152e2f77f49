/**
 * A handler property the client assigns. Written as a method's type so that implementations whose
 * event types carry more fields (the `ws` package's CloseEvent, MessageEvent, …) still fit.
 */
type Handler<E> = { bivarianceHack(ev: E): void }['bivarianceHack'];

/** The part of the WebSocket API the client uses: the browser's and the `ws` package's both fit. */
export interface SocketLike {
  readonly readyState: number;
  onopen: Handler<any> | null;
  onmessage: Handler<{ data: any }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<any> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketConstructor = new (url: string) => SocketLike;

/** Finds a WebSocket implementation: the option, the global one, or the `ws` package in Node. */
export async function resolveWebSocket(given?: SocketConstructor): Promise<SocketConstructor> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
  if (global) return global;
  const name = 'ws';
  try {
    const mod = (await import(/* @vite-ignore */ name)) as { default?: SocketConstructor; WebSocket?: SocketConstructor };
    const ctor = mod.WebSocket ?? mod.default;
    if (ctor) return ctor;
  } catch {
    // fall through
  }
  throw new Error('No WebSocket implementation: pass one as the `WebSocket` option (e.g. from the "ws" package).');
}

/** `wss://host`, `https://host` or `host` → the WebSocket URL of the server root. */
export function socketUrl(endpoint: string): string {
  let url = endpoint.trim().replace(/\/+$/, '');
  if (url.startsWith('https://')) url = 'wss://' + url.slice(8);
  else if (url.startsWith('http://')) url = 'ws://' + url.slice(7);
  else if (!/^wss?:\/\//.test(url)) url = 'wss://' + url;
  return url + '/';
}
