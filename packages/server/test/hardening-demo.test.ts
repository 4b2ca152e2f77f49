import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../src/options.ts';
import { DEMO_ENVIRONMENT_ID } from '../src/static/demo.ts';
import { RawSocket } from './helpers/clients.ts';
import { Cleanup, cleanEnv } from './helpers/hardening.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Issue 11: POST /demo/api/token minted a token for any userId, with no auth, for the environment
 * named "Development" or else the first one. Renamed to "Production", that environment's users
 * could be impersonated by anyone, and the demo's sign-in overwrote their stored names.
 */

const demoToken = (t: { url: string }, userId: string, name: string) =>
  fetch(`${t.url}/demo/api/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId, name }) });

async function authWith(t: TestServer, apiKey: string, token: string) {
  const socket = new RawSocket(t.wsUrl);
  try {
    await socket.opened;
    socket.send({ type: 'auth', apiKey, token, room: 'demo-room' });
    return await Promise.race([socket.next('auth:ok'), socket.next('auth:error')]);
  } finally {
    socket.close();
  }
}

describe('the demo is off unless asked for', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite'); // options from an environment without PULSE_DEMO
  });
  afterAll(() => t?.close());

  it('has no token route, no page, and no demo environment', async () => {
    expect(t.options.demo).toBe(false);
    const res = await demoToken(t, 'alice', 'Mallory');
    expect(res.status).toBe(404);
    expect((await fetch(`${t.url}/demo/`)).status).toBe(404);
    expect(await t.server.ctx.store.getEnvironment(DEMO_ENVIRONMENT_ID)).toBeUndefined();
  });

  it('reads PULSE_DEMO strictly', () => {
    expect(optionsFromEnv({}).demo).toBe(false);
    expect(optionsFromEnv({ PULSE_DEMO: 'on' }).demo).toBe(true);
    expect(optionsFromEnv({ PULSE_DEMO: 'off' }).demo).toBe(false);
    expect(() => optionsFromEnv({ PULSE_DEMO: 'yes' })).toThrow(/PULSE_DEMO must be "on" or "off"/);
  });
});

describe('with the demo on, it signs people in to its own environment only', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer('sqlite', { demo: true });
  });
  afterAll(() => t?.close());

  it('cannot impersonate a user of a renamed "Production" environment, nor overwrite her name', async () => {
    const { ctx } = t.server;
    // The scenario from the review: Development renamed to Production, holding a real user.
    await ctx.environments.rename(t.envId, 'Production');
    expect((await t.api('PUT', '/api/v1/users/alice', { name: 'Alice Real' })).status).toBe(200);
    // And someone renames another environment to "Demo": that must not make it the demo's.
    const impostor = await ctx.environments.create('Other');
    await ctx.environments.rename(impostor.id, 'Demo');

    const minted = await demoToken(t, 'alice', 'Mallory');
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };

    // The token is worthless against Production (and against the impostor)…
    const onProduction = await authWith(t, t.publishableKey, token);
    expect(onProduction.type).toBe('auth:error');
    const onImpostor = await authWith(t, impostor.publishableKey, token);
    expect(onImpostor.type).toBe('auth:error');
    // …and works only in the demo's own environment.
    const config = (await (await fetch(`${t.url}/demo/api/config`)).json()) as { publishableKey: string; environment: string };
    const demoKeys = await ctx.store.listKeys(DEMO_ENVIRONMENT_ID);
    expect(demoKeys.find((k) => k.kind === 'publishable' && k.status === 'active')!.value).toBe(config.publishableKey);
    expect(config.publishableKey).not.toBe(impostor.publishableKey);
    expect(config.environment).toBe('Demo');
    const onDemo = await authWith(t, config.publishableKey, token);
    expect(onDemo.type).toBe('auth:ok');

    // Production's Alice is untouched; the demo's "alice" is a different user in the demo environment.
    expect((await ctx.store.getUser(t.envId, 'alice'))!.name).toBe('Alice Real');
    expect((await ctx.store.getUser(DEMO_ENVIRONMENT_ID, 'alice'))!.name).toBe('Mallory');
    expect(await ctx.store.getUser(impostor.id, 'alice')).toBeUndefined();
  });

  it('is found by its id, not its name, and made once across restarts', async () => {
    const { ctx } = t.server;
    await ctx.environments.rename(DEMO_ENVIRONMENT_ID, 'Renamed demo');
    await t.restart();
    const envs = await t.server.ctx.store.listEnvironments();
    expect(envs.filter((e) => e.id === DEMO_ENVIRONMENT_ID)).toHaveLength(1);
    expect(envs.find((e) => e.id === DEMO_ENVIRONMENT_ID)!.name).toBe('Renamed demo');
    const config = (await (await fetch(`${t.url}/demo/api/config`)).json()) as { environment: string };
    expect(config.environment).toBe('Renamed demo');
    expect((await demoToken(t, 'bob', 'Bob')).status).toBe(200);
    expect(await t.server.ctx.store.getUser(t.envId, 'bob')).toBeUndefined();
  });

  it("gives the demo page's four people four different colours", async () => {
    const config = (await (await fetch(`${t.url}/demo/api/config`)).json()) as { publishableKey: string };
    const colors = new Set<string>();
    for (const [id, name] of [['alice', 'Alice Chen'], ['bob', 'Bob Smith'], ['carol', 'Carol Diaz'], ['dave', 'Dave Kim']] as const) {
      const { token } = (await (await demoToken(t, id, name)).json()) as { token: string };
      const ok = await authWith(t, config.publishableKey, token);
      colors.add(ok.user.color);
    }
    expect(colors.size).toBe(4);
  });
});

describe('pulse start and the demo', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('`pulse start` (no flag, no PULSE_DEMO) serves no demo and says so', async () => {
    const server = await cleanup.start(cleanEnv({ PULSE_DATA_DIR: cleanup.tempDir() }));
    expect(server.stdout()).toMatch(/Demo\s+off \(PULSE_DEMO=on or pulse start --demo/);
    expect((await demoToken(server, 'alice', 'Mallory')).status).toBe(404);
    await server.stop();
  });

  it('`pulse start --demo` (what npm start runs) turns it on and the banner says what that means', async () => {
    const server = await cleanup.start(cleanEnv({ PULSE_DATA_DIR: cleanup.tempDir() }), ['--demo']);
    expect(server.stdout()).toMatch(/Demo\s+http:\/\/\S+\/demo\s+ON: anyone who can reach this address can sign in/);
    expect(server.stdout()).toContain(`"Demo" environment (${DEMO_ENVIRONMENT_ID}) as any user`);
    expect((await demoToken(server, 'alice', 'Alice')).status).toBe(200);
    await server.stop();
  });

  it('PULSE_DEMO=off wins over --demo', async () => {
    const server = await cleanup.start(cleanEnv({ PULSE_DATA_DIR: cleanup.tempDir(), PULSE_DEMO: 'off' }), ['--demo']);
    expect(server.stdout()).toMatch(/Demo\s+off/);
    expect((await demoToken(server, 'alice', 'Mallory')).status).toBe(404);
    await server.stop();
  });
});
