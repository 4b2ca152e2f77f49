/**
 * Absolute URLs of stored files. The base is PULSE_PUBLIC_URL when configured, otherwise the
 * address the server listens on (set once listening). Until then links are root-relative.
 */
export class FileLinks {
  base = '';

  file(envId: string, id: string): string {
    return `${this.base}/files/${envId}/${id}`;
  }

  thumbnail(envId: string, id: string): string {
    return `${this.file(envId, id)}?thumb=1`;
  }
}
