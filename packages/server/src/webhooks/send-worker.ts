import { setMaxListeners } from 'node:events';
import { readlinkSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { WEBHOOK_POLICY } from '@pulse/protocol';
import { notSent, pauseMs, sendWebhook, SHUTTING_DOWN, type SendResult } from './send.ts';
import { webhookHeaders } from './signing.ts';
import { allowAll, defaultAddressPolicy } from './ssrf.ts';

/** One delivery attempt, as the dispatcher hands it to the sending thread. */
export interface SendJob {
  n: number;
  url: string;
  payload: string;
  eventId: string;
  /** The endpoint's secret, then its previous one while a rotation is in its grace period. */
  secrets: string[];
  timeoutMs: number;
  allowPrivate: boolean;
  /** Jobs of one endpoint start in the order handed over, at most `concurrency` at a time. */
  endpointId: string;
  concurrency: number;
  /**
   * Not started after this time (ms since the epoch): answered as not sent and `expired` (its
   * claim would run short), and so are the endpoint's jobs behind it and those that follow, until
   * one comes with `resume` (the dispatcher has seen the answer): they stay in order. The same
   * for the jobs behind an answer with `Retry-After`, as not sent and `paused`.
   */
  startBy: number;
  resume?: boolean;
}

export interface SenderOptions {
  /**
   * Requests in flight, all endpoints together; and as many again for slow ones: a request not
   * answered within `slowAfterMs` (or its timeout, if shorter) moves to that second share while
   * it has room, and its endpoint's next requests start there until one is answered in time.
   * Hung receivers then hold the slots of those that answer only until they are known to be
   * slow, and only while more of them hang than the second share holds.
   */
  maxInFlight: number;
  slowAfterMs: number;
}

/** `drop`: answer the jobs not started yet as not sent (shutdown); `abort`: cut the requests in flight. */
export type SenderMessage = { jobs: SendJob[] } | { drop: true } | { abort: true };
export type SenderAnswer = { results: [n: number, result: SendResult][] };

/**
 * Background work: this thread yields the CPU to the server's own thread (comments, cursors) when
 * both want it. Linux lets one thread of a process lower its own priority (its id is the last
 * part of /proc/thread-self); elsewhere it runs at the process's priority.
 */
function lowerOwnPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, constants.priority.PRIORITY_LOW);
  } catch {
    // Not Linux, or not allowed: the same priority as the rest of the process.
  }
}

const port = parentPort!;
const { maxInFlight, slowAfterMs } = (workerData as { options: SenderOptions }).options;
const abort = new AbortController();
// Every request in flight listens for the shutdown (maxInFlight bounds how many there are).
setMaxListeners(0, abort.signal);
let answers: SenderAnswer['results'] = [];

function answer(n: number, result: SendResult): void {
  // Answers that arrive together go back as one message.
  if (answers.length === 0) setImmediate(() => port.postMessage({ results: answers.splice(0) } satisfies SenderAnswer));
  answers.push([n, result]);
}

const EXPIRED: SendResult = { ...notSent('not sent: its claim would run out before the attempt ends'), expired: true };
const PAUSED: SendResult = { ...notSent('not sent: the receiver asked to be left alone for a while (Retry-After)'), paused: true };

/**
 * Jobs waiting for a request slot, per endpoint. The queues live here, not in the server's thread:
 * the next request of an endpoint starts as soon as one ends, without waiting for that thread
 * (busy with writes) to hand it over, so an endpoint's throughput does not fall with the server's load.
 */
const queues = new Map<string, SendJob[]>();
const active = new Map<string, number>();
/**
 * Endpoints whose jobs are given back (see SendJob.startBy), with how, until one comes with
 * `resume`, but not before `until` (performance.now(); a `Retry-After` pause): a `resume` handed
 * over before the dispatcher saw the answer that paused it ends nothing.
 */
const stopped = new Map<string, { why: SendResult; until: number }>();
/** Endpoints whose last request was not answered within slowAfterMs (see SenderOptions). */
const slow = new Set<string>();
/** Requests in flight in each share of maxInFlight. */
const inFlight = { answering: 0, slow: 0 };

/** Gives back every job of the endpoint waiting here, and those that follow until it resumes. */
function stop(endpointId: string, why: SendResult, until = 0): void {
  for (const job of queues.get(endpointId) ?? []) answer(job.n, why);
  queues.delete(endpointId);
  stopped.set(endpointId, { why, until: Math.max(until, stopped.get(endpointId)?.until ?? 0) });
}

/**
 * Starts what the free slots allow: one job per endpoint in turn, round after round, the endpoint
 * that started one moved to the back of the line, so that endpoints with long queues do not keep
 * the others waiting.
 */
function pump(): void {
  let started = true;
  while (started) {
    started = false;
    for (const endpointId of [...queues.keys()]) {
      const queue = queues.get(endpointId)!;
      // Checked with no request slot free too: a job is given back while its claim still holds.
      if (Date.now() > queue[0]!.startBy) stop(endpointId, EXPIRED);
      else if (inFlight[slow.has(endpointId) ? 'slow' : 'answering'] < maxInFlight && (active.get(endpointId) ?? 0) < queue[0]!.concurrency) {
        start(endpointId, queue.shift()!);
        started = true;
        queues.delete(endpointId);
        if (queue.length) queues.set(endpointId, queue);
      }
    }
  }
}

let pumpScheduled = false;

/** Pumps once the timers due now have run: requests started together turn slow together. */
function pumpSoon(): void {
  if (pumpScheduled) return;
  pumpScheduled = true;
  setImmediate(() => {
    pumpScheduled = false;
    pump();
  });
}

function start(endpointId: string, job: SendJob): void {
  active.set(endpointId, (active.get(endpointId) ?? 0) + 1);
  let share: keyof typeof inFlight = slow.has(endpointId) ? 'slow' : 'answering';
  inFlight[share]++;
  // A request that times out sooner is slow too.
  const slowAfter = Math.min(slowAfterMs, job.timeoutMs);
  const slowTimer = setTimeout(() => {
    slow.add(endpointId);
    // With the slow share full it keeps its slot: never more than twice maxInFlight in flight.
    if (share === 'slow' || inFlight.slow >= maxInFlight) return;
    inFlight.answering--;
    inFlight.slow++;
    share = 'slow';
    pumpSoon();
  }, slowAfter);
  void run(job, slowAfter).then((answeredSlowly) => {
    clearTimeout(slowTimer);
    inFlight[share]--;
    if (answeredSlowly) slow.add(endpointId);
    else slow.delete(endpointId);
    const left = active.get(endpointId)! - 1;
    if (left > 0) active.set(endpointId, left);
    else active.delete(endpointId);
    pump();
  });
}

/** Sends one job and answers it; resolves to whether it took `slowAfter` or more (never rejects). */
async function run(job: SendJob, slowAfter: number): Promise<boolean> {
  const started = performance.now();
  let result: SendResult;
  try {
    const headers = webhookHeaders(job.secrets, job.eventId, job.payload);
    result = await sendWebhook(job.url, job.payload, headers, {
      timeoutMs: job.timeoutMs,
      policy: job.allowPrivate ? allowAll : defaultAddressPolicy,
      maxRedirects: WEBHOOK_POLICY.maxRedirects,
      responseChars: WEBHOOK_POLICY.responseBodyChars,
      signal: abort.signal,
    });
  } catch (err) {
    // A job this thread cannot sign or send fails alone; the thread goes on with the others.
    result = { ok: false, statusCode: null, error: `not sent: ${(err as Error).message}`, latencyMs: performance.now() - started, response: null, retryAfterMs: null };
  }
  const answeredSlowly = performance.now() - started >= slowAfter;
  answer(job.n, { ...result, slow: answeredSlowly });
  // The receiver asked to be left alone: nothing more is sent to it until the dispatcher, told
  // so by this answer, hands over a job that resumes (once the time asked for has passed).
  if (!result.ok && result.retryAfterMs) stop(job.endpointId, PAUSED, performance.now() + pauseMs(result.retryAfterMs));
  return answeredSlowly;
}

lowerOwnPriority();
// Jobs waiting for a slot are looked at now and then even when no request ends (all hung).
setInterval(() => queues.size && pump(), 1000).unref();
port.on('message', (message: SenderMessage) => {
  if ('abort' in message) abort.abort();
  else if ('drop' in message) {
    for (const queue of queues.values()) for (const job of queue) answer(job.n, notSent(SHUTTING_DOWN));
    queues.clear();
  } else {
    for (const job of message.jobs) {
      const stop = stopped.get(job.endpointId);
      if (stop && job.resume && stop.until <= performance.now()) stopped.delete(job.endpointId);
      else if (stop) {
        answer(job.n, stop.why);
        continue;
      }
      const queue = queues.get(job.endpointId);
      if (queue) queue.push(job);
      else queues.set(job.endpointId, [job]);
    }
    pump();
  }
});
