import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived the last full collection, in
 * percent, for `pulse start`. V8's own choice under load was about 270 %: a busy server promotes
 * garbage steadily (a request waiting its turn outlives two scavenges), and its RSS swung by
 * 150 MB between full collections at twice the saturation rate. At 100 % it grew by 57 MB, with
 * as many comments acknowledged; at 50 % by 45 MB, but the more frequent full collections showed
 * in the delivery p99 at 500 comments/s (bench/README.md, round 30).
 */
export const HEAP_GROWING_PERCENT = 100;

/**
 * Bounds the heap's growth (V8's --heap-growing-percent, read at every collection, so it may be
 * set at run time) unless the process was started with a value of its own. True if it set it.
 */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv, setFlags: (flags: string) => void = setFlagsFromString): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return false;
  setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
