import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { checkSecret } from './auth/secret.ts';
import type { HttpLimits } from './http-limits.ts';
import type { HubOptions } from './realtime/hub.ts';
import { webhookSettingsFromEnv, type WebhookSettings } from './webhooks/settings.ts';
import { emailSettingsFromEnv, type EmailSettings } from './email/settings.ts';
import type { S3StoreOptions } from './files/s3-store.ts';

/** Server configuration, read from the environment (documented in docs/configuration.md). */
export interface ServerOptions {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  /** PostgreSQL schema to use instead of the connection's default (created when missing). */
  databaseSchema?: string;
  redisUrl?: string;
  /** Prefix of every Redis key and channel (PULSE_REDIS_PREFIX), so deployments can share one Redis. */
  redisPrefix?: string;
  /** Public base URL (https://collab.example.com) used for absolute links; defaults to the listen address. */
  publicUrl?: string;
  secret?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  sqliteSynchronous: 'normal' | 'full';
  /**
   * Serve /demo, whose token route signs anyone in as any user of the demo's own environment.
   * Off unless asked for: PULSE_DEMO=on, or `pulse start --demo` (what `npm start` runs).
   */
  demo: boolean;
  /**
   * Which peers may tell the client's address and protocol in X-Forwarded-* (PULSE_TRUST_PROXY):
   * false (default: nobody, the socket's peer is the client), a hop count, or comma-separated
   * addresses/CIDRs (and loopback, linklocal, uniquelocal), as Fastify's trustProxy takes them.
   */
  trustProxy?: false | number | string;
  /** Attachment files in an S3 bucket instead of `<dataDir>/files` (PULSE_FILES_S3_*): what a cluster needs. */
  filesS3?: S3StoreOptions;
  /**
   * Count clients on this machine (loopback addresses) against the per-address limits too: open
   * connections (PULSE_MAX_CONNECTIONS_PER_IP) and sockets not yet authenticated. Off: the machine
   * itself is a local proxy standing for every client, or its operator's own tools. Tests of those
   * limits, whose clients are all local, turn it on.
   */
  limitLoopback?: boolean;
  /** HTTP timeouts and the per-address connection limit (http-limits.ts); tests shorten them. */
  http?: Partial<HttpLimits>;
  /** Realtime timing overrides (tests shorten them). */
  realtime?: HubOptions;
  /** Webhook delivery: PULSE_WEBHOOKS_ALLOW_PRIVATE and the retry schedule (webhooks/settings.ts). */
  webhooks?: WebhookSettings;
  /** Email notifications: PULSE_SMTP_URL, PULSE_EMAIL_FROM (email/settings.ts). */
  email?: EmailSettings;
}

/** A TCP port (0: any free one), from PULSE_PORT or `pulse start --port`, named `source` in the error. */
export function parsePort(value: string, source: string): number {
  const digits = value.trim();
  const n = /^\d+$/.test(digits) ? Number(digits) : NaN;
  if (!Number.isInteger(n) || n > 65535) throw new Error(`${source} must be a port number (0–65535), got ${JSON.stringify(value)}`);
  return n;
}

function port(value: string | undefined, fallback: number): number {
  return value === undefined || value === '' ? fallback : parsePort(value, 'PULSE_PORT');
}

const LOG_LEVELS: ServerOptions['logLevel'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ServerOptions {
  const level = (env.PULSE_LOG_LEVEL || 'info') as ServerOptions['logLevel'];
  if (!LOG_LEVELS.includes(level)) throw new Error(`PULSE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  const sync = env.PULSE_SQLITE_SYNC ?? 'normal';
  if (sync !== 'normal' && sync !== 'full') throw new Error(`PULSE_SQLITE_SYNC must be "normal" or "full", got "${sync}"`);
  const publicUrl = env.PULSE_PUBLIC_URL?.replace(/\/+$/, '');
  if (publicUrl && !/^https?:\/\//.test(publicUrl)) throw new Error(`PULSE_PUBLIC_URL must start with http:// or https://`);
  // Checked with the other variables, before anything is created (a database included).
  if (env.PULSE_SECRET) checkSecret(env.PULSE_SECRET);
  return {
    port: port(env.PULSE_PORT, 4567),
    host: env.PULSE_HOST || '127.0.0.1',
    dataDir: resolve(env.PULSE_DATA_DIR || './data'),
    ...(env.DATABASE_URL ? { databaseUrl: databaseUrl(env.DATABASE_URL) } : {}),
    ...(env.PULSE_DB_SCHEMA ? { databaseSchema: env.PULSE_DB_SCHEMA } : {}),
    ...(env.REDIS_URL ? { redisUrl: redisUrl(env.REDIS_URL) } : {}),
    ...(env.PULSE_REDIS_PREFIX ? { redisPrefix: env.PULSE_REDIS_PREFIX } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...(env.PULSE_SECRET ? { secret: env.PULSE_SECRET } : {}),
    logLevel: level,
    sqliteSynchronous: sync,
    demo: demoSetting(env.PULSE_DEMO) ?? false,
    trustProxy: trustProxySetting(env.PULSE_TRUST_PROXY),
    ...connectionLimit(env.PULSE_MAX_CONNECTIONS_PER_IP),
    ...filesS3Setting(env),
    ...realtimeTiming(env),
    webhooks: webhookSettingsFromEnv(env),
    email: emailSettingsFromEnv(env),
  };
}

/** DATABASE_URL: a PostgreSQL connection string (anything else would be tried as one and fail obscurely). */
function databaseUrl(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    throw new Error(`DATABASE_URL must be a PostgreSQL connection string such as postgres://user:password@host:5432/db, got "${redactUrl(value)}"`);
  }
  return value;
}

/** REDIS_URL: redis://[user:password@]host:port[/db] or rediss:// (TLS), the db a whole number; or a Unix socket's path. */
function redisUrl(value: string): string {
  if (value.startsWith('/')) return value;
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) {
    throw new Error(`REDIS_URL must look like redis://[user:password@]host:port[/db] (rediss:// for TLS, or a Unix socket's path), got "${redactUrl(value)}"`);
  }
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) throw new Error(`REDIS_URL: the database after the port must be a number (/0, /1, …), got "/${db}"`);
  return value;
}

/** A URL for a message or a log: its password left out. */
export function redactUrl(value: string): string {
  if (!URL.canParse(value)) return value.replace(/\/\/[^@/]*@/, '//***@');
  const url = new URL(value);
  if (url.password) url.password = '***';
  return url.toString();
}

/** PULSE_MAX_CONNECTIONS_PER_IP: open connections one client address may hold (0: no limit). */
function connectionLimit(value: string | undefined): Pick<ServerOptions, 'http'> {
  if (value === undefined || value === '') return {};
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`PULSE_MAX_CONNECTIONS_PER_IP must be a whole number (0 for no limit), got "${value}"`);
  return { http: { maxConnectionsPerAddress: n } };
}

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** PULSE_TRUST_PROXY: unset/off, a hop count, or comma-separated IPs, CIDRs and range names. */
export function trustProxySetting(value: string | undefined): false | number | string {
  const text = value?.trim() ?? '';
  if (text === '' || text === 'off' || text === 'false' || text === '0') return false;
  if (text === 'true') {
    throw new Error(
      'PULSE_TRUST_PROXY=true would let any client choose its own address with X-Forwarded-For: give the number of proxies in front of Pulse (e.g. 1) or their addresses (e.g. 10.0.0.5,10.1.0.0/16)',
    );
  }
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops > 32) throw new Error(`PULSE_TRUST_PROXY: ${hops} proxies is not plausible`);
    return hops;
  }
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  for (const entry of entries) {
    if (PROXY_RANGE_NAMES.includes(entry)) continue;
    const [ip, bits, extra] = entry.split('/');
    const family = isIP(ip ?? '');
    const maxBits = family === 6 ? 128 : 32;
    const bitsOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= maxBits);
    if (!family || !bitsOk || extra !== undefined) {
      throw new Error(`PULSE_TRUST_PROXY: "${entry}" is not an IP address, a CIDR range, or one of ${PROXY_RANGE_NAMES.join(', ')}`);
    }
  }
  return entries.join(',');
}

/** PULSE_DEMO: "on", "off", or unset (undefined: the command line decides, off by default). */
export function demoSetting(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new Error(`PULSE_DEMO must be "on" or "off", got "${value}"`);
}

/** Cluster presence timing overrides (tests shorten them; not meant for production). */
function realtimeTiming(env: NodeJS.ProcessEnv): Pick<ServerOptions, 'realtime'> {
  const ms = (name: string) => {
    const value = env[name];
    if (value === undefined || value === '') return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, got "${value}"`);
    return n;
  };
  const clusterNodeTtlMs = ms('PULSE_CLUSTER_NODE_TTL_MS');
  const leaveGraceMs = ms('PULSE_PRESENCE_LEAVE_GRACE_MS');
  if (clusterNodeTtlMs === undefined && leaveGraceMs === undefined) return {};
  return { realtime: { ...(clusterNodeTtlMs ? { clusterNodeTtlMs } : {}), ...(leaveGraceMs ? { leaveGraceMs } : {}) } };
}

/**
 * PULSE_FILES_S3_*: a bucket turns S3 file storage on; every other setting needs one. Credentials
 * come in pairs; without them the AWS SDK's own chain (AWS_* variables, instance role) applies.
 */
export function filesS3Setting(env: NodeJS.ProcessEnv): Pick<ServerOptions, 'filesS3'> {
  const get = (name: string) => {
    const value = env[`PULSE_FILES_S3_${name}`]?.trim();
    return value === '' ? undefined : value;
  };
  const bucket = get('BUCKET');
  const endpoint = get('ENDPOINT')?.replace(/\/+$/, '');
  const region = get('REGION');
  const accessKeyId = get('ACCESS_KEY_ID');
  const secretAccessKey = get('SECRET_ACCESS_KEY');
  const pathStyle = get('FORCE_PATH_STYLE');
  const prefix = get('PREFIX');
  if (!bucket) {
    const stray = ['ENDPOINT', 'REGION', 'ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'FORCE_PATH_STYLE', 'PREFIX'].find((n) => get(n) !== undefined);
    if (stray) throw new Error(`PULSE_FILES_S3_${stray} is set but PULSE_FILES_S3_BUCKET is not: set the bucket to store files in S3, or unset PULSE_FILES_S3_${stray}`);
    return {};
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new Error(`PULSE_FILES_S3_BUCKET must be a bucket name (3-63 lowercase letters, digits, dots and hyphens), got "${bucket}"`);
  }
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol)) throw new Error(`PULSE_FILES_S3_ENDPOINT must be an http:// or https:// URL, got "${endpoint}"`);
  }
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/.test(region)) throw new Error(`PULSE_FILES_S3_REGION must be a region name such as us-east-1, got "${region}"`);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error('PULSE_FILES_S3_ACCESS_KEY_ID and PULSE_FILES_S3_SECRET_ACCESS_KEY go together: set both, or neither to use the AWS SDK\'s own credentials');
  }
  if (pathStyle !== undefined && pathStyle !== 'on' && pathStyle !== 'off') throw new Error(`PULSE_FILES_S3_FORCE_PATH_STYLE must be "on" or "off", got "${pathStyle}"`);
  if (prefix !== undefined && !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/.test(prefix)) {
    throw new Error(`PULSE_FILES_S3_PREFIX must be a path such as pulse/ (letters, digits, . _ - and /, not starting with /), got "${prefix}"`);
  }
  return {
    filesS3: {
      bucket,
      ...(endpoint ? { endpoint } : {}),
      region: region ?? 'us-east-1',
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
      // S3-compatible servers mostly want path-style; AWS S3 wants virtual-hosted names.
      forcePathStyle: pathStyle ? pathStyle === 'on' : endpoint !== undefined,
      prefix: prefix ? prefix.replace(/\/?$/, '/') : '',
    },
  };
}
