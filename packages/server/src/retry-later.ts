import { PulseError, type ErrorCode } from '@pulse/protocol';

/**
 * A refusal that passes: the REST error handler answers it with a Retry-After header carrying
 * `retryAfterS` (rate limits, a busy server).
 */
export class RetryLaterError extends PulseError {
  readonly retryAfterS: number;

  constructor(code: ErrorCode, message: string, retryAfterS: number) {
    super(code, message);
    this.retryAfterS = Math.max(1, Math.ceil(retryAfterS));
  }
}
