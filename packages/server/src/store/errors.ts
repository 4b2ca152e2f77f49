/** True when a driver error is a unique/primary-key violation (by error code, never by message text). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' || // PostgreSQL unique_violation
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

/**
 * True when a driver error means the database cannot be reached right now (connection refused,
 * lost, or the server shutting down): the request may succeed later, so it is a 503, not a 500.
 */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'SQLITE_BUSY', 'SQLITE_LOCKED'].includes(code) ||
    code.startsWith('08') || // PostgreSQL connection exceptions
    code === '57P01' || code === '57P02' || code === '57P03' // admin/crash shutdown, cannot connect now
  );
}
