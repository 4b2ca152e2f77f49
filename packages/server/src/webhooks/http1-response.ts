/** A response that is not HTTP/1.x, or breaks its framing: the connection it came on is closed. */
export class Http1ResponseError extends Error {}

/** The response head beyond this is refused (Node's own limit is 16 KB too). */
const MAX_HEAD_BYTES = 16 * 1024;
/** A chunk-size line (size and extensions) beyond this is refused. */
const MAX_CHUNK_LINE_BYTES = 1024;

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const HEX = /^[0-9a-fA-F]{1,8}$/;
/** Headers whose repeats are one comma-separated list (content-length: repeats must agree). */
const LIST_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive']);
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/** Strips optional whitespace (spaces and tabs only, RFC 9110 §5.6.3). */
const trimOws = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, '');

type Mode = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done';
/** Modes in which more body may come. */
const BODY_MODES = new Set<Mode>(['length', 'chunk-size', 'chunk-data', 'chunk-end', 'until-close']);

/**
 * Reads one HTTP/1.x response from the bytes of a connection, as they come: the status, the
 * headers, and the body up to `bodyCap` bytes, whatever its framing (Content-Length, chunked,
 * or until the connection closes). Interim (1xx) responses are skipped. It says whether the
 * connection can carry another request once the response is complete: only when the response
 * was framed, read to its end, asked for no close and was followed by nothing.
 */
export class ResponseReader {
  status = 0;
  /** Header names in lower case; repeated headers joined with `, `. */
  headers = Object.create(null) as Record<string, string>;
  readonly #bodyCap: number;
  readonly #body: Buffer[] = [];
  #kept = 0;
  #mode: Mode = 'head';
  /** Bytes not consumed yet (an incomplete head or line). */
  #pending: Buffer | undefined;
  /** Body bytes left in the response (Content-Length) or the current chunk. */
  #left = 0;
  #trailerBytes = 0;
  #keepAlive = false;
  /** The body went past the cap, or bytes followed the response. */
  #spoilt = false;

  constructor(bodyCap: number) {
    this.#bodyCap = bodyCap;
  }

  /** The status and headers have come. */
  get headed(): boolean {
    return this.status !== 0 && this.#mode !== 'head';
  }

  get done(): boolean {
    return this.#mode === 'done';
  }

  /** The body ends when the connection does. */
  get untilClose(): boolean {
    return this.#mode === 'until-close';
  }

  get reusable(): boolean {
    return this.#mode === 'done' && this.#keepAlive && !this.#spoilt;
  }

  /** How long the receiver said it keeps an idle connection (`Keep-Alive: timeout=N`), if it did. */
  get keepAliveMs(): number | undefined {
    const timeout = /(?:^|[,;\s])timeout=(\d{1,6})\b/i.exec(this.headers['keep-alive'] ?? '');
    return timeout ? Number(timeout[1]) * 1000 : undefined;
  }

  /** The body kept so far (all of it once done, up to the cap). */
  body(): Buffer {
    return this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body);
  }

  /** Reads more bytes; true once the response is complete. Throws Http1ResponseError on a malformed response. */
  push(chunk: Buffer): boolean {
    let data = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    let at = 0;
    while (at < data.length) {
      switch (this.#mode) {
        case 'head': {
          const end = data.indexOf(HEAD_END, at);
          if (end === -1) return this.#wait(data, at, MAX_HEAD_BYTES, 'response head');
          if (end - at > MAX_HEAD_BYTES) throw new Http1ResponseError(`invalid HTTP response: response head over ${MAX_HEAD_BYTES} bytes`);
          this.#readHead(data.toString('latin1', at, end));
          at = end + HEAD_END.length;
          break;
        }
        case 'length':
        case 'chunk-data': {
          const n = Math.min(this.#left, data.length - at);
          this.#keep(data.subarray(at, at + n));
          this.#left -= n;
          at += n;
          if (this.#left === 0) this.#mode = this.#mode === 'length' ? 'done' : 'chunk-end';
          break;
        }
        case 'chunk-size': {
          const end = data.indexOf(CRLF, at);
          if (end === -1) return this.#wait(data, at, MAX_CHUNK_LINE_BYTES, 'chunk size line');
          const size = trimOws(data.toString('latin1', at, end).split(';', 1)[0]!);
          if (!HEX.test(size)) throw new Http1ResponseError('invalid HTTP response: bad chunk size');
          this.#left = parseInt(size, 16);
          this.#mode = this.#left === 0 ? 'trailers' : 'chunk-data';
          at = end + CRLF.length;
          break;
        }
        case 'chunk-end': {
          if (data.length - at < CRLF.length) return this.#wait(data, at, CRLF.length, 'chunk end');
          if (data[at] !== 0x0d || data[at + 1] !== 0x0a) throw new Http1ResponseError('invalid HTTP response: chunk not followed by CRLF');
          this.#mode = 'chunk-size';
          at += CRLF.length;
          break;
        }
        case 'trailers': {
          const end = data.indexOf(CRLF, at);
          if (end === -1) return this.#wait(data, at, MAX_HEAD_BYTES - this.#trailerBytes, 'trailers');
          this.#trailerBytes += end - at + CRLF.length;
          if (this.#trailerBytes > MAX_HEAD_BYTES) throw new Http1ResponseError(`invalid HTTP response: trailers over ${MAX_HEAD_BYTES} bytes`);
          if (end === at) this.#mode = 'done';
          at = end + CRLF.length;
          break;
        }
        case 'until-close':
          this.#keep(data.subarray(at));
          at = data.length;
          break;
        case 'done':
          // Bytes after the response: not an answer to anything this client sent.
          this.#spoilt = true;
          return true;
      }
      // A body past the cap ends the response here; the rest is not read.
      if (this.#kept >= this.#bodyCap && BODY_MODES.has(this.#mode)) {
        this.#spoilt = true;
        this.#mode = 'done';
      }
    }
    return this.#mode === 'done';
  }

  #wait(data: Buffer, at: number, limit: number, what: string): false {
    if (data.length - at > limit) throw new Http1ResponseError(`invalid HTTP response: ${what} over ${limit} bytes`);
    this.#pending = data.subarray(at);
    return false;
  }

  #keep(bytes: Buffer): void {
    if (this.#kept >= this.#bodyCap || bytes.length === 0) return;
    const kept = bytes.subarray(0, this.#bodyCap - this.#kept);
    // A copy: the connection's buffer is not held for as long as the answer is.
    this.#body.push(Buffer.from(kept));
    this.#kept += kept.length;
  }

  #readHead(text: string): void {
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw new Http1ResponseError('invalid HTTP response: bad status line');
    const headers = Object.create(null) as Record<string, string>;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (colon <= 0 || !TOKEN.test(name)) throw new Http1ResponseError('invalid HTTP response: bad header line');
      const value = trimOws(line.slice(colon + 1));
      // List headers are joined; of any other, the first counts (as in Node: a second Location is not followed).
      if (headers[name] === undefined) headers[name] = value;
      else if (LIST_HEADERS.has(name)) headers[name] = `${headers[name]}, ${value}`;
    }
    const code = Number(status[2]);
    if (code === 101) throw new Http1ResponseError('invalid HTTP response: 101 to a request that asked for no upgrade');
    // An interim response: the final one follows on the same connection.
    if (code < 200) return;
    this.status = code;
    this.headers = headers;
    const connection = (headers.connection ?? '').toLowerCase();
    this.#keepAlive = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    const transfer = headers['transfer-encoding'];
    if (code === 204 || code === 304) {
      this.#mode = 'done';
    } else if (transfer !== undefined) {
      // RFC 9112 §6.3: both is an error (a sign of a smuggling attempt), as Node's parser holds too.
      if (headers['content-length'] !== undefined) throw new Http1ResponseError('invalid HTTP response: both Transfer-Encoding and Content-Length');
      // Only chunked frames a body; any other last coding runs until the connection closes.
      if (transfer.split(',').pop()!.trim().toLowerCase() === 'chunked') this.#mode = 'chunk-size';
      else this.#mode = 'until-close';
    } else if (headers['content-length'] !== undefined) {
      const lengths = new Set(headers['content-length'].split(',').map((v) => v.trim()));
      const [length] = lengths;
      if (lengths.size !== 1 || !/^\d{1,15}$/.test(length!)) throw new Http1ResponseError('invalid HTTP response: bad Content-Length');
      this.#left = Number(length);
      this.#mode = this.#left === 0 ? 'done' : 'length';
    } else {
      this.#mode = 'until-close';
    }
    if (this.#mode === 'until-close') this.#keepAlive = false;
  }
}
