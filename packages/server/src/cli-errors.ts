/** A mistake on the command line; `showUsage`: the usage summary helps (unknown command, missing argument). */
export class UsageError extends Error {
  readonly showUsage: boolean;
  constructor(message: string, showUsage = true) {
    super(message);
    this.showUsage = showUsage;
  }
}

/** An invalid server variable (`PULSE_PORT=abc`): `code` "configuration", exit code 1. */
export class ConfigurationError extends Error {}
