import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import type { SocketConstructor } from '../src/socket.ts';

// Checked by `tsc -p .` (part of npm test): the WebSocket option takes these as they are, as
// docs/client.md shows.
describe('SocketConstructor', () => {
  it("accepts the ws package's WebSocket and the browser's", () => {
    const fromWs: SocketConstructor = WebSocket;
    const fromBrowser: SocketConstructor | undefined = (globalThis as { WebSocket?: typeof globalThis.WebSocket }).WebSocket;
    expect(typeof fromWs).toBe('function');
    expect(fromBrowser === undefined || typeof fromBrowser === 'function').toBe(true);
  });
});
