import type { TestServer } from './server.ts';

export const BOUNDARY = 'pulse-test-boundary';

/** The head of a multipart body whose `file` part is named `filename` (raw UTF-8, as browsers send it). */
export function multipartHead(filename: string, boundary = BOUNDARY): Buffer {
  const quoted = filename.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n`, 'utf8');
}

export function multipartBody(filename: string, bytes: Buffer, boundary = BOUNDARY): Buffer {
  return Buffer.concat([multipartHead(filename, boundary), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

export interface UploadAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** POST /api/v1/upload with a hand-built multipart body, so the file name's bytes are exactly ours. */
export async function uploadFile(t: TestServer, token: string, filename: string, bytes: Buffer): Promise<UploadAnswer> {
  const res = await fetch(`${t.url}/api/v1/upload`, {
    method: 'POST',
    headers: { 'x-pulse-key': t.publishableKey, 'x-pulse-token': token, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: new Uint8Array(multipartBody(filename, bytes)),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

/**
 * Closes a test server without waiting on keep-alive sockets: a response whose last bytes the
 * client already read may finish on the server a tick later, after close() looked for idle
 * connections, and that socket would then hold close() until the client's keep-alive ends.
 */
export async function closeServer(t: TestServer | undefined): Promise<void> {
  if (!t) return;
  t.server.app.server.closeAllConnections();
  await t.close();
}
