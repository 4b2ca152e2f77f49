import {
  DURABLE_TYPES,
  clientMessageSchema,
  CLOSE_CODES,
  ERROR_CATALOGUE,
  LIMITS,
  type ClientMessage,
} from '@pulse/protocol';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintToken } from './helpers/clients.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

/**
 * Property/fuzz test of the WebSocket protocol against a real server (SQLite).
 *
 * An authenticated user who owns nothing ("mallory") throws ~3000 generated frames at room
 * "fuzz": arbitrary JSON, raw strings and bytes, structurally plausible messages with garbage
 * fields, and mutations of valid requests aimed at alice's and bob's objects. Then a few hundred
 * random first frames go to fresh, unauthenticated sockets.
 *
 * Properties:
 * - the server keeps running and answering (healthz, a fresh client can authenticate);
 * - every frame that is not a valid message is answered by exactly one `error` frame whose code is
 *   in the catalogue, and the socket stays open (only a rate-limit close 4429, or a protocol-level
 *   close for frames above the hard cap, is accepted: the test reconnects). Every
 *   refused frame is a strike (LIMITS.strikesPerConnection closes the socket): the test counts
 *   them and moves to a fresh socket before the limit, so a strike close is never expected;
 * - no answer is ever `internal_error`, and nothing is logged by the realtime error handlers;
 * - the objects created in setup are byte-for-byte what they were; nothing appears in another
 *   room or environment;
 * - an unauthenticated socket's bad first frame gets `auth:error` (or `error`) and a 4400/4401/4403
 *   close, never `auth:ok`.
 *
 * Frames are generated with fast-check from fixed seeds (fc.sample), so the input is the same on
 * every run. Every violation names the exact frame that triggered it.
 */

const ROOM = 'fuzz';
const MALLORY = 'mallory';
const AUTH_WORKERS = 10;
const UNAUTH_PARALLEL = 40;
const ANSWER_TIMEOUT_MS = 5000;
const UNAUTH_CLOSE_TIMEOUT_MS = 1500;

const CATALOGUE = new Set(Object.keys(ERROR_CATALOGUE));
const KNOWN_TYPES = new Set(clientMessageSchema.options.map((o) => o.shape.type.value as string));
/** Codes that only the frame-validation layer (hub + parse) gives; no handler throws them. */
const VALIDATION_CODES = new Set(['invalid_message', 'unknown_message_type', 'message_too_big', 'already_authenticated']);
/** Requests that draw from the per-connection durable bucket (40 burst, 10/s). */
const DURABLE_LIMITED = new Set<string>(DURABLE_TYPES.filter((t) => t !== 'notifications:read'));
/** Valid requests that are always answered (ack or error) when they carry a ref. */
const ANSWERED_WITH_REF = new Set([...DURABLE_LIMITED, 'notifications:read', 'room:resync', 'presence:update', 'presence:heartbeat', 'presence:appear-offline']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------
// Frames and the local oracle

interface Frame {
  category: string;
  data: string | Buffer;
  /** Send as a binary WebSocket frame (else text, even for a Buffer). */
  binary?: boolean;
}

type Expectation =
  | { kind: 'invalid'; codes: string[] }
  | { kind: 'valid'; message: ClientMessage }
  | { kind: 'close'; codes: number[] };

const byteLength = (f: Frame) => (typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.length);

/** Human-readable form of a frame for failure messages: the exact text, truncated when huge. */
function show(f: Frame): string {
  const n = byteLength(f);
  if (typeof f.data !== 'string') return `[${f.category}] <${f.binary ? 'binary' : 'text'} frame, ${n} bytes: ${f.data.subarray(0, 64).toString('hex')}${n > 64 ? '…' : ''}>`;
  const text = f.data.length > 400 ? `${JSON.stringify(f.data.slice(0, 300))}… (${n} bytes in all)` : JSON.stringify(f.data);
  return `[${f.category}] ${text}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What the server must answer for a frame on an authenticated socket, from the published protocol. */
function expectationFor(f: Frame): Expectation {
  const bytes = byteLength(f);
  if (bytes > LIMITS.wsHardMessageBytes) return { kind: 'close', codes: [1009, CLOSE_CODES.MESSAGE_TOO_BIG] };
  if (f.binary) return { kind: 'invalid', codes: bytes > LIMITS.wsMessageBytes ? ['invalid_message', 'message_too_big'] : ['invalid_message'] };
  const buffer = typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : f.data;
  // A text frame must be UTF-8: answered like any frame that is not JSON, the socket kept (no 1007).
  if (!isUtf8(buffer)) return { kind: 'invalid', codes: bytes > LIMITS.wsMessageBytes ? ['message_too_big'] : ['invalid_message'] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(buffer.toString('utf8')); // what the server sees (lone surrogates became U+FFFD on the wire)
  } catch {
    return { kind: 'invalid', codes: bytes > LIMITS.wsMessageBytes ? ['invalid_message', 'message_too_big'] : ['invalid_message'] };
  }
  if (bytes > LIMITS.wsMessageBytes) return { kind: 'invalid', codes: ['message_too_big'] };
  if (depthOf(parsed) > LIMITS.wsJsonDepth) return { kind: 'invalid', codes: ['invalid_message'] };
  if (!isPlainObject(parsed)) return { kind: 'invalid', codes: ['invalid_message'] };
  if (typeof parsed.type !== 'string' || !KNOWN_TYPES.has(parsed.type)) return { kind: 'invalid', codes: ['unknown_message_type'] };
  const result = clientMessageSchema.safeParse(parsed);
  if (!result.success) return { kind: 'invalid', codes: ['invalid_message'] };
  if (result.data.type === 'auth') return { kind: 'invalid', codes: ['already_authenticated'] };
  return { kind: 'valid', message: result.data };
}

/** How deep arrays and objects nest in a JSON value (without recursion: fuzzed values nest 30,000 deep). */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------
// Generators

/** Ids of the objects made in setup, filled in by beforeAll; mutations aim at them. */
const setupIds = { threads: [] as string[], comments: [] as string[], reactions: [] as string[] };

const unit = fc.double({ min: 0, max: 1, noNaN: true });
const idish = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
const weirdNumber = fc.oneof(
  fc.double(), // includes NaN, ±Infinity (JSON null) and -0
  fc.integer(),
  fc.constantFrom(-1, -0.5, 0, 1, 1.5, 2, 64, 64.5, 0.49, 1e7, 1e7 + 1, -1e7 - 1, 1e308, -1e308, 5e-324, 2 ** 53 + 2, -(2 ** 31), 2 ** 32),
);
const hugeString = fc.constantFrom(
  'x'.repeat(LIMITS.commentBodyLength + 1),
  'a'.repeat(LIMITS.idLength + 1),
  'r'.repeat(65),
  '€'.repeat(5000),
  '👍'.repeat(LIMITS.emojiLength),
  'é'.repeat(30_000),
);
const nastyString = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '\u0007bell',
  '\u007f',
  '\u0085',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u2028\u2029',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  "'; DROP TABLE threads; --",
  '" OR 1=1 --',
  '../../../etc/passwd',
  '%00',
  '${7*7}',
  '<script>alert(1)</script>',
  'alice',
  'bob',
  'mallory',
  'fuzz',
  'AUTH',
  'thread:create ',
  ' thread:create',
  'THREAD:CREATE',
  '#6366f1',
  '#GGGGGG',
  '1\ufe0f\u20e3',
  '🇫🇷',
  '👩‍👩‍👧‍👦',
);
const weirdString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  nastyString,
  hugeString,
);
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: weirdString },
  { weight: 3, arbitrary: weirdNumber },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 60 }) },
  { weight: 1, arbitrary: fc.dictionary(weirdString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom({}, [], [[]], { x: 0.5 }, { x: 0.5, y: 0.5 }, [0.5, 0.5], { type: 'auth' }, { __proto__: { admin: true } }) },
);

/** Values that are valid (or nearly) for a field, so generated messages sometimes pass validation. */
function validish(key: string, type: string): fc.Arbitrary<unknown> {
  switch (key) {
    case 'ref':
      return fc.string({ maxLength: 70 });
    case 'position':
      return type === 'thread:create'
        ? fc.oneof(fc.constant(null), fc.record({ x: unit, y: unit }), fc.record({ x: unit, y: unit, selector: fc.string({ maxLength: 20 }), offsetX: unit }))
        : fc.record({ x: unit, y: unit, pageX: fc.integer({ min: -2000, max: 2000 }), pageY: fc.integer({ min: -2000, max: 2000 }) });
    case 'viewport':
      return fc.record({ scrollX: fc.nat(5000), scrollY: fc.nat(5000), width: fc.nat(3000), height: fc.nat(3000), ratioY: unit }, { requiredKeys: ['scrollX', 'scrollY', 'width', 'height'] });
    case 'selection':
      return fc.oneof(fc.constant(null), fc.record({ text: fc.string({ maxLength: 30 }), rects: fc.array(fc.record({ x: unit, y: unit, width: unit, height: unit }), { maxLength: 2 }) }, { requiredKeys: ['text'] }));
    case 'threadId':
    case 'commentId':
    case 'id':
    case 'reactionId':
    case 'targetId':
      // Never the setup objects here: a valid comment:create or reaction:add on them would be a legitimate change.
      return idish;
    case 'body':
      return fc.string({ maxLength: 60 });
    case 'mentions':
      return fc.array(fc.constantFrom('alice', 'bob', 'mallory', 'nobody', ' padded '), { maxLength: 3 });
    case 'attachmentIds':
    case 'ids':
      return fc.array(idish, { maxLength: 3 });
    case 'resolved':
    case 'appearOffline':
    case 'all':
      return fc.boolean();
    case 'targetType':
      return fc.constantFrom('comment', 'thread');
    case 'emoji':
      return fc.constantFrom('👍', '🎉', '❤️', '🇫🇷', '1️⃣', 'a', ':+1:', '');
    case 'points':
      return fc.array(fc.tuple(unit, unit), { minLength: 1, maxLength: 6 });
    case 'color':
      return fc.constantFrom('#6366f1', '#000000', 'red', '#fff');
    case 'width':
      return fc.double({ min: 0.5, max: 64, noNaN: true });
    case 'status':
      return fc.constantFrom('online', 'idle', 'offline');
    case 'apiKey':
      return fc.constantFrom('pk_test', 'sk_test', '');
    case 'token':
      return fc.constantFrom('', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.sig');
    case 'room':
      return fc.constantFrom(ROOM, 'other-room', '');
    case 'deviceType':
      return fc.constantFrom('desktop', 'mobile', 'tablet', 'fridge');
    case 'version':
      return fc.constantFrom(1, 2, 1.5);
    default:
      return weirdValue;
  }
}

const FIELD_NAMES = [...new Set(clientMessageSchema.options.flatMap((o) => Object.keys(o.shape)))];

/** (3) One record per client message type, each field valid-ish or garbage, optional extra fields. */
const structuredMessage: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  ...clientMessageSchema.options.map((o) => {
    const type = o.shape.type.value as string;
    const keys = Object.keys(o.shape).filter((k) => k !== 'type');
    const model = Object.fromEntries(keys.map((k) => [k, fc.oneof({ weight: 3, arbitrary: validish(k, type) }, { weight: 2, arbitrary: weirdValue })]));
    return fc
      .tuple(fc.record(model, { requiredKeys: [] }), fc.option(fc.dictionary(fc.oneof(fc.constantFrom(...FIELD_NAMES), weirdString), weirdValue, { maxKeys: 2 }), { freq: 3 }))
      .map(([fields, extra]) => ({ type, ...fields, ...(extra ?? {}) }));
  }),
);

/** A JSON text with possibly duplicated and \u-escaped keys, from ordered entries. */
function jsonText(entries: [string, unknown, boolean?][]): string {
  const parts: string[] = [];
  for (const [k, v, escape] of entries) {
    const value = JSON.stringify(v);
    if (value === undefined) continue;
    const key = escape ? `"${[...k].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(k);
    parts.push(`${key}:${value}`);
  }
  return `{${parts.join(',')}}`;
}

const ATTACK_TYPES = ['thread:create', 'comment:edit', 'comment:delete', 'reaction:remove', 'thread:delete', 'thread:resolve', 'draw:clear'] as const;

type Entries = [string, unknown][];

/** (4) Valid requests aimed at the setup objects, then dropped / replaced / duplicated / renamed fields. */
function attackFrames(): fc.Arbitrary<string> {
  const threadId = fc.constantFrom(...setupIds.threads);
  const commentId = fc.constantFrom(...setupIds.comments);
  const reactionId = fc.constantFrom(...setupIds.reactions);
  const anySetupId = fc.constantFrom(...setupIds.threads, ...setupIds.comments, ...setupIds.reactions);
  const ref = fc.stringMatching(/^[a-z0-9]{1,12}$/).map((s) => `atk-${s}`);
  const base = fc.oneof<fc.Arbitrary<Entries>[]>(
    fc.record({
      ref,
      id: fc.oneof(threadId, idish),
      commentId: fc.option(fc.oneof(commentId, idish), { nil: undefined }),
      body: fc.constantFrom('hijack', 'x', '   '),
      mentions: fc.constantFrom([], ['alice'], ['bob', 'alice']),
      position: fc.constantFrom(null, { x: 0.25, y: 0.5 }),
    }).map(({ ref, id, commentId, body, mentions, position }): Entries => [['type', 'thread:create'], ['ref', ref], ['id', id], ...(commentId ? [['commentId', commentId] as [string, unknown]] : []), ['body', body], ['mentions', mentions], ['position', position]]),
    fc.tuple(ref, commentId, fc.constantFrom('pwned', '')).map(([r, c, b]): Entries => [['type', 'comment:edit'], ['ref', r], ['commentId', c], ['body', b]]),
    fc.tuple(ref, commentId).map(([r, c]): Entries => [['type', 'comment:delete'], ['ref', r], ['commentId', c]]),
    fc.tuple(ref, reactionId).map(([r, id]): Entries => [['type', 'reaction:remove'], ['ref', r], ['reactionId', id]]),
    fc.tuple(ref, threadId).map(([r, id]): Entries => [['type', 'thread:delete'], ['ref', r], ['threadId', id]]),
    fc.tuple(ref, threadId, fc.boolean()).map(([r, id, resolved]): Entries => [['type', 'thread:resolve'], ['ref', r], ['threadId', id], ['resolved', resolved]]),
    ref.map((r): Entries => [['type', 'draw:clear'], ['ref', r]]),
  );
  const replacement = fc.oneof(weirdValue, anySetupId, fc.constantFrom(...ATTACK_TYPES));
  const op = fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), i: fc.nat() }),
    fc.record({ kind: fc.constant('replace' as const), i: fc.nat(), v: replacement }),
    fc.record({ kind: fc.constant('add' as const), k: fc.oneof(fc.constantFrom(...FIELD_NAMES), weirdString), v: replacement }),
    fc.record({ kind: fc.constant('dup' as const), i: fc.nat(), v: replacement, before: fc.boolean() }),
    fc.record({ kind: fc.constant('escape' as const), i: fc.nat() }),
    fc.record({ kind: fc.constant('retype' as const), t: fc.constantFrom(...ATTACK_TYPES) }),
    fc.record({ kind: fc.constant('rename' as const), i: fc.nat(), k: fc.constantFrom('threadId', 'commentId', 'reactionId', 'targetId', 'id', 'Type', 'ref') }),
  );
  return fc.tuple(base, fc.array(op, { maxLength: 4 })).map(([entries, ops]) => {
    const e: [string, unknown, boolean?][] = entries.map(([k, v]) => [k, v]);
    for (const o of ops) {
      if (o.kind === 'add') {
        e.push([o.k, o.v]);
        continue;
      }
      if (o.kind === 'retype') {
        e[0] = ['type', o.t, e[0]?.[2]];
        continue;
      }
      if (e.length === 0) continue;
      const i = o.i % e.length;
      if (o.kind === 'drop') e.splice(i, 1);
      else if (o.kind === 'replace') e[i] = [e[i]![0], o.v, e[i]![2]];
      else if (o.kind === 'dup') e.splice(o.before ? i : i + 1, 0, [e[i]![0], o.v]);
      else if (o.kind === 'escape') e[i] = [e[i]![0], e[i]![1], true];
      else if (o.kind === 'rename') e[i] = [o.k, e[i]![1], e[i]![2]];
    }
    return jsonText(e);
  });
}

/** (1) Arbitrary JSON values, fast-check "anything" where JSON can carry it, and very deep nesting. */
const anyJson = fc
  .anything({ maxDepth: 4, withBoxedValues: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withObjectString: true })
  .map((v) => {
    try {
      return JSON.stringify(v);
    } catch {
      return undefined;
    }
  })
  .filter((s): s is string => typeof s === 'string');

const deepJson = fc.tuple(fc.constantFrom(6000, 12_000, 30_000), fc.constantFrom('array', 'object'), fc.constantFrom('whole', 'type', 'field', 'extra')).map(([depth, shape, where]) => {
  const deep = shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  if (where === 'whole') return deep;
  if (where === 'type') return `{"type":${deep}}`;
  if (where === 'field') return `{"type":"selection","selection":${deep}}`;
  return `{"type":"cursor:leave","deep":${deep}}`;
});

/** (2) Raw strings and byte-ish strings. */
const rawString = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constantFrom('', ' ', 'null', 'true', '0', '"auth"', '{', '}', '{"type":', '{"type":"auth"', '[]', '{}', '{"type":null}', '{"type":"cursor:leave"}x', '\ufeff{"type":"cursor:leave"}', '{"type":"cursor:leave",}', "{'type':'cursor:leave'}", 'NaN', '1e999', '-', '"\\ud800"'),
);

const byteFrames: fc.Arbitrary<Frame> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b): Frame => ({ category: 'binary', data: Buffer.from(b), binary: true })),
  fc.constantFrom('{"type":"cursor:leave"}', '{"type":"presence:heartbeat","ref":"b"}').map((s): Frame => ({ category: 'binary-json', data: Buffer.from(s), binary: true })),
);

/** Frames around the size caps: 64 KB, 64 KB + 1, near 1 MB, 1 MB + 1. */
function bigFrames(): Frame[] {
  const withBody = (bytes: number, ref = 'big') => {
    const shell = JSON.stringify({ type: 'comment:create', ref, threadId: 'big-thread', body: '' });
    return shell.replace('"body":""', `"body":"${'x'.repeat(bytes - shell.length)}"`);
  };
  const frames: Frame[] = [
    { category: 'big:64KB exactly, JSON', data: withBody(LIMITS.wsMessageBytes) },
    { category: 'big:64KB+1, JSON', data: withBody(LIMITS.wsMessageBytes + 1) },
    { category: 'big:64KB+1, not JSON', data: 'x'.repeat(LIMITS.wsMessageBytes + 1) },
    { category: 'big:64KB+1, binary', data: Buffer.alloc(LIMITS.wsMessageBytes + 1, 0x41), binary: true },
    { category: 'big:1MB-16, JSON', data: withBody(LIMITS.wsHardMessageBytes - 16) },
    { category: 'big:1MB exactly, JSON', data: withBody(LIMITS.wsHardMessageBytes) },
    { category: 'big:1MB exactly, not JSON', data: '['.repeat(LIMITS.wsHardMessageBytes) },
    { category: 'big:1MB+1, JSON', data: withBody(LIMITS.wsHardMessageBytes + 1) },
    { category: 'big:1MB+1, binary', data: Buffer.alloc(LIMITS.wsHardMessageBytes + 1, 0x20), binary: true },
  ];
  for (const b of [Buffer.from([0xff]), Buffer.from('{"type":"cursor:leave","x":"\xc3"}', 'latin1'), Buffer.from([0xed, 0xa0, 0x80])]) {
    frames.push({ category: 'invalid-utf8 text', data: b });
  }
  return frames;
}

// ------------------------------------------------------------------------------------------
// A raw socket with event-driven waits (polling every few ms would dominate the run time)

type Waiter = { pred: (m: any) => boolean; from: number; resolve: (r: number | 'closed' | 'timeout') => void; timer: NodeJS.Timeout };

class FuzzSocket {
  readonly ws: WebSocket;
  readonly inbox: any[] = [];
  readonly opened: Promise<void>;
  closed: { code: number; reason: string } | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #closeWaiters = new Set<() => void>();

  constructor(url: string, onMessage: (m: any, s: FuzzSocket) => void) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('error', () => {}); // e.g. EPIPE while the server drops an oversized frame
    this.ws.on('message', (d) => {
      let m: any;
      try {
        m = JSON.parse(d.toString());
      } catch {
        m = { type: '<server sent non-JSON>', raw: d.toString().slice(0, 200) };
      }
      this.inbox.push(m);
      onMessage(m, this);
      for (const w of this.#waiters) {
        if (this.inbox.length - 1 >= w.from && w.pred(m)) this.#settle(w, this.inbox.length - 1);
      }
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.#waiters) this.#settle(w, 'closed');
      for (const f of this.#closeWaiters) f();
    });
  }

  #settle(w: Waiter, r: number | 'closed' | 'timeout') {
    clearTimeout(w.timer);
    this.#waiters.delete(w);
    w.resolve(r);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(f: Frame): void {
    this.ws.send(f.data, { binary: !!f.binary });
  }

  /** Index in inbox of the first message (from `from` on) matching `pred`. */
  waitFor(pred: (m: any) => boolean, ms: number, from = 0): Promise<number | 'closed' | 'timeout'> {
    for (let i = from; i < this.inbox.length; i++) if (pred(this.inbox[i])) return Promise.resolve(i);
    if (this.closed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const w: Waiter = { pred, from, resolve, timer: setTimeout(() => this.#settle(w, 'timeout'), ms) };
      this.#waiters.add(w);
    });
  }

  waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#closeWaiters.delete(done);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#closeWaiters.delete(done);
        resolve(false);
      }, ms);
      this.#closeWaiters.add(done);
    });
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Property violations, grouped by kind, each with the exact frames that showed it. */
class Violations {
  readonly #byKind = new Map<string, string[]>();

  add(kind: string, detail: string): void {
    const list = this.#byKind.get(kind) ?? [];
    list.push(detail);
    this.#byKind.set(kind, list);
  }

  get size(): number {
    return [...this.#byKind.values()].reduce((n, l) => n + l.length, 0);
  }

  /** '' when there is nothing to report; else every kind with its count and a few examples. */
  summary(examples = 4): string {
    return [...this.#byKind]
      .map(([kind, list]) => `${list.length} × ${kind}\n${list.slice(0, examples).map((d) => `    e.g. ${d}`).join('\n')}`)
      .join('\n');
  }
}

/** A client-side mirror of the server's token buckets, so valid frames are paced below the limits. */
class Pacer {
  #msg = { tokens: 190, at: Date.now() };
  #durable = { tokens: 36, at: Date.now() };

  reset() {
    this.#msg = { tokens: 190, at: Date.now() };
    this.#durable = { tokens: 36, at: Date.now() };
  }

  async take(message: ClientMessage): Promise<void> {
    const durable = DURABLE_LIMITED.has(message.type);
    for (;;) {
      const now = Date.now();
      const refill = (b: { tokens: number; at: number }, cap: number, perS: number) => {
        b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * perS);
        b.at = now;
      };
      refill(this.#msg, 190, 90);
      refill(this.#durable, 36, 9);
      if (this.#msg.tokens >= 1 && (!durable || this.#durable.tokens >= 1)) {
        this.#msg.tokens -= 1;
        if (durable) this.#durable.tokens -= 1;
        return;
      }
      await sleep(durable ? 112 : 12);
    }
  }
}

// ------------------------------------------------------------------------------------------

describe('realtime protocol fuzzing (sqlite)', () => {
  let t: TestServer;
  let other: Awaited<ReturnType<TestServer['server']['ctx']['environments']['create']>>;
  let malloryToken: string;
  const consoleErrors: unknown[][] = [];
  const violations = new Violations();
  const unauthViolations = new Violations();
  /** Requests aimed at setup objects that the server acknowledged (i.e. carried out). */
  const attacksAcked: string[] = [];
  const stats = {
    frames: 0,
    invalid: 0,
    valid: 0,
    errorsForInvalid: 0,
    acks: 0,
    answerCodes: {} as Record<string, number>,
    closes: {} as Record<string, number>,
    reconnects: 0,
    unauthFrames: 0,
    unauthCloses: {} as Record<string, number>,
  };
  let before: Awaited<ReturnType<typeof snapshot>>;
  let countsBefore: { rooms: number; threads: number; users: number; comments: number };

  const bump = (o: Record<string, number>, k: string | number) => (o[k] = (o[k] ?? 0) + 1);
  const ok = async (p: Promise<{ status: number; body: any }>, status: number) => {
    const res = await p;
    if (res.status !== status) throw new Error(`setup request failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };

  /**
   * Resolving and reopening is open to everyone in the room by design (like Figma and
   * Liveblocks): a thread's `resolved` and `updatedAt` are the one thing mallory may change.
   */
  const withoutResolution = ({ resolved: _r, updatedAt: _u, ...rest }: any) => rest;

  async function snapshot() {
    const room = await ok(t.api('GET', `/api/v1/rooms/${ROOM}`), 200);
    const threads: Record<string, string> = {};
    const comments: Record<string, string> = {};
    const reactions: Record<string, string> = {};
    for (const id of setupIds.threads) {
      const full = await ok(t.api('GET', `/api/v1/threads/${id}`), 200);
      threads[id] = JSON.stringify({ ...full, thread: withoutResolution(full.thread) });
      comments[id] = JSON.stringify(await ok(t.api('GET', `/api/v1/threads/${id}/comments?limit=200`), 200));
    }
    for (const id of setupIds.reactions) reactions[id] = JSON.stringify(await t.server.ctx.store.getReaction(t.envId, id));
    return {
      room: JSON.stringify(room.room),
      threadsInRoom: JSON.stringify(room.threads.filter((x: any) => setupIds.threads.includes(x.id)).map(withoutResolution)),
      threads,
      comments,
      reactions,
    };
  }

  /** Checks every frame the server sends, whatever it answers. */
  const checkServerFrame = (where: Violations) => (m: any, s: FuzzSocket & { authenticated?: boolean }) => {
    if (m.type === '<server sent non-JSON>') where.add('server sent a non-JSON frame', m.raw);
    if (m.type === 'error' || m.type === 'auth:error') {
      if (!CATALOGUE.has(m.code)) where.add(`${m.type} with a code outside the catalogue`, JSON.stringify(m).slice(0, 300));
      if (typeof m.message !== 'string') where.add(`${m.type} without a message`, JSON.stringify(m).slice(0, 300));
      if (m.code === 'internal_error') where.add('internal_error answered', JSON.stringify(m).slice(0, 300));
    }
    if (m.type === 'auth:error' && s.authenticated) where.add('auth:error on an authenticated socket', JSON.stringify(m).slice(0, 300));
  };

  async function connectMallory(): Promise<FuzzSocket & { authenticated?: boolean }> {
    const s: FuzzSocket & { authenticated?: boolean } = new FuzzSocket(t.wsUrl, checkServerFrame(violations));
    await s.opened;
    s.send({ category: 'auth', data: JSON.stringify({ type: 'auth', apiKey: t.publishableKey, token: malloryToken, room: ROOM }) });
    const r = await s.waitFor((m) => m.type === 'auth:ok' || m.type === 'auth:error', ANSWER_TIMEOUT_MS);
    if (typeof r !== 'number' || s.inbox[r].type !== 'auth:ok') throw new Error(`mallory could not authenticate: ${JSON.stringify(typeof r === 'number' ? s.inbox[r] : r)}`);
    s.authenticated = true;
    s.inbox.length = 0;
    return s;
  }

  beforeAll(async () => {
    const realError = console.error;
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      consoleErrors.push(args);
      realError(...args);
    });
    t = await startTestServer('sqlite');
    other = await t.server.ctx.environments.create('Other');

    await ok(t.api('PUT', '/api/v1/users/alice', { name: 'Alice Chen', avatar: 'https://example.com/alice.png' }), 200);
    await ok(t.api('PUT', '/api/v1/users/bob', { name: 'Bob Smith' }), 200);
    const t1 = (await ok(t.api('POST', `/api/v1/rooms/${ROOM}/threads`, { id: 'alice-thread-1', userId: 'alice', body: 'Pinned note for @bob', mentions: ['bob'], position: { x: 0.25, y: 0.5, selector: '#main' } }), 201)).thread;
    await ok(t.api('POST', '/api/v1/threads/alice-thread-1/comments', { id: 'bob-reply-1', userId: 'bob', body: 'Reply from Bob' }), 201);
    await ok(t.api('POST', '/api/v1/threads/alice-thread-1/comments', { id: 'alice-reply-2', userId: 'alice', body: 'Thanks!' }), 201);
    const t2 = (await ok(t.api('POST', `/api/v1/rooms/${ROOM}/threads`, { id: 'bob-thread-2', userId: 'bob', body: 'Bob opens a thread', position: null }), 201)).thread;
    await ok(t.api('POST', '/api/v1/threads/bob-thread-2/comments', { id: 'alice-reply-3', userId: 'alice', body: 'Alice answers' }), 201);
    await ok(t.api('PATCH', '/api/v1/threads/bob-thread-2', { resolved: true }), 200);
    const t3 = (await ok(t.api('POST', `/api/v1/rooms/${ROOM}/threads`, { id: 'alice-thread-3', userId: 'alice', body: 'Open question', mentions: [] }), 201)).thread;
    const r1 = (await ok(t.api('POST', `/api/v1/comments/${t1.comments[0].id}/reactions`, { userId: 'bob', emoji: '👍' }), 201)).reaction;
    const r2 = (await ok(t.api('POST', '/api/v1/comments/bob-reply-1/reactions', { userId: 'alice', emoji: '🎉' }), 201)).reaction;
    const r3 = (await ok(t.api('POST', `/api/v1/comments/${t3.comments[0].id}/reactions`, { userId: 'alice', emoji: '❤️' }), 201)).reaction;
    setupIds.threads.push(t1.id, t2.id, t3.id);
    setupIds.comments.push(t1.comments[0].id, 'bob-reply-1', 'alice-reply-2', t2.comments[0].id, 'alice-reply-3', t3.comments[0].id);
    setupIds.reactions.push(r1.id, r2.id, r3.id);

    malloryToken = await mintToken(t, MALLORY, 'Mallory');
    // Mallory signs in again each time strikes close her socket (~170 times in a few seconds):
    // this suite is about the frames, not the sign-in rate (realtime-order.test.ts covers that).
    t.server.hub.signIns.burst = 10_000;
    before = await snapshot();
    countsBefore = (await t.server.ctx.environments.get(t.envId)).counts;
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.close();
  });

  it('answers ~3000 fuzzed frames from an authenticated user correctly, without dropping the socket', async () => {
    const started = Date.now();
    const frames: Frame[] = [
      ...fc.sample(fc.jsonValue(), { seed: 101, numRuns: 350 }).map((v): Frame => ({ category: 'jsonValue', data: JSON.stringify(v) })),
      ...fc.sample(anyJson, { seed: 102, numRuns: 300 }).map((s): Frame => ({ category: 'anything', data: s })),
      ...fc.sample(deepJson, { seed: 103, numRuns: 24 }).map((s): Frame => ({ category: 'deep', data: s })),
      ...fc.sample(rawString, { seed: 104, numRuns: 420 }).map((s): Frame => ({ category: 'raw string', data: s })),
      ...fc.sample(byteFrames, { seed: 105, numRuns: 80 }),
      ...fc.sample(structuredMessage, { seed: 106, numRuns: 1000 }).map((m): Frame => ({ category: 'structured', data: JSON.stringify(m) })),
      ...fc.sample(attackFrames(), { seed: 107, numRuns: 820 }).map((s): Frame => ({ category: 'mutated attack', data: s })),
      ...bigFrames(),
    ];
    // Interleave the categories deterministically so every connection sees a mix.
    const shuffled = fc.sample(fc.shuffledSubarray(frames, { minLength: frames.length, maxLength: frames.length }), { seed: 108, numRuns: 1 })[0]!;

    const lanes: Frame[][] = Array.from({ length: AUTH_WORKERS }, () => []);
    shuffled.forEach((f, i) => lanes[i % AUTH_WORKERS]!.push(f));

    const worker = async (lane: Frame[], w: number) => {
      let sock = await connectMallory();
      const pacer = new Pacer();
      let n = 0;
      /** Refusals this socket has collected: every invalid frame, every probe, every rate_limited. */
      let strikes = 0;
      const reconnect = async () => {
        sock.terminate();
        stats.reconnects++;
        sock = await connectMallory();
        pacer.reset();
        strikes = 0;
      };
      for (const frame of lane) {
        // The frame and its probe may both be refused: stay below the strike limit.
        if (!sock.open || strikes + 2 >= LIMITS.strikesPerConnection) await reconnect();
        const exp = expectationFor(frame);
        stats.frames++;
        if (exp.kind === 'valid') {
          stats.valid++;
          await pacer.take(exp.message);
        } else if (exp.kind === 'invalid') stats.invalid++;
        sock.inbox.length = 0;
        sock.send(frame);

        if (exp.kind === 'close') {
          const closed = await sock.waitClosed(ANSWER_TIMEOUT_MS);
          const code = sock.closed?.code;
          bump(stats.closes, `${code ?? 'none'}`);
          if (!closed || !exp.codes.includes(code!)) {
            violations.add(`frame above the hard cap not closed with ${exp.codes.join('/')}`, `got ${closed ? `close ${code}` : `no close; frames: ${JSON.stringify(sock.inbox).slice(0, 200)}`} for ${show(frame)}`);
          }
          await reconnect();
          continue;
        }

        const probeRef = `~probe:${w}:${n++}`;
        sock.send({ category: 'probe', data: JSON.stringify({ type: '~probe', ref: probeRef }) });
        const r = await sock.waitFor((m) => m.type === 'error' && m.ref === probeRef, ANSWER_TIMEOUT_MS);
        strikes += 1 + (exp.kind === 'invalid' ? 1 : 0) + sock.inbox.filter((m) => m.type === 'error' && m.code === 'rate_limited').length;
        if (r === 'closed') {
          const code = sock.closed!.code;
          bump(stats.closes, code);
          // A rate-limit close may follow any valid request; anything else drops a socket for a frame-level error.
          if (code !== CLOSE_CODES.RATE_LIMITED || exp.kind !== 'valid') {
            violations.add('socket closed after a frame', `close ${code} (${sock.closed!.reason}) after ${show(frame)}`);
          }
          continue;
        }
        if (r === 'timeout') {
          violations.add(`no answer within ${ANSWER_TIMEOUT_MS} ms to the probe`, show(frame));
          await reconnect();
          continue;
        }
        if (sock.inbox[r].code !== 'unknown_message_type') violations.add('probe answered wrongly', JSON.stringify(sock.inbox[r]));

        const window = sock.inbox.slice(0, r);
        const validationErrors = window.filter((m) => m.type === 'error' && VALIDATION_CODES.has(m.code));
        if (exp.kind === 'invalid') {
          if (validationErrors.length === 0) {
            violations.add('invalid frame without its error frame', `expected ${exp.codes.join('|')}, got ${JSON.stringify(window.filter((m) => m.type === 'error')).slice(0, 200)} for ${show(frame)}`);
          } else if (validationErrors.length > 1) {
            violations.add('several error frames for one invalid frame', `${validationErrors.length} for ${show(frame)}`);
          } else if (!exp.codes.includes(validationErrors[0].code)) {
            violations.add('unexpected error code for an invalid frame', `${validationErrors[0].code} where ${exp.codes.join('|')} was expected: ${show(frame)}`);
          } else {
            stats.errorsForInvalid++;
            bump(stats.answerCodes, validationErrors[0].code);
          }
          continue;
        }

        // A valid message: never refused by validation; answered when it asks for an answer.
        if (validationErrors.length > 0) violations.add('valid frame refused by validation', `${validationErrors[0].code} (${validationErrors[0].message}): ${show(frame)}`);
        const message = exp.message;
        const ref = 'ref' in message ? message.ref : undefined;
        if (!ref || !ANSWERED_WITH_REF.has(message.type)) continue;
        const a = await sock.waitFor((m) => (m.type === 'ack' || m.type === 'error') && m.ref === ref, ANSWER_TIMEOUT_MS);
        if (a === 'closed') {
          bump(stats.closes, sock.closed!.code);
          if (sock.closed!.code !== CLOSE_CODES.RATE_LIMITED) violations.add('socket closed while waiting for an answer', `close ${sock.closed!.code} for ${show(frame)}`);
          continue;
        }
        if (a === 'timeout') {
          violations.add(`no ack/error within ${ANSWER_TIMEOUT_MS} ms`, show(frame));
          continue;
        }
        const answer = sock.inbox[a];
        if (answer.type === 'ack') {
          stats.acks++;
          bump(stats.answerCodes, `ack:${message.type}`);
          const targets = [(message as any).threadId, (message as any).commentId, (message as any).reactionId, (message as any).id];
          const hitsSetup = targets.some((id) => [...setupIds.threads, ...setupIds.comments, ...setupIds.reactions].includes(id));
          if (hitsSetup || message.type === 'draw:clear') attacksAcked.push(`${message.type} acked: ${show(frame)}`);
        } else bump(stats.answerCodes, answer.code);
      }
      sock.terminate();
    };

    await Promise.all(lanes.map((lane, w) => worker(lane, w)));
    const elapsed = Date.now() - started;
    console.log(`[fuzz] authenticated: ${JSON.stringify({ ...stats, ms: elapsed, attacksAcked: attacksAcked.length })}`);

    expect(stats.frames).toBeGreaterThanOrEqual(2900);
    expect(violations.summary()).toBe('');
    expect(stats.errorsForInvalid).toBe(stats.invalid);
  }, 60_000);

  it('answers random first frames on unauthenticated sockets with auth:error and a 4400/4401/4403 close, never auth:ok', async () => {
    const realToken = malloryToken;
    const [head, payload, sig] = realToken.split('.') as [string, string, string];
    const tampered = `${head}.${payload}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    const otherToken = (await ok(t.api('POST', '/auth/token', { userId: MALLORY, name: 'Mallory' }, other.secretKey), 200)).token as string;
    // Auth messages that are well-formed but never carry a matching (key, token) pair of this environment.
    const badCredentials = fc.oneof(
      fc.record({ apiKey: fc.constant(t.publishableKey), token: fc.oneof(fc.constant(tampered), fc.constant(otherToken), fc.constant(`${head}.${payload}.`), fc.string({ maxLength: 40 })) }),
      fc.record({ apiKey: fc.oneof(fc.constant(t.secretKey), fc.constant(other.publishableKey), fc.constant(`${t.publishableKey}x`), fc.string({ maxLength: 40 })), token: fc.constant(realToken) }),
      fc.record({ apiKey: fc.string({ maxLength: 40 }), token: fc.string({ maxLength: 40 }) }),
    );
    const authish = fc
      .tuple(badCredentials, fc.option(fc.dictionary(fc.constantFrom('room', 'deviceType', 'version', 'ref', 'extra'), weirdValue, { maxKeys: 3 }), { freq: 2 }), fc.constantFrom(ROOM, 'elsewhere', ''))
      .map(([cred, extra, room]) => JSON.stringify({ type: 'auth', ...cred, room, ...(extra ?? {}) }));

    const frames: Frame[] = [
      ...fc.sample(fc.jsonValue(), { seed: 201, numRuns: 60 }).map((v): Frame => ({ category: 'unauth jsonValue', data: JSON.stringify(v) })),
      ...fc.sample(rawString, { seed: 202, numRuns: 50 }).map((s): Frame => ({ category: 'unauth raw string', data: s })),
      ...fc.sample(structuredMessage, { seed: 203, numRuns: 90 }).map((m): Frame => ({ category: 'unauth structured', data: JSON.stringify(m) })),
      ...fc.sample(authish, { seed: 204, numRuns: 90 }).map((s): Frame => ({ category: 'unauth bad auth', data: s })),
      ...fc.sample(deepJson, { seed: 205, numRuns: 6 }).map((s): Frame => ({ category: 'unauth deep', data: s })),
      ...fc.sample(byteFrames, { seed: 206, numRuns: 6 }),
      { category: 'unauth 64KB+1 JSON', data: JSON.stringify({ type: 'auth', apiKey: 'pk', token: 'x'.repeat(LIMITS.wsMessageBytes), room: ROOM }) },
      { category: 'unauth 1MB+1', data: 'x'.repeat(LIMITS.wsHardMessageBytes + 1) },
    ];
    stats.unauthFrames = frames.length;

    const tryOne = async (frame: Frame) => {
      const s = new FuzzSocket(t.wsUrl, checkServerFrame(unauthViolations));
      await s.opened;
      s.send(frame);
      const closed = await s.waitClosed(UNAUTH_CLOSE_TIMEOUT_MS);
      const code = s.closed?.code;
      bump(stats.unauthCloses, closed ? code! : 'none');
      if (s.inbox.some((m) => m.type === 'auth:ok')) unauthViolations.add('auth:ok for a bad first frame', show(frame));
      if (byteLength(frame) > LIMITS.wsHardMessageBytes) {
        if (!closed || (code !== 1009 && code !== CLOSE_CODES.MESSAGE_TOO_BIG)) unauthViolations.add('frame above the hard cap not closed with 1009/4413', `got ${closed ? code : 'no close'} for ${show(frame)}`);
      } else {
        const answer = s.inbox.find((m) => m.type === 'auth:error' || m.type === 'error');
        if (!answer) unauthViolations.add('no auth:error/error for a bad first frame', `got ${JSON.stringify(s.inbox).slice(0, 200)} for ${show(frame)}`);
        if (!closed) unauthViolations.add(`socket still open ${UNAUTH_CLOSE_TIMEOUT_MS} ms after a bad first frame`, `answered ${JSON.stringify(answer)} to ${show(frame)}`);
        else if (![CLOSE_CODES.BAD_REQUEST, CLOSE_CODES.UNAUTHORIZED, CLOSE_CODES.FORBIDDEN].includes(code as never)) {
          unauthViolations.add('bad first frame closed with a code other than 4400/4401/4403', `close ${code} (${s.closed!.reason}) for ${show(frame)}`);
        }
      }
      if (!closed) s.terminate();
    };

    for (let i = 0; i < frames.length; i += UNAUTH_PARALLEL) await Promise.all(frames.slice(i, i + UNAUTH_PARALLEL).map(tryOne));
    console.log(`[fuzz] unauthenticated: ${JSON.stringify({ frames: stats.unauthFrames, closes: stats.unauthCloses })}`);
    expect(frames.length).toBeGreaterThanOrEqual(300);
    expect(unauthViolations.summary()).toBe('');
  }, 60_000);

  it("leaves alice's and bob's threads, comments and reactions byte-for-byte unchanged", async () => {
    const after = await snapshot();
    // Requests the server acknowledged that touch alice's and bob's objects come first (draw:clear has no target).
    const allowed = (a: string) => a.startsWith('draw:clear') || a.startsWith('thread:resolve');
    const carriedOut = [...attacksAcked.filter((a) => !allowed(a)), ...attacksAcked.filter(allowed)];
    expect(after, `requests on setup objects the server carried out:\n${carriedOut.slice(0, 15).join('\n')}`).toEqual(before);
  });

  it('changes nothing but mallory’s own objects, in room "fuzz" only, and nothing in another environment', async () => {
    const threads = await t.server.ctx.store.listRoomThreadsWithComments(t.envId, ROOM);
    const extra = threads.filter((th) => !setupIds.threads.includes(th.id));
    const strangers = extra.filter((th) => th.comments[0]?.userId !== MALLORY).map((th) => th.id);
    expect(strangers, 'threads in room fuzz neither from setup nor started by mallory').toEqual([]);
    const malloryComments = threads.flatMap((th) => th.comments).filter((c) => c.userId === MALLORY);
    const otherNewComments = threads
      .flatMap((th) => th.comments)
      .filter((c) => c.userId !== MALLORY && !setupIds.comments.includes(c.id))
      .map((c) => c.id);
    expect(otherNewComments, 'comments neither from setup nor written by mallory').toEqual([]);

    const counts = (await t.server.ctx.environments.get(t.envId)).counts;
    expect(counts).toEqual({
      rooms: countsBefore.rooms,
      threads: countsBefore.threads + extra.length,
      comments: countsBefore.comments + malloryComments.length,
      users: countsBefore.users + 1, // mallory, upserted by her first auth
    });
    const rooms = await ok(t.api('GET', '/api/v1/rooms?limit=200'), 200);
    expect(rooms.items.map((r: any) => r.id)).toEqual([ROOM]);
    const users = await ok(t.api('GET', '/api/v1/users?limit=200'), 200);
    expect(users.items.map((u: any) => u.externalId).sort()).toEqual(['alice', 'bob', MALLORY]);

    expect((await t.server.ctx.environments.get(other.id)).counts).toEqual({ rooms: 0, threads: 0, users: 0, comments: 0 });
    expect((await ok(t.api('GET', '/api/v1/rooms', undefined, other.secretKey), 200)).items).toEqual([]);
  });

  it('is still healthy: /healthz 200, a fresh client authenticates, no handler logged an error', async () => {
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    const s = new FuzzSocket(t.wsUrl, () => {});
    await s.opened;
    s.send({ category: 'auth', data: JSON.stringify({ type: 'auth', apiKey: t.publishableKey, token: await mintToken(t, 'bob', 'Bob Smith'), room: ROOM }) });
    const r = await s.waitFor((m) => m.type === 'auth:ok' || m.type === 'auth:error', ANSWER_TIMEOUT_MS);
    expect(typeof r === 'number' ? s.inbox[r].type : r).toBe('auth:ok');
    expect((s.inbox[r as number].room.threads as any[]).filter((th) => setupIds.threads.includes(th.id))).toHaveLength(setupIds.threads.length);
    s.terminate();
    expect(consoleErrors.map((a) => a.map(String).join(' ').slice(0, 300))).toEqual([]);
  });
});
