import { describe, expect, it, vi } from 'vitest';
import { PulseClient } from '../src/index.ts';

// Node 20 without the `ws` package and without the `WebSocket` option.
vi.mock('ws', () => ({}));

describe('PulseClient without a WebSocket implementation', () => {
  it('stops at once with validation_failed instead of retrying forever', async () => {
    vi.stubGlobal('WebSocket', undefined); // Node 22 and later have one
    const client = new PulseClient({ apiKey: 'pk_x', token: 'tok', room: 'r', endpoint: 'https://pulse.example.com' });
    const errors: { code: string; message: string }[] = [];
    client.on('error', (e) => errors.push(e));
    client.connect();
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toMatchObject({ code: 'validation_failed', message: expect.stringContaining('No WebSocket implementation') });
    expect(client.connectionState).toBe('disconnected');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(errors).toHaveLength(1);
    vi.unstubAllGlobals();
  });
});
