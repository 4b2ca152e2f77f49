import { describe, expect, it } from 'vitest';
import { Http1ResponseError, ResponseReader } from './http1-response.ts';

/** Reads `text` fed in pieces of `step` bytes; what the reader made of it. */
function read(text: string, step = Infinity, cap = 1024) {
  const reader = new ResponseReader(cap);
  const bytes = Buffer.from(text, 'latin1');
  let complete = false;
  for (let at = 0; at < bytes.length && !complete; at += step) complete = reader.push(bytes.subarray(at, Math.min(bytes.length, at + step)));
  return { complete, status: reader.status, headers: reader.headers, body: reader.body().toString('latin1'), reusable: reader.reusable, untilClose: reader.untilClose };
}

const framed = {
  length: 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello world',
  chunked: 'HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
  interim: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world',
};

describe('webhook HTTP client: reading a response', () => {
  it('reads Content-Length and chunked bodies, and skips interim responses, however the bytes are split', () => {
    for (const [name, text] of Object.entries(framed)) {
      for (const step of [1, 2, 3, 7, Infinity]) {
        const r = read(text, step);
        expect(r, `${name} in pieces of ${step}`).toMatchObject({ complete: true, body: 'hello world', reusable: true });
      }
    }
    // A repeated header: the first counts, but for lists (Connection, Transfer-Encoding…).
    expect(read(framed.length).headers).toMatchObject({ 'content-length': '11', 'x-a': '1' });
    const repeated = read('HTTP/1.1 307 Temporary Redirect\r\nLocation: /a\r\nLocation: /b\r\nRetry-After: 7\r\nRetry-After: 7\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    expect(repeated).toMatchObject({ headers: { location: '/a', 'retry-after': '7', connection: 'keep-alive, close' }, reusable: false });
    // Header names are only names: none reaches Object.prototype.
    const odd = read('HTTP/1.1 200 OK\r\nConstructor: x\r\n__proto__: y\r\nContent-Length: 0\r\n\r\n');
    expect([odd.headers.constructor, odd.headers.__proto__]).toEqual(['x', 'y']);
    // Optional whitespace is spaces and tabs only.
    expect(read('HTTP/1.1 200 OK\r\nX-B: \t v \t\r\nContent-Length: 0\r\n\r\n').headers['x-b']).toBe('v');
    expect(read(framed.chunked).status).toBe(202);
  });

  it('knows a body-less status, and one that asks to close, or runs until the connection closes', () => {
    expect(read('HTTP/1.1 204 No Content\r\n\r\n')).toMatchObject({ complete: true, status: 204, body: '', reusable: true });
    expect(read('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')).toMatchObject({ complete: true, reusable: true });
    expect(read('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok')).toMatchObject({ complete: true, reusable: false });
    expect(read('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok')).toMatchObject({ complete: true, reusable: false });
    expect(read('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok')).toMatchObject({ complete: true, reusable: true });
    // No framing: the body is whatever comes before the connection closes.
    expect(read('HTTP/1.1 200 OK\r\n\r\nsome text')).toMatchObject({ complete: false, untilClose: true, body: 'some text', reusable: false });
    expect(read('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx')).toMatchObject({ complete: false, untilClose: true });
    // No body after 204 or 304, whatever the headers say.
    expect(read('HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n')).toMatchObject({ complete: true, reusable: true });
    expect(read('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n')).toMatchObject({ complete: true, reusable: true });
  });

  it('keeps at most the cap of a body, ends the response there, and does not reuse the connection', () => {
    expect(read('HTTP/1.1 500 Oops\r\nContent-Length: 20\r\n\r\n0123456789', Infinity, 4)).toMatchObject({ complete: true, body: '0123', reusable: false });
    expect(read('HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef', 3, 4)).toMatchObject({ complete: true, body: '0123', reusable: false });
    // Exactly the cap, complete: reusable.
    expect(read('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd', Infinity, 4)).toMatchObject({ complete: true, body: 'abcd', reusable: true });
  });

  it('does not reuse a connection that sent more than the response', () => {
    expect(read(`${framed.length}HTTP/1.1 200 OK\r\n\r\n`)).toMatchObject({ complete: true, body: 'hello world', reusable: false });
  });

  it('refuses what is not an HTTP/1.x response, or breaks its framing', () => {
    const cases: [string, RegExp][] = [
      ['SSH-2.0-OpenSSH\r\n\r\n', /bad status line/],
      ['HTTP/2 200\r\n\r\n', /bad status line/],
      ['HTTP/1.1 20 OK\r\n\r\n', /bad status line/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /bad header line/],
      ['HTTP/1.1 200 OK\r\n folded: value\r\n\r\n', /bad header line/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok', /bad Content-Length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /bad Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n', /chunk not followed by CRLF/],
      ['HTTP/1.1 101 Switching Protocols\r\n\r\n', /101/],
      ['HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', /both Transfer-Encoding and Content-Length/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\v2\r\nok\r\n0\r\n\r\n', /bad chunk size/],
      [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(17 * 1024)}`, /response head over 16384 bytes/],
      [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'1'.repeat(2000)}`, /chunk size line over 1024 bytes/],
    ];
    for (const [text, error] of cases) {
      for (const step of [1, Infinity]) {
        expect(() => read(text, step), JSON.stringify(text.slice(0, 40))).toThrow(Http1ResponseError);
        expect(() => read(text, step)).toThrow(error);
      }
    }
    // Repeating the same length is allowed (RFC 9112 §6.3).
    expect(read('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok')).toMatchObject({ complete: true, body: 'ok' });
  });
});
