import { PulseError } from '@pulse/protocol';
import type { z } from 'zod';

/** Parses input with a protocol schema; a failure becomes `validation_failed` naming the field. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' = 'body'): z.infer<T> {
  if (where === 'body' && value === undefined) throw new PulseError('invalid_json', 'The body is empty; send a JSON object.');
  const result = schema.safeParse(value ?? (where === 'query' ? {} : undefined));
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    // Named where it is: `position: unknown field "z"`, not `body: …`.
    const at = issue.path.length ? issue.path.join('.') : where;
    throw new PulseError('validation_failed', `${at}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`);
  }
  const path = issue.path.length ? issue.path.join('.') : where;
  if (issue.code === 'invalid_type' && issue.path.length === 0) {
    throw new PulseError('validation_failed', `${where}: expected a JSON object`);
  }
  throw new PulseError('validation_failed', `${path}: ${issue.message}`);
}

/** Validates one path parameter. */
export function parseParam<T extends z.ZodType>(schema: T, value: unknown, name: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new PulseError('validation_failed', `${name}: ${result.error.issues[0]!.message}`);
}

/** Endpoints without query parameters refuse any, as the list endpoints refuse unknown ones. */
/** For endpoints that take no body (the deletes): an empty one, or `{}`, is fine; anything in it is refused, as unknown fields are elsewhere. */
export function refuseBody(request: { body?: unknown }): void {
  const body = request.body;
  if (body === undefined) return;
  // `null` is JSON that says something (an empty body is undefined, see the JSON parser in app.ts).
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new PulseError('validation_failed', 'body: this endpoint takes no body');
  const names = Object.keys(body);
  if (names.length) throw new PulseError('validation_failed', `body: unknown field "${names[0]}" (this endpoint takes no body)`);
}

export function refuseQuery(request: { query?: unknown }): void {
  const names = Object.keys((request.query as Record<string, unknown> | undefined) ?? {});
  if (names.length) throw new PulseError('validation_failed', `query: unknown parameter "${names[0]}" (this endpoint takes none)`);
}
