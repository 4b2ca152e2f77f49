import { isErrorCode, type Attachment, type ErrorCode } from '@pulse/protocol/lite';

export interface UploadOptions {
  /** Called as bytes leave: `loaded` of `total` bytes. */
  onProgress?: (progress: { loaded: number; total: number }) => void;
  /** Aborts the upload. */
  signal?: AbortSignal;
}

/** A failed upload, with the server's error code. */
export class UploadError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, message: string, status: number) {
    super(message);
    this.name = 'UploadError';
    this.code = code;
    this.status = status;
  }
}

export interface UploadTarget {
  /** https://host (the HTTP form of the endpoint). */
  baseUrl: string;
  apiKey: string;
  token: string;
}

/** The HTTP base of a ws(s):// or http(s):// endpoint. */
export function httpBase(endpoint: string): string {
  let url = endpoint.trim().replace(/\/+$/, '');
  if (url.startsWith('wss://')) url = 'https://' + url.slice(6);
  else if (url.startsWith('ws://')) url = 'http://' + url.slice(5);
  else if (!/^https?:\/\//.test(url)) url = 'https://' + url;
  return url;
}

function fail(status: number, text: string): UploadError {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: string } };
    const code = body.error?.code;
    if (isErrorCode(code)) return new UploadError(code, body.error?.message ?? code, status);
  } catch {
    // not JSON
  }
  return new UploadError(status === 413 ? 'file_too_large' : 'internal_error', `Upload failed with HTTP ${status}`, status);
}

/** Browsers: XMLHttpRequest, the one API that reports upload progress. */
function uploadWithXhr(target: UploadTarget, file: Blob, name: string, options: UploadOptions): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${target.baseUrl}/api/v1/upload`);
    xhr.setRequestHeader('X-Pulse-Key', target.apiKey);
    xhr.setRequestHeader('X-Pulse-Token', target.token);
    xhr.upload.onprogress = (e) => options.onProgress?.({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onload = () => (xhr.status === 200 ? resolve(JSON.parse(xhr.responseText)) : reject(fail(xhr.status, xhr.responseText)));
    xhr.onerror = () => reject(new UploadError('service_unavailable', 'The upload could not reach the server.', 0));
    xhr.onabort = () => reject(new UploadError('validation_failed', 'The upload was aborted.', 0));
    options.signal?.addEventListener('abort', () => xhr.abort());
    const form = new FormData();
    form.append('file', file, name);
    xhr.send(form);
  });
}

/** Elsewhere (Node): fetch with a multipart body streamed by hand, counting the bytes it sends. */
async function uploadWithFetch(target: UploadTarget, file: Blob, name: string, options: UploadOptions): Promise<Attachment> {
  const boundary = `----pulse${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const encoder = new TextEncoder();
  const safeName = name.replace(/["\r\n]/g, '_');
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: ${file.type || 'application/octet-stream'}\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const total = file.size;
  let loaded = 0;
  const reader = file.stream().getReader();
  let stage: 'head' | 'file' | 'tail' | 'done' = 'head';
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stage === 'head') {
        controller.enqueue(head);
        stage = 'file';
        return;
      }
      if (stage === 'file') {
        const { value, done } = await reader.read();
        if (done) {
          stage = 'tail';
        } else {
          loaded += value.byteLength;
          options.onProgress?.({ loaded, total });
          controller.enqueue(value);
          return;
        }
      }
      if (stage === 'tail') {
        controller.enqueue(tail);
        stage = 'done';
        return;
      }
      controller.close();
    },
  });
  let res: Response;
  try {
    res = await fetch(`${target.baseUrl}/api/v1/upload`, {
      method: 'POST',
      headers: { 'X-Pulse-Key': target.apiKey, 'X-Pulse-Token': target.token, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body,
      ...(options.signal ? { signal: options.signal } : {}),
      duplex: 'half',
    } as RequestInit);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new UploadError('validation_failed', 'The upload was aborted.', 0);
    throw new UploadError('service_unavailable', `The upload could not reach the server: ${(err as Error).message}`, 0);
  }
  const text = await res.text();
  if (res.status !== 200) throw fail(res.status, text);
  return JSON.parse(text) as Attachment;
}

export function uploadFile(target: UploadTarget, file: Blob, options: UploadOptions = {}): Promise<Attachment> {
  const name = (file as { name?: string }).name || 'attachment';
  return typeof XMLHttpRequest === 'function' ? uploadWithXhr(target, file, name, options) : uploadWithFetch(target, file, name, options);
}

/** Deletes one of the user's uploads that is not attached to a comment; rejects with an `UploadError`. */
export async function deleteUpload(target: UploadTarget, id: string): Promise<void> {
  const res = await fetch(`${target.baseUrl}/api/v1/upload/${encodeURIComponent(id)}`, {
    method: 'DELETE',
    headers: { 'x-pulse-key': target.apiKey, 'x-pulse-token': target.token },
  });
  if (res.status !== 204) throw fail(res.status, await res.text());
}
