/**
 * A mistake on the command line. `usage`: what to print after the message (human output only;
 * `--json` gets the message alone): the whole CLI's usage (true), a group's, or none (false,
 * when the message says it all).
 */
export class UsageError extends Error {
  readonly usage: string | boolean;
  constructor(message: string, usage: string | boolean = true) {
    super(message);
    this.usage = usage;
  }
}

/** An invalid server variable (`PULSE_PORT=abc`): `code` "configuration", exit code 1. */
export class ConfigurationError extends Error {}
