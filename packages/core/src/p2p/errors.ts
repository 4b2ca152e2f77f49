import type { ErrorCode } from '@pulse/protocol/lite';

/** An error of the P2P API: thrown (or rejected) with a code from the error catalogue. */
export class P2PError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'P2PError';
    this.code = code;
  }
}
