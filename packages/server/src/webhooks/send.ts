import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { VERSION } from '../version.ts';
import { guardedLookup, type AddressPolicy } from './ssrf.ts';

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
}

type Answer = { status: number; location: string | undefined; retryAfter: string | undefined; text: string };

const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/**
 * POSTs one signed webhook. Every hop (the URL and each redirect, at most `maxRedirects`) must be
 * http(s) and resolve to an address the policy allows; the whole exchange has one deadline.
 * Never throws: the outcome, with the start of the response body, is returned.
 */
export async function sendWebhook(target: string, body: string, headers: Record<string, string>, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const done = (partial: Omit<SendResult, 'latencyMs' | 'retryAfterMs'>, retryAfterMs: number | null = null): SendResult => ({
    ...partial,
    latencyMs: performance.now() - started,
    retryAfterMs,
  });
  let url = target;
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
      if (reason) return done({ ok: false, statusCode: null, error: `refused: ${reason}`, response: null });
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
      url = new URL(answer.location, parsed).toString();
      continue;
    }
    const ok = answer.status >= 200 && answer.status < 300;
    return done({ ok, statusCode: answer.status, error: ok ? null : `HTTP ${answer.status}`, response: answer.text || null }, ok ? null : parseRetryAfter(answer.retryAfter));
  }
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
 * One request, destroyed when `timeoutMs` runs out or `options.signal` aborts. A timer and one
 * listener rather than `signal: AbortSignal.any([AbortSignal.timeout(…), …])` on the request:
 * that doubled the CPU of a delivery (~100 µs against ~60 on a keep-alive connection).
 */
function post(url: URL, body: string, headers: Record<string, string>, options: SendOptions, timeoutMs: number) {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<Answer>((resolvePost, rejectPost) => {
    let timedOut = false;
    const deadline = performance.now() + timeoutMs;
    let timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new TimedOut());
    }, timeoutMs);
    const onAbort = () => req.destroy(new Error('aborted: the server is shutting down'));
    const settle = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const resolve = (value: Answer) => {
      settle();
      resolvePost(value);
    };
    /** Set once the status has come: the exchange ends with it, whatever happens to the body. */
    let keep: (() => void) | undefined;
    const reject = (err: unknown) => {
      if (keep) return keep();
      settle();
      rejectPost(timedOut ? new TimedOut() : err);
    };
    const req = transport.request(
      url,
      {
        method: 'POST',
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup: guardedLookup(options.policy) as never,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': `Pulse-Webhooks/${VERSION}`,
          ...headers,
        },
      },
      (res) => {
        const maxBytes = options.responseChars * 4;
        const chunks: Buffer[] = [];
        let bytes = 0;
        const finish = () => {
          const text = Buffer.concat(chunks).toString('utf8').slice(0, options.responseChars);
          resolve({ status: res.statusCode ?? 0, location: res.headers.location, retryAfter: res.headers['retry-after'], text });
        };
        // The status is the answer: a body still coming gets a short while, then what came is kept
        // (a receiver that says 200 at once and works on must not be sent the event again).
        keep = () => {
          res.destroy();
          finish();
        };
        clearTimeout(timer);
        timer = setTimeout(keep, Math.max(0, Math.min(RESPONSE_BODY_GRACE_MS, deadline - performance.now())));
        res.on('data', (chunk: Buffer) => {
          if (bytes >= maxBytes) return;
          chunks.push(chunk.subarray(0, maxBytes - bytes));
          bytes += chunk.length;
          // Enough kept: the rest is not read (the socket is closed, not reused).
          if (bytes >= maxBytes) {
            res.destroy();
            finish();
          }
        });
        res.on('end', finish);
        res.on('error', keep);
      },
    );
    req.on('error', reject);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
