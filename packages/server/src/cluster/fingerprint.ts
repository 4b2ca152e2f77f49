import { createHmac } from 'node:crypto';

/**
 * A short fingerprint of the server secret that nodes publish beside their heartbeat, so that
 * the cluster check (and each starting node) can tell whether every node signs tokens with the
 * same secret, without revealing it. 'unset' when PULSE_SECRET is not set (a per-node secret).
 */
export function secretFingerprint(secret: string | undefined): string {
  if (!secret) return 'unset';
  return createHmac('sha256', secret).update('pulse cluster secret fingerprint').digest('hex').slice(0, 16);
}

/** What a node stores under its heartbeat key. */
export interface NodeBeacon {
  /** Epoch ms of the heartbeat. */
  t: number;
  /** secretFingerprint() of its PULSE_SECRET. */
  fp: string;
}

export function parseBeacon(value: string | null | undefined): NodeBeacon | undefined {
  if (!value) return undefined;
  try {
    const b = JSON.parse(value) as NodeBeacon;
    return typeof b.t === 'number' && typeof b.fp === 'string' ? b : undefined;
  } catch {
    return undefined;
  }
}
