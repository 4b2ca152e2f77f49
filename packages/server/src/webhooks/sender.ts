import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notSent, SHUTTING_DOWN, type SendResult } from './send.ts';
import type { SendJob, SenderAnswer, SenderMessage, SenderOptions } from './send-worker.ts';

/** send-worker.ts from the sources, send-worker.js once built. */
const entry = new URL(`./send-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

/**
 * Sends webhook requests from a thread of their own, at a lower priority than the server's thread:
 * signing, connecting and reading answers (most of a delivery's CPU) then never delay a comment's
 * ack. Attempts handed over in one tick go as one message, and their answers come back together.
 * The thread starts each endpoint's attempts in order, `concurrency` at a time, and shares its request
 * slots between endpoints in turn, hung ones apart from those that answer (SenderOptions).
 */
export class WebhookSender {
  readonly #options: SenderOptions;
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, (result: SendResult) => void>();
  #next = 0;
  #batch: SendJob[] = [];

  constructor(options: SenderOptions) {
    this.#options = options;
  }

  send(job: Omit<SendJob, 'n'>): Promise<SendResult> {
    const n = this.#next++;
    if (this.#batch.length === 0) queueMicrotask(() => this.#post({ jobs: this.#batch.splice(0) }));
    this.#batch.push({ ...job, n });
    return new Promise((resolve) => this.#waiting.set(n, resolve));
  }

  /** Starts the thread ahead of the first delivery (loading it takes a few hundred milliseconds). */
  warm(): void {
    this.#worker ??= this.#start();
  }

  /** Answers the attempts not started yet as not sent (shutdown); those in flight go on. */
  drop(): void {
    for (const job of this.#batch.splice(0)) this.#settle(job.n, notSent(SHUTTING_DOWN));
    this.#worker?.postMessage({ drop: true } satisfies SenderMessage);
  }

  /** Cuts every request in flight (shutdown). */
  abort(): void {
    this.#worker?.postMessage({ abort: true } satisfies SenderMessage);
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#settleAll(SHUTTING_DOWN);
    await worker?.terminate();
  }

  #post(message: SenderMessage): void {
    if ('jobs' in message && message.jobs.length === 0) return;
    const worker = (this.#worker ??= this.#start());
    worker.ref();
    worker.postMessage(message);
  }

  #start(): Worker {
    const worker = new Worker(new URL('./send-worker.mjs', import.meta.url), { workerData: { entry, options: this.#options } });
    worker.unref();
    worker.on('message', ({ results }: SenderAnswer) => {
      for (const [n, result] of results) this.#settle(n, result);
      if (this.#waiting.size === 0) worker.unref();
    });
    // A thread that dies settles its jobs as not sent (their claims are let go, to be sent again); the next send starts a new one.
    const died = (reason: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#settleAll(reason);
    };
    worker.on('error', (err) => died(`the webhook sending thread failed: ${err.message}`));
    worker.on('exit', (code) => died(`the webhook sending thread exited (${code})`));
    return worker;
  }

  #settle(n: number, result: SendResult): void {
    this.#waiting.get(n)?.(result);
    this.#waiting.delete(n);
  }

  #settleAll(reason: string): void {
    // Jobs not posted yet are settled too, and not posted later (to a new thread) after all.
    this.#batch = [];
    for (const resolve of this.#waiting.values()) resolve(notSent(reason));
    this.#waiting.clear();
  }
}
