import { clientMessageSchema, DURABLE_TYPES, LIMITS, PulseError, type ClientMessage } from '@pulse/protocol';
import { nestsAtMost } from '../json-depth.ts';

const KNOWN_TYPES = new Set(clientMessageSchema.options.map((o) => o.shape.type.value as string));

/** Requests applied in order through the connection's durable queue, under the writes bucket. */
const QUEUED = new Set<string>([...DURABLE_TYPES, 'room:resync']);

export function isQueued(message: ClientMessage): boolean {
  return QUEUED.has(message.type);
}

/** A frame's JSON (or a chunked P2P frame's joined text), refused unparsed when nested too deeply. */
export function parseFrameText(text: string, notJson = 'The frame is not valid JSON.'): unknown {
  if (!nestsAtMost(text, LIMITS.wsJsonDepth)) throw new PulseError('invalid_message', `JSON nested more than ${LIMITS.wsJsonDepth} levels deep is refused.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new PulseError('invalid_message', notJson);
  }
}

/** Validates a parsed frame into a client message, or throws the error the client should get. */
export function parseMessage(raw: unknown): ClientMessage {
  let result: ReturnType<typeof clientMessageSchema.safeParse>;
  try {
    result = clientMessageSchema.safeParse(raw);
  } catch {
    // Pathological nesting can exhaust the stack inside validation.
    throw new PulseError('invalid_message', 'The message is nested too deeply.');
  }
  if (result.success) return result.data;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new PulseError('invalid_message', 'A frame must be a JSON object with a "type".');
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string') throw new PulseError('unknown_message_type', 'A frame needs a "type" string.');
  if (!KNOWN_TYPES.has(type)) throw new PulseError('unknown_message_type', `Unknown message type ${JSON.stringify(type.slice(0, 64))}.`);
  const issue = result.error.issues.find((i) => i.path[0] !== 'type') ?? result.error.issues[0]!;
  const path = issue.path.join('.');
  const detail = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
  throw new PulseError('invalid_message', `${type}: ${path ? `${path}: ` : ''}${detail}`);
}
