import { describe, expect, it } from 'vitest';
import { WEBHOOK_EXAMPLE_ROOM, webhookExampleData } from './webhook-examples.ts';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_TEST_EVENT, webhookDataSchemas, webhookPayloadJsonSchema, type WebhookPayloadType } from './webhooks.ts';

/** Every object schema inside a JSON Schema. */
function* objects(node: unknown): Generator<Record<string, unknown>> {
  if (!node || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  if (record.type === 'object') yield record;
  for (const value of Object.values(record)) yield* objects(value);
}

describe('webhook payload schemas', () => {
  it('names an event type it does not know instead of failing inside', () => {
    expect(() => webhookPayloadJsonSchema('room.exploded' as WebhookPayloadType)).toThrow(/Unknown webhook event type "room.exploded": .*comment\.created/);
    expect(() => webhookPayloadJsonSchema('toString' as WebhookPayloadType)).toThrow(RangeError);
  });

  const types: WebhookPayloadType[] = [...WEBHOOK_EVENT_TYPES, WEBHOOK_TEST_EVENT];

  it('let receivers accept fields Pulse adds later, in zod and in JSON Schema', () => {
    for (const type of types) {
      for (const o of objects(webhookPayloadJsonSchema(type))) expect(o.additionalProperties, type).not.toBe(false);
    }
    const comment = { id: 'c', threadId: 't', userId: 'u', body: 'b', mentions: [], createdAt: 'x', editedAt: null, reactions: [], attachments: [], addedLater: 1 };
    const data = { environmentId: 'e', roomId: 'r', actor: { type: 'backend' }, threadId: 't', commentId: 'c', comment, addedLater: true };
    expect(webhookDataSchemas['comment.created'].safeParse(data).success).toBe(true);
    const thread = { id: 't', roomId: 'r', resolved: false, position: { x: 0.5, y: 0.5, addedLater: 1 }, positionX: 0.5, positionY: 0.5, createdBy: 'u', createdAt: 'x', updatedAt: 'x' };
    expect(webhookDataSchemas['thread.resolved'].safeParse({ ...data, thread }).success).toBe(true);
  });

  it('describe the test event too, so `webhookDataSchemas[body.type]` works for every delivery', () => {
    expect(webhookPayloadJsonSchema(WEBHOOK_TEST_EVENT)).toMatchObject({ properties: { type: { const: 'webhook.test' } } });
    // An example event's flag, which receivers are told to check, is named (and optional).
    const payload = webhookPayloadJsonSchema('comment.created');
    expect(payload).toMatchObject({ properties: { example: { const: true } } });
    expect(payload.required).toEqual(['type', 'timestamp', 'data']);
    expect(webhookDataSchemas[WEBHOOK_TEST_EVENT].safeParse({ environmentId: 'e', endpointId: 'wh_1', message: 'hi' }).success).toBe(true);
    for (const type of types) expect(webhookDataSchemas[type], type).toBeDefined();
  });

  it('has an example of every event type, in exactly its schema\'s shape, about the example room', () => {
    const at = '2026-12-06T08:00:00.000Z';
    for (const type of WEBHOOK_EVENT_TYPES) {
      const data = webhookExampleData(type, 'env_example', at);
      // Parsing drops fields a schema does not name: equal means none is misspelt or missing.
      expect(webhookDataSchemas[type].parse(data), type).toEqual(data);
      expect((data as { roomId: string }).roomId).toBe(WEBHOOK_EXAMPLE_ROOM);
    }
    expect((webhookExampleData('thread.resolved', 'e', at) as { thread: { resolved: boolean } }).thread.resolved).toBe(true);
    // Events nobody caused carry the system actor, in the examples as in the schemas.
    for (const type of ['notification.unread', 'room.created', 'p2p.state.persisted'] as const) {
      expect(webhookExampleData(type, 'e', at).actor, type).toEqual({ type: 'system' });
      const asUser = { ...webhookExampleData(type, 'e', at), actor: { type: 'user', userId: 'u' } };
      expect(webhookDataSchemas[type].safeParse(asUser).success, type).toBe(false);
    }
    expect(webhookExampleData('notification.created', 'e', at).actor).toEqual({ type: 'user', userId: 'example-user' });
  });
});
