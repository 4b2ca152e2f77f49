import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { cleanEnv } from '../packages/server/test/helpers/hardening.ts';
import { firstRunKeys, killHard } from '../packages/server/test/helpers/process.ts';
import { browserAvailable, launchBrowser, watchConsole, type BrowserSession } from './helpers/browser.ts';

/**
 * Pulse as a new user gets it: every package packed with `npm pack`, installed from the tarballs
 * into a temp directory outside the repository (no access to its node_modules; dependencies from
 * the npm registry, as any user gets them), then used the documented ways. One install serves all
 * four checks. It takes minutes (better-sqlite3 is compiled where no prebuilt binary can be
 * downloaded), so it runs on CI, and locally with PULSE_TEST_PACKAGES=1.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const onCi = process.env.CI === 'true' || process.env.CI === '1';
const enabled = onCi || process.env.PULSE_TEST_PACKAGES === '1';
if (!enabled) console.warn('\n[pulse tests] SKIPPING the outside-the-repo packaging suite (runs on CI; PULSE_TEST_PACKAGES=1 runs it here)\n');

const PACKAGES = ['@pulse/protocol', '@pulse/core', '@gamention/pulse-core', '@pulse/node', '@pulse/widget', '@pulse/react', '@pulse/server'];

/**
 * The bare imports of the declaration files a consumer's compiler reaches from an installed
 * package's `types` entries that the package does not declare (`pkg: file → specifier`). Hoisted
 * installs hide them (a dependency's dependency sits at the top); strict ones do not.
 */
function undeclaredTypeImports(dir: string): string[] {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  const declared = new Set([pkg.name as string, ...['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((f) => Object.keys((pkg[f] as object | undefined) ?? {}))]);
  const entries: string[] = [];
  const collect = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) (k === 'types' && typeof x === 'string' ? entries.push(x) : collect(x));
  };
  collect(pkg.exports);
  if (typeof pkg.types === 'string') entries.push(pkg.types);
  const seen = new Set<string>();
  const queue = entries.map((e) => join(dir, e));
  const found: string[] = [];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const [, spec] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+|reference types=)["']([^"']+)["']/gm)) {
      if (spec!.startsWith('.')) {
        const target = join(dirname(file), spec!.replace(/(\.d)?\.[mc]?[jt]s$/, ''));
        queue.push(existsSync(`${target}.d.ts`) ? `${target}.d.ts` : join(target, 'index.d.ts'));
        continue;
      }
      const name = spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!;
      if (spec!.startsWith('node:') || builtinModules.includes(name) || declared.has(name)) continue;
      found.push(`${pkg.name as string}: ${file.slice(dir.length + 1)} → ${spec}`);
    }
  }
  return found;
}
const run = promisify(execFile);

/** npm and node with a clean environment: HOME keeps the user's npm config and cache (as for any user). */
const toolEnv = (extra: NodeJS.ProcessEnv = {}) => ({ ...cleanEnv(extra), PULSE_LOG_LEVEL: 'warn', npm_config_update_notifier: 'false' });

async function sh(cmd: string, args: string[], cwd: string, timeoutMs: number, env = toolEnv()): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const CONSUMER_PACKAGE = (tarballs: Record<string, string>) => ({
  name: 'pulse-consumer',
  private: true,
  type: 'module',
  dependencies: {
    ...Object.fromEntries(PACKAGES.map((name) => [name, `file:${tarballs[name]}`])),
    // React 18 here (the repository itself builds and tests with React 19).
    react: '^18.3.1',
    'react-dom': '^18.3.1',
  },
  devDependencies: {
    vite: '^7.3.8',
    typescript: '5.9.3',
    '@types/node': '^20.19.0',
    '@types/react': '^18.3.0',
    '@types/react-dom': '^18.3.0',
  },
});

/** (2) A backend in plain JavaScript: no TypeScript tooling, only the published @pulse/node. */
const BACKEND = `import { PulseError, PulseNode } from '@pulse/node';

const pulse = new PulseNode({ endpoint: process.env.PULSE_URL, secretKey: process.env.PULSE_SECRET_KEY });
const { token } = await pulse.mintToken({ userId: 'ada', name: 'Ada Lovelace' });
await pulse.upsertUser('ada', { name: 'Ada Lovelace' }); // REST writes are by a known user
const { thread } = await pulse.createThread('outside-room', { userId: 'ada', body: 'Hello from a plain .mjs backend' });
const { comment } = await pulse.createComment(thread.id, { userId: 'ada', body: 'And a reply, over REST' });
const missing = await pulse.getThread('no-such-thread').catch((err) => err);
// The client under the name the hosted product's docs import it from.
const { PulseClient: ReferenceClient } = await import('@gamention/pulse-core');
const { PulseClient } = await import('@pulse/core');
console.log(JSON.stringify({ token, threadId: thread.id, commentId: comment.id, missing: missing instanceof PulseError && missing.code, referenceClient: ReferenceClient === PulseClient }));
`;

/** (3) A Vite + React app over @pulse/react; settings come from the query string. */
const WEB_INDEX = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pulse React app</title></head>
<body><div id="root"></div><script type="module" src="/main.tsx"></script></body></html>
`;
const WEB_MAIN = `import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { PulseProvider, PulseWidget, useConnectionState, useOthers, useThreads } from '@pulse/react';

const q = new URLSearchParams(location.search);

function Room() {
  const state = useConnectionState();
  const others = useOthers();
  const threads = useThreads();
  return (
    <main>
      <p id="state">{state}</p>
      <p id="others">{others.map((o) => o.user.name).join(', ')}</p>
      <ul id="threads">{threads.map((t) => <li key={t.id}>{t.comments[0]?.body}</li>)}</ul>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <PulseProvider apiKey={q.get('apiKey')!} endpoint={q.get('endpoint')!} room={q.get('room')!} token={() => q.get('token')!}>
      <Room />
      <PulseWidget position="bottom-left" />
    </PulseProvider>
  </StrictMode>,
);
`;
const VITE_CONFIG = `import { defineConfig } from 'vite';
export default defineConfig({ root: 'web', esbuild: { jsx: 'automatic' }, build: { outDir: 'dist', emptyOutDir: true } });
`;

/** (4) A consumer of every package's published types, checked with tsc --noEmit. */
const CONSUMER_TS = `import { DEFAULT_ENV_CONFIG, PulseError, relativeTime, type Thread, type ServerMessage, type AdminEnvironment } from '@pulse/protocol';
import type { EnvConfig } from '@pulse/protocol/lite';
import { PulseClient, type ConnectionState, type ClientThread } from '@pulse/core';
import { PulseClient as ReferenceClient } from '@gamention/pulse-core';
import { PulseNode } from '@pulse/node';
import type { PulseWidget as PulseWidgetElement } from '@pulse/widget';
import { PulseProvider, PulseWidget, useThreads, useThread, useOthers, useMyPresence, useNotifications, useConnectionState, useClient, type PulseProviderProps } from '@pulse/react';
import { startPulseServer, optionsFromEnv, VERSION, type PulseServer } from '@pulse/server';

const config: EnvConfig = DEFAULT_ENV_CONFIG;
const client = new PulseClient({ apiKey: 'pk_x', token: async () => 'token', room: 'r', endpoint: 'https://pulse.example.com' });
const referenceClient: PulseClient = new ReferenceClient({ apiKey: 'pk_x', token: 't', room: 'r', endpoint: 'wss://pulse.example.com' });
const state: ConnectionState = client.connectionState;
const threads: ClientThread[] = client.state.threads;
const first: Thread | undefined = threads[0];
const node = new PulseNode({ endpoint: 'https://pulse.example.com', secretKey: 'sk_x' });
async function backend(): Promise<string> {
  const { token, expiresAt } = await node.mintToken({ userId: 'u1', name: 'Ada' });
  const { thread } = await node.createThread('room', { userId: 'u1', body: 'hi' });
  return token + expiresAt + thread.id + relativeTime(thread.createdAt);
}
async function server(): Promise<PulseServer> {
  return startPulseServer({ ...optionsFromEnv({}), port: 0 });
}
const props: PulseProviderProps = { apiKey: 'pk_x', token: 't', room: 'r', endpoint: 'http://x' };
const hooks = [useThreads, useThread, useOthers, useMyPresence, useNotifications, useConnectionState, useClient] as const;
const element: PulseWidgetElement | null = null;
// The widget's events are typed once '@pulse/widget' is imported.
function onEvents(widget: HTMLElement): void {
  widget.addEventListener('pulse-ready', (e) => console.log(e.detail.user.name));
  widget.addEventListener('pulse-error', (e) => console.log(e.detail.code, e.detail.requestType));
}
const message: ServerMessage | null = null;
const env: AdminEnvironment | null = null;
const error = new PulseError('not_found');
export { config, state, first, referenceClient, backend, server, props, hooks, element, onEvents, message, env, error, PulseProvider, PulseWidget, VERSION };
`;
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    jsx: 'react-jsx',
    strict: true,
    noEmit: true,
    lib: ['ES2023', 'DOM', 'DOM.Iterable'],
    types: ['node'],
    // Every declaration file is checked, ours and what they import (a type package missing from
    // our dependencies fails here, as it would in a strict consumer).
    skipLibCheck: false,
  },
  files: ['consumer.ts', 'web/main.tsx'],
};

describe.skipIf(!enabled)('Pulse installed from its npm tarballs, outside the repository', () => {
  let dir: string;
  let app: string;
  let pulse: ChildProcess | undefined;
  let output = '';
  let url: string;
  let keys: { envId: string; publishableKey: string; secretKey: string };
  let web: Server | undefined;
  let browser: BrowserSession | undefined;

  const api = async (method: string, path: string, body?: unknown, key = keys.secretKey) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pulse-outside-'));
    app = join(dir, 'app');
    mkdirSync(join(app, 'web'), { recursive: true });
    // On CI, `npm ci` has just built every package (the root `prepare`); here, build what is checked out.
    if (!onCi) await sh('npm', ['run', 'build'], ROOT, 5 * 60_000, toolEnv());
    const tarballDir = join(dir, 'tarballs');
    mkdirSync(tarballDir);
    await sh('npm', ['pack', '--silent', '--pack-destination', tarballDir, ...PACKAGES.flatMap((p) => ['-w', p])], ROOT, 120_000);
    const files = readdirSync(tarballDir);
    const tarballs = Object.fromEntries(
      PACKAGES.map((name) => {
        const file = files.find((f) => f.startsWith(name.replace('@', '').replace('/', '-') + '-'));
        if (!file) throw new Error(`npm pack made no tarball for ${name}: ${files.join(', ')}`);
        return [name, join(tarballDir, file)];
      }),
    );
    writeFileSync(join(app, 'package.json'), JSON.stringify(CONSUMER_PACKAGE(tarballs), null, 2));
    writeFileSync(join(app, 'backend.mjs'), BACKEND);
    writeFileSync(join(app, 'vite.config.mjs'), VITE_CONFIG);
    writeFileSync(join(app, 'web', 'index.html'), WEB_INDEX);
    writeFileSync(join(app, 'web', 'main.tsx'), WEB_MAIN);
    writeFileSync(join(app, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    // Packages already in npm's cache are taken from there; native modules build as on any machine.
    await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app, 10 * 60_000);

    // (1) `npx pulse start` in the directory it was installed in (empty but for the install).
    pulse = spawn('npx', ['--no', 'pulse', 'start', '--init'], {
      cwd: app,
      env: toolEnv({ PULSE_PORT: '0', PULSE_HOST: '127.0.0.1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // npx runs pulse as its child: the whole group is killed at the end
    });
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pulse start did not print its banner:\n${output}`)), 60_000);
      const onData = (d: Buffer) => {
        output += String(d);
        const m = /Pulse is running at (http:\/\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      pulse!.stdout!.on('data', onData);
      pulse!.stderr!.on('data', onData);
      pulse!.on('exit', (code) => reject(new Error(`pulse start exited with ${code}:\n${output}`)));
    });
    // The first start's keys: the secret key went to a 0600 file (stdout is not a terminal).
    await new Promise((r) => setTimeout(r, 300));
    keys = firstRunKeys(output, join(app, 'data'));
  }, 15 * 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (web ? web.close(resolve) : resolve(undefined)));
    if (pulse?.pid !== undefined && pulse.exitCode === null) {
      try {
        process.kill(-pulse.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await killHard(pulse);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('(1) npx pulse start: banner, start page, panel, widget and client bundles, REST and a WebSocket authentication', async () => {
    expect(output).toContain('Admin panel');
    const panel = await fetch(`${url}/panel`);
    expect(panel.status).toBe(200);
    const html = await panel.text();
    const asset = /src="(\/panel\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset, html).toBeTruthy();
    expect((await fetch(url + asset!)).status).toBe(200);

    const widget = await fetch(`${url}/sdk/pulse-widget.js`);
    expect(widget.status).toBe(200);
    expect(widget.headers.get('content-type')).toContain('javascript');
    expect(await widget.text()).toContain('pulse-widget');
    expect((await fetch(`${url}/sdk/pulse-client.js`)).status).toBe(200);
    const home = await fetch(`${url}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('href="/panel"');

    const minted = await api('POST', '/auth/token', { userId: 'grace', name: 'Grace Hopper' });
    expect(minted.status).toBe(200);
    const ws = new WebSocket(url.replace(/^http/, 'ws'));
    try {
      const first = await new Promise<{ type: string }>((resolve, reject) => {
        ws.once('error', reject);
        ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', apiKey: keys.publishableKey, token: minted.body.token, room: 'outside-room' })));
        ws.once('message', (data: Buffer) => resolve(JSON.parse(String(data)) as { type: string }));
      });
      expect(first.type).toBe('auth:ok');
    } finally {
      ws.close();
    }
  }, 60_000);

  it('(2) a plain .mjs backend mints a token and comments with @pulse/node', async () => {
    const out = await sh('node', ['backend.mjs'], app, 30_000, toolEnv({ PULSE_URL: url, PULSE_SECRET_KEY: keys.secretKey }));
    const result = JSON.parse(out.trim().split('\n').pop()!) as { token: string; threadId: string; commentId: string; missing: string; referenceClient: boolean };
    expect(result.token.split('.')).toHaveLength(3);
    expect(result.missing).toBe('thread_not_found');
    expect(result.referenceClient).toBe(true);
    const thread = await api('GET', `/api/v1/threads/${result.threadId}`);
    expect(thread.status).toBe(200);
    expect(thread.body.comments.map((c: { body: string }) => c.body)).toEqual(['Hello from a plain .mjs backend', 'And a reply, over REST']);
  }, 60_000);

  it.skipIf(!browserAvailable)('(3) a Vite + React app on @pulse/react shows presence and a thread made over REST', async () => {
    await sh('npx', ['--no', 'vite', 'build', '--logLevel', 'warn'], app, 180_000);
    const dist = join(app, 'web', 'dist');
    web = createServer((req, res) => {
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === '/favicon.ico') return void res.writeHead(204).end(); // the app has none
      const file = join(dist, path === '/' ? 'index.html' : path);
      let body: Buffer;
      try {
        body = readFileSync(file);
      } catch {
        res.writeHead(404).end();
        return;
      }
      const type = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }[extname(file)] ?? 'application/octet-stream';
      res.writeHead(200, { 'content-type': type }).end(body);
    });
    await new Promise<void>((resolve) => web!.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    const room = 'react-outside';
    expect((await api('PUT', '/api/v1/users/rest-bot', { name: 'REST bot' })).status).toBeLessThan(300);
    expect((await api('POST', `/api/v1/rooms/${room}/threads`, { userId: 'rest-bot', body: 'Made over REST' })).status).toBe(201);

    browser = await launchBrowser();
    const open = async (userId: string, name: string) => {
      const { body } = await api('POST', '/auth/token', { userId, name });
      const page = await (await browser!.context()).newPage();
      const errors = watchConsole(page);
      await page.goto(`${origin}/?${new URLSearchParams({ apiKey: keys.publishableKey, endpoint: url, room, token: body.token })}`);
      return { page, errors };
    };
    const alice = await open('alice', 'Alice Chen');
    const bob = await open('bob', 'Bob Smith');
    await expect.poll(() => alice.page.locator('#state').textContent(), { timeout: 15_000 }).toBe('connected');
    await expect.poll(() => alice.page.locator('#threads').textContent(), { timeout: 15_000 }).toContain('Made over REST');
    await expect.poll(() => alice.page.locator('#others').textContent(), { timeout: 15_000 }).toBe('Bob Smith');
    await expect.poll(() => bob.page.locator('#others').textContent(), { timeout: 15_000 }).toBe('Alice Chen');
    await expect.poll(() => alice.page.locator('pulse-widget .toolbar').count(), { timeout: 15_000 }).toBe(1);
    await browser.screenshot(alice.page, 'outside-repo-react');
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  }, 240_000);

  it('(4) tsc --noEmit of a consumer against the published types', async () => {
    await sh('npx', ['--no', '--', 'tsc', '-p', 'tsconfig.json'], app, 180_000);
  }, 240_000);

  it('(5) the published types import only packages their package declares (strict installs: pnpm, npm --install-strategy=linked)', () => {
    const undeclared = PACKAGES.flatMap((name) => undeclaredTypeImports(join(app, 'node_modules', name)));
    expect(undeclared).toEqual([]);
  });
});
