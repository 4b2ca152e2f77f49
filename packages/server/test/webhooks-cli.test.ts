import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optionsFromEnv } from '../src/options.ts';
import { waitFor } from './helpers/clients.ts';
import { Cleanup, cleanEnv, runCliWithInput } from './helpers/hardening.ts';
import { runCli } from './helpers/process.ts';
import { WebhookReceiver } from './helpers/receivers.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

describe('pulse webhook (CLI)', () => {
  let t: TestServer;
  let receiver: WebhookReceiver;
  const allow = { PULSE_WEBHOOKS_ALLOW_PRIVATE: '1' };
  const cli = (...args: string[]) => runCli(args, { ...t.childEnv, ...allow });

  beforeAll(async () => {
    // Retries at most 400 ms apart: however long the CLI calls take on a busy machine (the backoff
    // grows meanwhile), the retry after the receiver learns the new secret comes within the wait.
    t = await startTestServer('sqlite', { webhooks: optionsFromEnv({ ...allow, PULSE_WEBHOOKS_RETRY_BASE_MS: '100', PULSE_WEBHOOKS_RETRY_MAX_MS: '400' }).webhooks! });
    receiver = await new WebhookReceiver().start();
  });
  afterAll(async () => {
    await receiver?.stop();
    await t?.close();
  });

  it('adds, lists, tests, rotates and removes an endpoint; the running server delivers at once', async () => {
    const added = await cli('webhook', 'add', t.envId, receiver.url, '--events', 'comment.created,thread.created', '--json');
    expect(added.code, added.stderr).toBe(0);
    expect(Object.keys(added.json).sort()).toEqual(['events', 'id', 'secret', 'url']);
    expect(added.json).toMatchObject({ url: receiver.url, events: ['comment.created', 'thread.created'], id: expect.stringMatching(/^wh_/) });
    expect(added.json.secret).toMatch(/^whsec_/);
    receiver.secret = added.json.secret;

    const list = await cli('webhook', 'list', t.envId, '--json');
    expect(list.json.webhooks).toHaveLength(1);
    expect(JSON.stringify(list.json)).not.toContain(added.json.secret);

    // The server learns about the endpoint through the control log: the next comment is delivered.
    await t.api('PUT', '/api/v1/users/ann', { name: 'Ann' });
    await waitFor(async () => {
      await t.api('POST', `/api/v1/rooms/cli-room/threads`, { userId: 'ann', body: 'hello' });
      return receiver.ofType('thread.created').length > 0;
    }, 5000, 'a delivery after the CLI added the endpoint');

    const test = await cli('webhook', 'test', t.envId, added.json.id);
    expect(test.code, test.stderr + test.stdout).toBe(0);
    expect(test.stdout).toMatch(/Delivered: HTTP 204/);
    expect(receiver.ofType('webhook.test')).toHaveLength(1);
    // An example of a subscribed type, to try the receiver's handler.
    const examples = receiver.ofType('comment.created').length;
    const example = await cli('webhook', 'test', t.envId, added.json.id, '--type', 'comment.created');
    expect(example.code, example.stderr + example.stdout).toBe(0);
    expect(example.stderr).toContain('queued comment.created event');
    expect(receiver.ofType('comment.created').slice(examples)[0]!.payload.data.roomId).toBe('pulse-example-room');
    const unknownType = await cli('webhook', 'test', t.envId, added.json.id, '--type', 'comment.nope');
    expect(unknownType.code).toBe(2);
    // The reason names what is allowed.
    expect(unknownType.stderr).toMatch(/type: Invalid option: expected one of "webhook\.test"\|"thread\.created"/);

    const rotated = await cli('webhook', 'rotate-secret', t.envId, added.json.id, '--json');
    expect(rotated.code).toBe(0);
    expect(rotated.json.secret).not.toBe(added.json.secret);
    // The previous secret signs beside the new one for a while: a receiver not yet updated still verifies.
    expect((await cli('webhook', 'list', t.envId)).stdout).toMatch(/the previous secret also signs until \d{4}-/);
    const overlap = await cli('webhook', 'test', t.envId, added.json.id);
    expect(overlap.code, overlap.stderr + overlap.stdout).toBe(0);

    // --expire-previous: signed with the new secret only, the old one no longer verifies.
    const expired = await cli('webhook', 'rotate-secret', t.envId, added.json.id, '--expire-previous');
    expect(expired.code, expired.stderr).toBe(0);
    expect(expired.stdout).toContain('The previous secret stopped signing at once');
    const newSecret = /New signing secret for wh_\w+: (whsec_\S+)/.exec(expired.stdout)![1]!;
    const rejectedBefore = receiver.rejected;
    const stale = await cli('webhook', 'test', t.envId, added.json.id);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(/Failed: HTTP 401 .*Pulse retries it at \d{4}-/);
    expect((await cli('webhook', 'deliveries', t.envId, added.json.id)).stdout).toMatch(/pending\s+attempts=\d+ HTTP 401 \d+ ms  next attempt \d{4}-/);
    expect(receiver.rejected).toBeGreaterThan(rejectedBefore);
    receiver.secret = newSecret;
    await waitFor(() => receiver.ofType('webhook.test').length === 3, 5000, 'the retried test event with the new secret');
    // A secret of your own, read from stdin (never from the command line).
    const own = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    const given = await runCliWithInput(['webhook', 'rotate-secret', t.envId, added.json.id, '--secret-stdin', '--expire-previous', '--json'], { ...t.childEnv, ...allow }, `${own}\n`);
    expect(given.code, given.stderr).toBe(0);
    expect(given.json.secret).toBe(own);
    const refused = await runCliWithInput(['webhook', 'rotate-secret', t.envId, added.json.id, '--secret-stdin'], { ...t.childEnv, ...allow }, 'whsec_short');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/secret/);
    // Not printed back: the output may go to a log.
    const quiet = await runCliWithInput(['webhook', 'rotate-secret', t.envId, added.json.id, '--secret-stdin'], { ...t.childEnv, ...allow }, own);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toContain('the one you gave (whsec_');
    expect(quiet.stdout).not.toContain(own);
    receiver.secret = own;
    const signedWithOwn = await cli('webhook', 'test', t.envId, added.json.id);
    expect(signedWithOwn.code, signedWithOwn.stderr + signedWithOwn.stdout).toBe(0);

    const deliveries = await cli('webhook', 'deliveries', t.envId, added.json.id, '--json');
    expect(deliveries.json.deliveries.length).toBeGreaterThanOrEqual(3);

    // Nothing missed: every event since the start already has a delivery.
    const recovered = await cli('webhook', 'recover', t.envId, added.json.id, '--since', new Date(Date.now() - 3600_000).toISOString(), '--json');
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.json.recovered).toBe(0);
    const noSince = await cli('webhook', 'recover', t.envId, added.json.id);
    expect(noSince.code).toBe(2);
    expect(noSince.stderr).toMatch(/--since/);

    // What a receiver answers reaches the terminal with its control characters escaped.
    receiver.mode = { kind: 'fail', status: 503, body: '\x1b]0;pwned\x07\x1b[2J\nFAKE: Delivered' };
    const hostile = await cli('webhook', 'test', t.envId, added.json.id);
    expect(hostile.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(hostile.stdout).toContain('\\u001b]0;pwned\\u0007\\u001b[2J\\u000aFAKE: Delivered');
    receiver.mode = { kind: 'ok' }; // its retry goes through before the next step
    await waitFor(async () => {
      const listed = await cli('webhook', 'deliveries', t.envId, added.json.id, '--json');
      return listed.json.deliveries.every((d: { status: string }) => d.status === 'succeeded') ? true : undefined;
    }, 10_000, 'the retried delivery');

    // A 410 disables the endpoint at once: the CLI says so, not that it retries.
    receiver.mode = { kind: 'fail', status: 410 };
    const gone = await cli('webhook', 'test', t.envId, added.json.id);
    expect(gone.code, gone.stderr + gone.stdout).toBe(1);
    expect(gone.stdout).toMatch(/Failed: HTTP 410.*The endpoint is disabled \(Disabled by Pulse .*410 Gone.*nothing is sent to it until it is enabled again/);
    receiver.mode = { kind: 'ok' };

    const disabled = await cli('webhook', 'disable', t.envId, added.json.id, '--json');
    expect(disabled.json.webhook.enabled).toBe(false);

    const removed = await cli('webhook', 'rm', t.envId, added.json.id, '--json');
    expect(removed.json).toEqual({ id: added.json.id, removed: true });
    expect((await cli('webhook', 'list', t.envId, '--json')).json.webhooks).toEqual([]);

    const audit = await t.server.ctx.store.listAudit(t.envId, { limit: 50, offset: 0 });
    const actions = audit.items.map((a) => a.action);
    for (const action of ['webhook.created', 'webhook.test_sent', 'webhook.secret_rotated', 'webhook.updated', 'webhook.deleted']) expect(actions).toContain(action);
    expect(audit.items.find((a) => a.action === 'webhook.created')!.actorName).toMatch(/^CLI \(/);
  }, 180_000);

  it('refuses bad input with exit code 2 and a clear message', async () => {
    const { id: endpointId } = JSON.parse((await cli('webhook', 'add', t.envId, 'https://hooks.example.com/strict', '--json')).stdout) as { id: string };
    // [arguments, error code, message]: command-line mistakes are `usage`, bad values `validation_failed`.
    const cases: [string[], string, RegExp][] = [
      [['webhook', 'add', t.envId, 'ftp://example.com/x'], 'validation_failed', /url: must be an http/],
      [['webhook', 'add', t.envId, 'https://example.com/x', '--events', 'comment.nope'], 'validation_failed', /events\.0/],
      [['webhook', 'add', t.envId, 'https://example.com/x', '--events', ''], 'validation_failed', /--events: name at least one event type/],
      [['webhook', 'add', t.envId, 'https://example.com/x', '--description', '--events', 'comment.created'], 'usage', /--description needs a value/],
      [['webhook', 'add', t.envId, 'https://example.com/x', '--events', 'comment.created', '--events', 'thread.created'], 'usage', /--events given twice/],
      [['webhook', 'add', t.envId, 'https://example.com/x', '--colour', 'red'], 'usage', /unknown option "--colour"/],
      [['webhook', 'add', t.envId], 'usage', /missing <url>/],
      [['webhook', 'add', 'env_missing', 'https://example.com/x'], 'environment_not_found', /Environment not found/],
      [['webhook', 'rm', t.envId, 'wh_missing'], 'not_found', /No webhook endpoint "wh_missing"/],
      [['webhook', 'frobnicate'], 'usage', /unknown command "webhook frobnicate"/],
      // A mistyped flag must not quietly leave the previous secret signing.
      [['webhook', 'rotate-secret', t.envId, endpointId, '--expire-previus'], 'usage', /unknown option "--expire-previus" \(takes --expire-previous, --secret-stdin\)/],
      [['webhook', 'rotate-secret', t.envId, endpointId, '--expire-previous=true'], 'usage', /--expire-previous takes no value/],
      [['webhook', 'list', t.envId, '--bogus'], 'usage', /unknown option "--bogus" \(it takes none\)/],
      [['webhook', 'list', t.envId, 'extra'], 'usage', /unexpected "extra"/],
      [['webhook', 'deliveries', t.envId, endpointId, '--limit', '5'], 'usage', /unknown option "--limit"/],
      [['webhook', 'rotate-secret', t.envId, endpointId, '--expire-previous', '--expire-previous'], 'usage', /--expire-previous given twice/],
      [['webhook', 'list', t.envId, '--json'], 'usage', /--json given twice/],
      [['webhook', 'test', 'env_missing', endpointId], 'environment_not_found', /Environment not found/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(...args, '--json');
      expect(r.code, args.join(' ')).toBe(2);
      expect(JSON.parse(r.stderr).error, args.join(' ')).toMatchObject({ code, message: expect.stringMatching(message) });
      expect(JSON.parse(r.stderr).error.message).not.toContain('Usage:'); // the usage is for people
    }
    const human = await cli('webhook', 'list', t.envId, '--bogus');
    expect(human.stderr).toMatch(/^pulse: webhook list: unknown option "--bogus" \(it takes none\)\n\nUsage:\n {2}webhook add/m);
    // None of the refused rotations happened.
    const [listed] = (JSON.parse((await cli('webhook', 'list', t.envId, '--json')).stdout) as { webhooks: { id: string; previousSecretExpiresAt: string | null }[] }).webhooks.filter((w) => w.id === endpointId);
    expect(listed!.previousSecretExpiresAt).toBeNull();
    // A disabled endpoint is sent no test event: refused, exit code 2.
    expect((await cli('webhook', 'disable', t.envId, endpointId)).code).toBe(0);
    const disabled = await cli('webhook', 'test', t.envId, endpointId, '--json');
    expect(disabled.code).toBe(2);
    expect(JSON.parse(disabled.stderr).error).toMatchObject({ code: 'endpoint_disabled', message: expect.stringMatching(/is disabled: enable it/) });
    // Without PULSE_WEBHOOKS_ALLOW_PRIVATE, a loopback URL is refused.
    const strict = await runCli(['webhook', 'add', t.envId, 'http://127.0.0.1:9/x'], t.childEnv);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/refused: 127\.0\.0\.1 is a loopback address/);
  }, 180_000);
});

describe('pulse webhook --help', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.all());

  it('prints the webhook usage and exits 0 without opening, or needing, a database', async () => {
    for (const args of [['webhook', '--help'], ['webhook', '-h'], ['webhook', 'add', '--help'], ['webhook', 'test', 'env_x', 'wh_x', '-h']]) {
      const dataDir = cleanup.tempDir();
      const r = await runCli([...args, '--data-dir', dataDir, '--json'], cleanEnv());
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^Usage: pulse webhook <command>/);
      for (const sub of ['add', 'list', 'rm', 'rotate-secret', 'enable|disable', 'test', 'deliveries']) expect(r.stdout).toContain(`webhook ${sub} <envId>`);
      expect(r.stderr).toBe('');
      expect(readdirSync(dataDir), args.join(' ')).toEqual([]);
    }
  });
});
