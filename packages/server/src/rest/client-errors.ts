import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { PulseError } from '@pulse/protocol';

/**
 * Answers a request Node could not parse as HTTP (headers too large or too slow, a malformed
 * request line or header) in the catalogue's shape, like every other error, then closes the
 * connection: such requests never reach Fastify's routes or its error handler.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new PulseError('headers_too_large')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new PulseError('request_timeout', 'The request did not arrive in time.')
        : new PulseError('validation_failed', 'The request is not valid HTTP.');
  // Not in the middle of another response on this (keep-alive) connection.
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !current?.headersSent) {
    const body = JSON.stringify(error.toBody());
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
