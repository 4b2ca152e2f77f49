import { isIP, type LookupFunction } from 'node:net';
import { WEBHOOK_POLICY } from '@pulse/protocol';
import { VERSION } from '../version.ts';
import { Http1Client, Http1Timeout } from './http1-client.ts';
import { ALLOW_PRIVATE_HINT, guardedLookup, type AddressPolicy } from './ssrf.ts';

export interface SendOptions {
  timeoutMs: number;
  policy: AddressPolicy;
  maxRedirects: number;
  /** Characters of the response body kept. */
  responseChars: number;
  /** Aborts the request (shutdown). */
  signal?: AbortSignal;
}

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  latencyMs: number;
  response: string | null;
  /** How long a refusing receiver asked to be left alone (its `Retry-After`), or null. */
  retryAfterMs: number | null;
  /** Its outcome is unknown (the sending thread stopped under it): not counted as an attempt. */
  notSent?: boolean;
  /** Not sent because it could not start before its claim ran short (see SendJob.startBy). */
  expired?: boolean;
  /** Not sent because the receiver asked to be left alone (a `Retry-After` of an attempt before it). */
  paused?: boolean;
  /** Answered (or failed) only after the sending thread's slowAfterMs: its endpoint counts as slow (SenderOptions). */
  slow?: boolean;
}

/** An attempt that was not made (see SendResult.notSent). */
export const notSent = (error: string): SendResult => ({ ok: false, statusCode: null, error, latencyMs: 0, response: null, retryAfterMs: null, notSent: true });

/** How long a node leaves an endpoint alone after a refusal with `Retry-After` (see WEBHOOK_POLICY.maxPauseMs). */
export const pauseMs = (retryAfterMs: number) => Math.min(retryAfterMs, WEBHOOK_POLICY.maxPauseMs);

/** Why attempts not started yet are given back on shutdown. */
export const SHUTTING_DOWN = 'the server is shutting down';

type Answer = { status: number; location: string | undefined; retryAfter: string | undefined; text: string };

const client = new Http1Client();

/** What a receiver answered, as text a database stores: PostgreSQL's text holds no NUL character (a binary body may). */
const storable = (text: string | null) => (text === null ? null : text.replaceAll('\u0000', '\uFFFD'));

/**
 * POSTs one signed webhook. Every hop (the URL and each redirect, at most `maxRedirects`) must be
 * http(s) and resolve to an address the policy allows; a redirect must stay on the endpoint's
 * origin (or only move it from http to https): the signed body goes wherever a redirect points, and
 * an open redirect on the receiver's site would hand it to a stranger. The whole exchange has one
 * deadline. Never throws: the outcome, with the start of the response body, is returned.
 */
export async function sendWebhook(target: string, body: string, headers: Record<string, string>, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const done = (partial: Omit<SendResult, 'latencyMs' | 'retryAfterMs'>, retryAfterMs: number | null = null): SendResult => ({
    ...partial,
    response: storable(partial.response),
    error: storable(partial.error),
    latencyMs: performance.now() - started,
    retryAfterMs,
  });
  let url = target;
  let redirectStatus: number | null = null;
  let redirectText: string | null = null;
  for (let hop = 0; ; hop++) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return done({ ok: false, statusCode: null, error: `invalid URL: ${url}`, response: null });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      return done({ ok: false, statusCode: null, error: `refused: ${parsed.protocol} URLs are not allowed (http and https only)`, response: null });
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host)) {
      const reason = options.policy(host);
      if (reason) return done({ ok: false, statusCode: null, error: `refused: ${reason}; ${ALLOW_PRIVATE_HINT}`, response: null });
    }
    if (hop > 0 && !sameSite(new URL(target), parsed)) {
      return done({ ok: false, statusCode: redirectStatus, error: `refused: redirected to another origin (${parsed.origin}); point the endpoint at the final URL`, response: redirectText });
    }
    let answer: Answer;
    const left = started + options.timeoutMs - performance.now();
    try {
      if (left <= 0) throw new TimedOut();
      answer = await post(parsed, body, headers, options, left);
    } catch (err) {
      const error = err instanceof TimedOut ? `timed out after ${options.timeoutMs} ms` : (err as Error).message || String(err);
      return done({ ok: false, statusCode: null, error, response: null });
    }
    if (answer.status >= 300 && answer.status < 400 && answer.location) {
      if (hop >= options.maxRedirects) {
        return done({ ok: false, statusCode: answer.status, error: `more than ${options.maxRedirects} redirects`, response: answer.text || null });
      }
      redirectStatus = answer.status;
      redirectText = answer.text || null;
      try {
        url = new URL(answer.location, parsed).toString();
      } catch {
        return done({ ok: false, statusCode: answer.status, error: `invalid redirect location: ${answer.location.slice(0, 200)}`, response: answer.text || null });
      }
      continue;
    }
    const ok = answer.status >= 200 && answer.status < 300;
    return done({ ok, statusCode: answer.status, error: ok ? null : `HTTP ${answer.status}`, response: answer.text || null }, ok ? null : parseRetryAfter(answer.retryAfter));
  }
}

/** The endpoint's own origin, or the same host and default port moved from http to https. */
function sameSite(endpoint: URL, hop: URL): boolean {
  if (hop.origin === endpoint.origin) return true;
  return endpoint.protocol === 'http:' && hop.protocol === 'https:' && hop.hostname === endpoint.hostname && endpoint.port === '' && hop.port === '';
}

class TimedOut extends Error {}

/** How long a response body may take once the status has come (within the request's deadline). */
const RESPONSE_BODY_GRACE_MS = 1000;

/** A `Retry-After` header (seconds, or an HTTP date) as milliseconds from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // HTTP dates start with the day's name ("Fri, 04 Dec 2026 12:00:00 GMT").
  if (!/^[A-Za-z]/.test(trimmed)) return null;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * One request on the module's keep-alive connections. The body is read for at most
 * RESPONSE_BODY_GRACE_MS once the status has come (within the deadline), and at most
 * `responseChars * 4` bytes of it are kept.
 */
async function post(url: URL, body: string, headers: Record<string, string>, options: SendOptions, timeoutMs: number): Promise<Answer> {
  try {
    const answer = await client.post({
      url,
      body,
      headers: { 'content-type': 'application/json', 'user-agent': `Pulse-Webhooks/${VERSION}`, ...headers },
      lookup: guardedLookup(options.policy) as LookupFunction,
      bodyCap: options.responseChars * 4,
      timeoutMs,
      bodyGraceMs: RESPONSE_BODY_GRACE_MS,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const text = answer.body.toString('utf8').slice(0, options.responseChars);
    return { status: answer.status, location: answer.headers.location, retryAfter: answer.headers['retry-after'], text };
  } catch (err) {
    throw err instanceof Http1Timeout ? new TimedOut() : err;
  }
}
