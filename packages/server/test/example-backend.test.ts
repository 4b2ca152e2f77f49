import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, stopProcess } from './helpers/hardening.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/** examples/demo/backend.mjs, the token route people copy, run as they would run it. */
const BACKEND = fileURLToPath(new URL('../../../examples/demo/backend.mjs', import.meta.url));
const PAGE = 'http://localhost:5173';

function runBackend(env: NodeJS.ProcessEnv): { child: ChildProcess; ready: Promise<string>; exited: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, [BACKEND], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      const m = /Token route: (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]!.replace('localhost', '127.0.0.1'));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`backend exited with ${code}: ${output}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, exited, output: () => output };
}

describe('examples/demo/backend.mjs', () => {
  let t: TestServer;
  let backend: ReturnType<typeof runBackend>;
  let route: string;
  beforeAll(async () => {
    t = await startTestServer();
    backend = runBackend({ PORT: '0', PULSE_URL: t.url, PULSE_SECRET_KEY: t.secretKey, PAGE_ORIGIN: PAGE });
    route = await backend.ready;
  });
  afterAll(async () => {
    if (backend) await stopProcess(backend.child);
    await t?.close();
  });

  it('mints a token for the signed-in user, with their name, and refuses anyone not signed in', async () => {
    const bob = await fetch(route, { headers: { cookie: 'theme=dark; session=s-bob' } });
    expect(bob.status).toBe(200);
    const body = await bob.json();
    expect(body.user).toMatchObject({ name: 'Bob Smith' });
    const verified = await t.server.ctx.tokens.verify(t.publishableKey, body.token);
    expect(verified.user).toMatchObject({ externalId: 'bob', name: 'Bob Smith' });
    expect((await fetch(route)).status).toBe(401);
    expect((await fetch(route, { headers: { cookie: 'session=forged' } })).status).toBe(401);
  });

  it('lets the page origin call it with cookies (preflight included), and no other origin', async () => {
    const ok = await fetch(route, { headers: { origin: PAGE, cookie: 'session=s-alice' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    const preflight = await fetch(route, { method: 'OPTIONS', headers: { origin: PAGE, 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE);
    const other = await fetch(route, { headers: { origin: 'https://evil.example', cookie: 'session=s-alice' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('listens on PORT, and stops at once with a hint when the secret key is missing', async () => {
    expect(new URL(route).port).not.toBe('3000'); // PORT=0 was honoured
    const missing = runBackend({ PORT: '0', PULSE_URL: t.url });
    expect(await missing.exited).toBe(1);
    expect(missing.output()).toContain('Set PULSE_SECRET_KEY');
  });
});
