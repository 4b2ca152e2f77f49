import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The raw message (headers and MIME body). */
  raw: string;
  /** When it was accepted (Date.now()). */
  at: number;
}

/** An SMTP server on loopback that accepts everything and records it; `failing` answers 451 to every message, `delayMs` answers late. */
export class SmtpReceiver {
  readonly messages: ReceivedMail[] = [];
  failing = false;
  /** How long each message waits for its answer (a slow server). */
  delayMs = 0;
  /** Messages answered 451 while `failing`. */
  refused = 0;
  #server: SMTPServer | undefined;
  #port = 0;

  get url(): string {
    return `smtp://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const answer = () => {
            if (this.failing) {
              this.refused++;
              return callback(Object.assign(new Error('try again later'), { responseCode: 451 }));
            }
            this.messages.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              raw: Buffer.concat(chunks).toString('utf8'),
              at: Date.now(),
            });
            callback();
          };
          if (this.delayMs > 0) setTimeout(answer, this.delayMs);
          else answer();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', () => resolve()));
    this.#server = server;
    this.#port = (server.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  to(address: string): ReceivedMail[] {
    return this.messages.filter((m) => m.to.includes(address));
  }
}

/** The decoded text of a quoted-printable MIME body (enough for the assertions here). */
export function decodeQuotedPrintable(raw: string): string {
  const bytes = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}
