import { PulseError, type ErrorCode } from '@pulse/protocol';

/** A refusal that passes: answered with a Retry-After header carrying `retryAfterS`. */
export class RetryLaterError extends PulseError {
  readonly retryAfterS: number;

  constructor(code: ErrorCode, message: string, retryAfterS: number) {
    super(code, message);
    this.retryAfterS = Math.max(1, Math.ceil(retryAfterS));
  }
}
