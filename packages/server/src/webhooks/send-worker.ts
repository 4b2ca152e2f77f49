import { setMaxListeners } from 'node:events';
import { readlinkSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { WEBHOOK_POLICY } from '@pulse/protocol';
import { sendWebhook, type SendResult } from './send.ts';
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
}

export type SenderMessage = { jobs: SendJob[] } | { abort: true };
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
const abort = new AbortController();
// Every request in flight listens for the shutdown (the dispatcher bounds how many there are).
setMaxListeners(0, abort.signal);
let answers: SenderAnswer['results'] = [];

function answer(n: number, result: SendResult): void {
  // Answers that arrive together go back as one message.
  if (answers.length === 0) setImmediate(() => port.postMessage({ results: answers.splice(0) } satisfies SenderAnswer));
  answers.push([n, result]);
}

async function run(job: SendJob): Promise<void> {
  const started = performance.now();
  try {
    const headers = webhookHeaders(job.secrets, job.eventId, job.payload);
    answer(
      job.n,
      await sendWebhook(job.url, job.payload, headers, {
        timeoutMs: job.timeoutMs,
        policy: job.allowPrivate ? allowAll : defaultAddressPolicy,
        maxRedirects: WEBHOOK_POLICY.maxRedirects,
        responseChars: WEBHOOK_POLICY.responseBodyChars,
        signal: abort.signal,
      }),
    );
  } catch (err) {
    // A job this thread cannot sign or send fails alone; the thread goes on with the others.
    answer(job.n, { ok: false, statusCode: null, error: `not sent: ${(err as Error).message}`, latencyMs: performance.now() - started, response: null, retryAfterMs: null });
  }
}

lowerOwnPriority();
port.on('message', (message: SenderMessage) => {
  if ('abort' in message) abort.abort();
  else for (const job of message.jobs) void run(job);
});
