import { realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseEnvConfigAssignments, PulseError, WEBHOOKS_ALLOW_PRIVATE_ENV } from '@pulse/protocol';
import { hashPassword } from './auth/passwords.ts';
import { newAdminId, nowIso } from './ids.ts';
import { audit, describeChanges } from './panel-api/audit.ts';
import { describeStorage, hasDatabase, missingDatabaseMessage } from './data-dir.ts';
import { boundHeapGrowth } from './heap-growth.ts';
import { demoSetting, optionsFromEnv, parsePort, type ServerOptions } from './options.ts';
import { DEMO_ENVIRONMENT_ID } from './static/demo.ts';
import { openContext } from './open-context.ts';
// Loaded when a command needs them (start, --cluster-check): the env and admin commands stay fast.
import type { PulseServer } from './server.ts';
import { ConfigurationError, UsageError } from './cli-errors.ts';
import { WEBHOOK_USAGE, webhookCommand } from './cli-webhooks.ts';
import { FIRST_RUN_KEYS_FILE, promptHidden, readPasswordFromStdin, removePrivateFile, SETUP_URL_FILE, writePrivateFile } from './cli-secrets.ts';
import { VERSION } from './version.ts';

const START_USAGE = `  start [--demo] [--port N] [--host H]    run the server (PULSE_PORT, PULSE_DATA_DIR, DATABASE_URL, …);
                                          --demo serves /demo unless PULSE_DEMO=off (npm start does);
                                          --port and --host win over PULSE_PORT and PULSE_HOST`;

const ENV_USAGE = `  env create <name>                       create an environment and print its keys (secret shown once)
  env list                                list environments with their counts
  env rename <envId> <name>               rename an environment
  env keys <envId>                        list an environment's keys (prefixes, dates, status)
  env rotate <envId>                      new key pair; the old pair stops working at once
  env revoke <envId> <keyId|keyPrefix>    revoke one key for good
  env config <envId> [key=value …]        show or change the environment's config`;

const ADMIN_USAGE = `  admin create --email E [--password-stdin] [--name N] [--role admin|member]
                                          create a panel account; the password is prompted
                                          for (no echo) or read from stdin with --password-stdin`;

const COMMON_USAGE = `Every command takes:
  --data-dir <dir>                        the data dir (SQLite database, secret, files) instead of
                                          PULSE_DATA_DIR or ./data
  --init                                  create a new database when the data dir has none (without
                                          it, only \`pulse start\` with PULSE_DATA_DIR or --data-dir
                                          set, or --demo, creates one)
  --help, -h                              this usage (after a command: that command's usage)
  --version, -v                           the version of Pulse

Add --json to any env, admin or webhook command for one JSON object on stdout.
Exit codes: 0 success, 2 invalid input or unknown object, 1 anything else.`;

/** The usage lines of each command group: `pulse <group> --help` prints its own. */
const GROUP_USAGE: Record<string, string> = { start: START_USAGE, env: ENV_USAGE, admin: ADMIN_USAGE, webhook: WEBHOOK_USAGE };

const USAGE = `Usage: pulse <command> [options]

${Object.values(GROUP_USAGE).join('\n')}

${COMMON_USAGE}`;

const groupUsage = (group: string) =>
  `Usage: pulse ${group}${group === 'start' ? '' : ' <command>'} [options]\n\n${GROUP_USAGE[group]}\n\n${COMMON_USAGE}`;

const isHelpFlag = (arg: string) => arg === '--help' || arg === '-h';

/**
 * The usage asked for, if any: `pulse help [group]`, `pulse --help`, or --help/-h anywhere after a
 * command group. Answered before options are read or a database is looked for.
 */
function requestedHelp(command: string | undefined, rest: string[]): string | undefined {
  if (command === 'help') {
    if (rest[0] === undefined || isHelpFlag(rest[0])) return USAGE;
    if (Object.hasOwn(GROUP_USAGE, rest[0])) return groupUsage(rest[0]);
    throw new UsageError(`no help on "${rest[0]}": pulse help [${Object.keys(GROUP_USAGE).join('|')}]`, false);
  }
  if (command !== undefined && isHelpFlag(command)) return USAGE;
  if (command !== undefined && Object.hasOwn(GROUP_USAGE, command) && rest.some(isHelpFlag)) return groupUsage(command);
  return undefined;
}

/** --data-dir, --init and --json, taken wherever they are on the line; the rest is the command. */
function globalFlags(argv: string[]): { args: string[]; json: boolean; init: boolean; dataDir?: string } {
  const args: string[] = [];
  let json = false;
  let init = false;
  let dataDir: string | undefined;
  const twice = (name: string) => new UsageError(`--${name} given twice`, false);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--json') {
      if (json) throw twice('json');
      json = true;
    } else if (arg === '--init') {
      if (init) throw twice('init');
      init = true;
    } else if (arg === '--data-dir' || arg.startsWith('--data-dir=')) {
      const value = arg === '--data-dir' ? argv[++i] : arg.slice('--data-dir='.length);
      if (!value || value.startsWith('--')) throw new UsageError('--data-dir needs a directory: --data-dir /var/lib/pulse', false);
      if (dataDir !== undefined) throw twice('data-dir');
      dataDir = value;
    } else args.push(arg);
  }
  return { args, json, init, ...(dataDir !== undefined ? { dataDir } : {}) };
}

type Out = { json: boolean; print: (human: string, data: unknown) => void };

function output(json: boolean): Out {
  return {
    json,
    print(human, data) {
      process.stdout.write(json ? JSON.stringify(data) + '\n' : human + '\n');
    },
  };
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

async function withContext<T>(options: ServerOptions, fn: (c: Awaited<ReturnType<typeof openContext>>) => Promise<T>): Promise<T> {
  const context = await openContext(options);
  try {
    return await fn(context);
  } finally {
    await context.store.close();
  }
}

/** Who ran the CLI, for the audit log the panel shows. */
function cliUser(): { cli: string } {
  try {
    return { cli: userInfo().username };
  } catch {
    return { cli: 'unknown user' };
  }
}

/** Refuses options and arguments past the `n` a command takes: `env rotate env_x --dry-run` must not rotate. */
function exactArgs(command: string, rest: string[], n: number): void {
  const option = rest.find((arg) => arg.startsWith('-'));
  if (option) throw new UsageError(`${command}: unknown option "${option}"`, groupUsage('env'));
  if (rest.length > n) throw new UsageError(`${command}: unexpected "${rest[n]}"`, groupUsage('env'));
}

async function envCommand(args: string[], out: Out, options: ServerOptions): Promise<void> {
  const [sub, ...rest] = args;
  await withContext(options, async ({ environments, store }) => {
    switch (sub) {
      case 'create': {
        const env = await environments.create(need(rest.join(' ').trim(), '<name>'));
        await audit(store, cliUser(), env.id, 'environment.created', `created "${env.name}" with a new key pair`);
        out.print(
          [
            `Created environment "${env.name}" (${env.id})`,
            `  Publishable key: ${env.publishableKey}`,
            `  Secret key:      ${env.secretKey}`,
            `The secret key is shown only this once: store it in your backend's secrets now.`,
          ].join('\n'),
          { id: env.id, name: env.name, publishableKey: env.publishableKey, secretKey: env.secretKey },
        );
        return;
      }
      case 'list': {
        exactArgs('env list', rest, 0);
        const list = await environments.list();
        const lines = list.map(
          (e) => `${e.id}  ${e.name}  rooms=${e.counts.rooms} threads=${e.counts.threads} users=${e.counts.users} comments=${e.counts.comments}`,
        );
        out.print(lines.join('\n') || 'No environments.', { environments: list });
        return;
      }
      case 'rename': {
        const [envId, ...name] = rest;
        const before = await environments.get(need(envId, '<envId>'));
        const env = await environments.rename(before.id, need(name.join(' ').trim(), '<name>'));
        await audit(store, cliUser(), env.id, 'environment.renamed', `"${before.name}" → "${env.name}"`);
        out.print(`Renamed ${env.id} to "${env.name}"`, { id: env.id, name: env.name });
        return;
      }
      case 'keys': {
        exactArgs('env keys', rest, 1);
        const keys = await environments.keys(need(rest[0], '<envId>'));
        out.print(
          keys.map((k) => `${k.id}  ${k.kind.padEnd(11)}  ${k.value ?? k.prefix + '…'}  created ${k.createdAt}  ${k.status}`).join('\n'),
          { keys: keys.map(({ environmentId: _e, ...k }) => k) },
        );
        return;
      }
      case 'rotate': {
        exactArgs('env rotate', rest, 1);
        const envId = need(rest[0], '<envId>');
        const pair = await environments.rotate(envId);
        await audit(store, cliUser(), envId, 'keys.rotated', `new pair ${pair.publishableKey.slice(0, 11)}… / ${pair.secretKey.slice(0, 11)}…`);
        out.print(
          [
            `Rotated the keys of ${envId}; the old keys stopped working.`,
            `  Publishable key: ${pair.publishableKey}`,
            `  Secret key:      ${pair.secretKey}`,
            `The secret key is shown only this once.`,
          ].join('\n'),
          { id: envId, publishableKey: pair.publishableKey, secretKey: pair.secretKey, revokedKeyIds: pair.revokedKeyIds },
        );
        return;
      }
      case 'revoke': {
        exactArgs('env revoke', rest, 2);
        const key = await environments.revoke(need(rest[0], '<envId>'), need(rest[1], '<keyId|keyPrefix>'));
        await audit(store, cliUser(), key.environmentId, 'key.revoked', `${key.kind} key ${key.prefix}…`);
        out.print(`Revoked ${key.kind} key ${key.id} (${key.prefix}…)`, { id: key.id, kind: key.kind, prefix: key.prefix, revokedAt: key.revokedAt });
        return;
      }
      case 'config': {
        const [envId, ...assignments] = rest;
        const id = need(envId, '<envId>');
        let patch;
        try {
          patch = parseEnvConfigAssignments(assignments);
        } catch (err) {
          // A bad value: the message names the setting and what it takes.
          throw new PulseError('validation_failed', (err as Error).message);
        }
        const before = await environments.config(id);
        const config = assignments.length ? await environments.updateConfig(id, patch) : before;
        const changes = describeChanges(before, config);
        if (changes) await audit(store, cliUser(), id, 'config.updated', changes);
        out.print(
          Object.entries(config)
            .map(([k, v]) => `${k.padEnd(26)} ${String(v)}`)
            .join('\n'),
          config,
        );
        return;
      }
      default:
        throw new UsageError(sub ? `unknown command "env ${sub}"` : 'missing env command');
    }
  });
}

const PASSWORD_IN_ARGV =
  '--password is not accepted: a password on the command line is visible to every user in the process list and stays in shell history. ' +
  'Run the command in a terminal to be prompted, or pipe it: printf \'%s\' "$PASSWORD" | pulse admin create --email … --password-stdin';

/** The new account's password: from stdin (--password-stdin) or a prompt without echo; never from argv. */
async function readNewPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) return readPasswordFromStdin();
  if (!process.stdin.isTTY) throw new UsageError('no password: pipe it with --password-stdin, or run the command in a terminal to be prompted', false);
  const first = await promptHidden('Password (at least 8 characters): ');
  if (first.length < 8) throw new UsageError('password: must be at least 8 characters');
  const again = await promptHidden('Repeat the password: ');
  if (again !== first) throw new UsageError('the two passwords differ');
  return first;
}

async function adminCommand(args: string[], out: Out, options: ServerOptions): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        email: { type: 'string' },
        'password-stdin': { type: 'boolean' },
        // Only recognised so it can be refused with an explanation.
        password: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { positionals, values } = parsed;
  if (positionals[0] !== 'create') throw new UsageError(positionals[0] ? `unknown command "admin ${positionals[0]}"` : 'missing admin command');
  if (values.password !== undefined) throw new UsageError(PASSWORD_IN_ARGV, false);
  const email = need(values.email, '--email').trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new PulseError('validation_failed', `--email: "${email}" is not an email address`);
  const role = values.role ?? 'admin';
  if (role !== 'admin' && role !== 'member') throw new PulseError('validation_failed', `--role must be admin or member, got "${role}"`);
  const name = (values.name ?? email.split('@')[0]!).trim();
  const password = await readNewPassword(values['password-stdin'] === true);
  if (password.length < 8) throw new PulseError('validation_failed', 'password: must be at least 8 characters');
  await withContext(options, async ({ store }) => {
    if (await store.findAdminByEmail(email)) throw new PulseError('already_exists', `An admin with email ${email} already exists.`);
    const id = newAdminId();
    await store.createAdmin({ id, email, name, role, passwordHash: await hashPassword(password), createdAt: nowIso() });
    await audit(store, cliUser(), null, 'team.added', `${email} as ${role}`);
    out.print(`Created ${role} ${email}. Log in at /panel.`, { id, email, name, role });
  });
}

/** A word as the shell reads it: quoted unless it is plain. */
const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/**
 * `npx pulse` as the banner suggests it: with --data-dir when the data dir was named (and holds
 * the SQLite database), since run from another directory the command would not find it.
 */
function pulseCommand(options: ServerOptions, dataDirNamed: boolean): string {
  return dataDirNamed && !options.databaseUrl ? `npx pulse --data-dir ${shellWord(options.dataDir)}` : 'npx pulse';
}

/** Where notification emails go, credentials left out of the SMTP address. */
function describeEmail(email: ServerOptions['email']): string {
  if (!email?.smtpUrl) return 'off (PULSE_SMTP_URL unset: no notification emails)';
  let server = 'SMTP';
  try {
    const smtp = new URL(email.smtpUrl);
    server = `${smtp.protocol}//${smtp.host}`;
  } catch {
    // Shown without its address; nodemailer says what is wrong with it when it sends.
  }
  return `${server}, from ${email.from}`;
}

/**
 * The start banner. Secrets in it (the first-run secret key, the setup link) are printed only
 * to an interactive terminal; when stdout goes to a log, they go to 0600 files in the data dir
 * and the banner says where.
 */
function banner(server: PulseServer, hasAdmin: boolean, tty: boolean, created: boolean, pulse: string): string {
  const { options } = server.ctx;
  const base = options.publicUrl ?? server.url;
  const lines = [
    '',
    `  Pulse is running at ${base}`,
    '',
    `  Admin panel   ${base}/panel`,
    ...(options.demo
      ? [
          `  Demo          ${base}/demo   ON: anyone who can reach this address can sign in to the demo's`,
          `                own "Demo" environment (${DEMO_ENVIRONMENT_ID}) as any user. No other environment is`,
          '                touched. For a quickstart only: run without --demo (and PULSE_DEMO unset or off) for real use.',
        ]
      : ['  Demo          off (PULSE_DEMO=on or pulse start --demo to try it)']),
    `  REST API      ${base}/api/v1   (OpenAPI: ${base}/api/v1/openapi.json)`,
    `  WebSocket     ${base.replace(/^http/, 'ws')}/`,
    `  Storage       ${describeStorage(options)}${created ? '   (new, created now)' : ''}`,
    `  Email         ${describeEmail(options.email)}`,
    ...(options.webhooks?.allowPrivate
      ? [`  Webhooks      may go to private and loopback addresses (${WEBHOOKS_ALLOW_PRIVATE_ENV}=1): for local development only`]
      : []),
  ];
  if (server.firstRun) {
    const { environmentName, environmentId, publishableKey, secretKey } = server.firstRun;
    const keys = [
      `  First run: created the "${environmentName}" environment (${environmentId})`,
      `    Publishable key  ${publishableKey}`,
      `    Secret key       ${secretKey}`,
    ];
    lines.push('', ...keys);
    if (tty) {
      lines.push(`    The secret key is printed only this once; store it now (or rotate later: ${pulse} env rotate <envId>).`);
    } else {
      const file = writePrivateFile(options.dataDir, FIRST_RUN_KEYS_FILE, keys.join('\n').replace(/^ +/gm, '') + '\n');
      lines[lines.length - 1] = `    Secret key       not printed (stdout is not a terminal): written to ${file} (mode 0600)`;
      lines.push(`    Store it in your backend's secrets, then delete that file (or rotate later: ${pulse} env rotate <envId>).`);
    }
  }
  if (!hasAdmin) {
    lines.push('', '  No admin yet. Create the first one:');
    if (server.setupToken) {
      const link = `${base}/panel/setup?token=${server.setupToken}`;
      if (tty) lines.push(`    in the browser:  ${link}   (one-time setup link)`);
      else {
        const file = writePrivateFile(options.dataDir, SETUP_URL_FILE, link + '\n');
        lines.push(`    in the browser:  open the one-time setup link written to ${file} (mode 0600)`);
      }
    }
    lines.push(`    or here:         ${pulse} admin create --email you@example.com   (asks for the password)`);
  } else {
    removePrivateFile(options.dataDir, SETUP_URL_FILE); // its token died with the process that made it
  }
  lines.push('');
  return lines.join('\n');
}

/** `pulse start`'s own options: --demo, and --port and --host (which win over PULSE_PORT and PULSE_HOST). */
function startFlags(rest: string[]): { demo: boolean; listen: { port?: number; host?: string } } {
  let demo = false;
  const listen: { port?: number; host?: string } = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (arg === '--demo') demo = true;
    else if (name === '--port' || name === '--host') {
      const key = name === '--port' ? 'port' : 'host';
      const value = name === arg ? rest[++i] : arg.slice(eq + 1);
      if (!value || (value.startsWith('-') && !/^-\d/.test(value))) throw new UsageError(`${name} needs a value: ${name === '--port' ? '--port 8080' : '--host 0.0.0.0'}`, false);
      if (listen[key] !== undefined) throw new UsageError(`${name} given twice`, false);
      try {
        if (key === 'port') listen.port = parsePort(value, '--port');
        else listen.host = value;
      } catch (err) {
        throw new UsageError((err as Error).message, false);
      }
    } else throw new UsageError(`unknown option "${arg}" for start`);
  }
  return { demo, listen };
}

async function start(options: ServerOptions, dataDirNamed: boolean): Promise<number> {
  boundHeapGrowth();
  const created = !hasDatabase(options);
  const { startPulseServer } = await import('./server.ts');
  const server = await startPulseServer(options);
  const pulse = pulseCommand(options, dataDirNamed);
  process.stdout.write(banner(server, (await server.ctx.store.countAdmins()) > 0, process.stdout.isTTY === true, created, pulse) + '\n');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      server.app.log.info(`${signal} received, shutting down`);
      void server.close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const flags = globalFlags(argv);
    json = flags.json;
    const { args, init } = flags;
    const [command, ...rest] = args;
    const help = requestedHelp(command, rest);
    if (help !== undefined) {
      process.stdout.write(help + '\n');
      return 0;
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      process.stdout.write((json ? JSON.stringify({ version: VERSION }) : VERSION) + '\n');
      return 0;
    }
    const out = output(json);
    const dataDirNamed = flags.dataDir !== undefined || Boolean(process.env.PULSE_DATA_DIR);
    let options: ServerOptions;
    try {
      options = optionsFromEnv(flags.dataDir !== undefined ? { ...process.env, PULSE_DATA_DIR: flags.dataDir } : process.env);
    } catch (err) {
      throw new ConfigurationError((err as Error).message);
    }
    /** Says which database the command uses, and refuses to create a new one unless told to. */
    const openStorage = (mayCreate: boolean) => {
      if (!hasDatabase(options) && !mayCreate && !init) {
        throw new UsageError(missingDatabaseMessage(options.dataDir, !dataDirNamed, [command, ...rest].join(' ')), false);
      }
      if (!json && command !== 'start') {
        process.stderr.write(`pulse: ${hasDatabase(options) ? 'using' : 'creating a new database:'} ${describeStorage(options)}\n`);
      }
    };
    switch (command) {
      case 'start': {
        if (rest.includes('--cluster-check')) {
          const { runClusterCheck } = await import('./cluster-check.ts');
          return await runClusterCheck(options, (line) => process.stdout.write(line + '\n'));
        }
        const flags = startFlags(rest);
        // --demo turns the demo on unless PULSE_DEMO says otherwise (PULSE_DEMO=off always wins).
        const demo = demoSetting(process.env.PULSE_DEMO) ?? flags.demo;
        // A first start where the data dir was named (PULSE_DATA_DIR, --data-dir), or of the demo, creates the database.
        openStorage(dataDirNamed || flags.demo);
        return await start({ ...options, ...flags.listen, demo }, dataDirNamed);
      }
      case 'env':
        openStorage(false);
        await envCommand(rest, out, options);
        return 0;
      case 'admin':
        openStorage(false);
        await adminCommand(rest, out, options);
        return 0;
      case 'webhook':
        openStorage(false);
        return await webhookCommand(rest, out, options);
      case undefined:
        process.stdout.write(USAGE + '\n');
        return 2;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    const userError = err instanceof UsageError || (err instanceof PulseError && err.status < 500);
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof PulseError ? err.code : err instanceof UsageError ? 'usage' : err instanceof ConfigurationError ? 'configuration' : 'internal_error';
    const usage = err instanceof UsageError && err.usage ? `\n${err.usage === true ? USAGE : err.usage}\n` : '';
    if (json) process.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
    else process.stderr.write(`pulse: ${message}\n${usage}`);
    return userError ? 2 : 1;
  }
}

/**
 * `node …/dist/cli.js start` (or `…/dist/cli start`) works as `pulse start` does (bin/pulse.mjs
 * imports this module and calls main).
 */
function runAsScript(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  return [script, `${script}.js`, `${script}.ts`].some((path) => {
    try {
      return pathToFileURL(realpathSync(path)).href === import.meta.url;
    } catch {
      return false;
    }
  });
}

if (runAsScript()) process.exitCode = await main(process.argv.slice(2));
