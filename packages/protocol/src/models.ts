import { z } from 'zod';
import { pinPosition } from './fields.ts';

/**
 * Objects the REST API and the WebSocket protocol return, as zod schemas (for the OpenAPI
 * document) with their TypeScript types. Timestamps are ISO 8601 with milliseconds.
 */

const iso = z.string().describe('ISO 8601 timestamp with milliseconds');
export type IsoTimestamp = string;

export const userSchema = z.object({
  id: z.string().describe('Namespaced id: "<environmentId>:<externalId>"'),
  externalId: z.string().describe('The userId you gave when minting the token'),
  name: z.string(),
  avatar: z.string().nullable(),
  color: z.string().describe('Hex colour, auto-assigned unless given'),
  createdAt: iso,
});
export type User = z.infer<typeof userSchema>;

export const roomSchema = z.object({
  id: z.string(),
  environmentId: z.string(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  createdAt: iso,
});
export type Room = z.infer<typeof roomSchema>;

export const reactionSchema = z.object({
  id: z.string(),
  targetId: z.string(),
  targetType: z.literal('comment'),
  userId: z.string().describe('External id of the user who reacted'),
  emoji: z.string(),
  createdAt: iso,
});
export type Reaction = z.infer<typeof reactionSchema>;

export const attachmentTypeSchema = z.enum(['image', 'audio', 'video']);
export type AttachmentType = z.infer<typeof attachmentTypeSchema>;

export const attachmentSchema = z.object({
  id: z.string(),
  type: attachmentTypeSchema,
  filename: z.string(),
  mimeType: z.string(),
  sizeBytes: z.number().int(),
  url: z.string(),
  thumbnailUrl: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  durationMs: z.number().int().optional(),
});
export type Attachment = z.infer<typeof attachmentSchema>;

export const commentSchema = z.object({
  id: z.string(),
  threadId: z.string(),
  userId: z.string().describe('External id of the author'),
  body: z.string(),
  mentions: z.array(z.string()),
  createdAt: iso,
  editedAt: iso.nullable(),
  reactions: z.array(reactionSchema),
  attachments: z.array(attachmentSchema),
});
export type Comment = z.infer<typeof commentSchema>;

export const threadSchema = z.object({
  id: z.string(),
  roomId: z.string(),
  resolved: z.boolean(),
  // As stored and returned: fields added later pass (the strict shape is for input).
  position: z.object(pinPosition.shape).nullable(),
  positionX: z.number().nullable().describe('position.x, flattened'),
  positionY: z.number().nullable().describe('position.y, flattened'),
  createdBy: z.string().describe("The creator's user id: the first comment's author, kept when that comment is deleted"),
  createdAt: iso,
  updatedAt: iso,
});
export type Thread = z.infer<typeof threadSchema>;

export const threadWithCommentsSchema = threadSchema.extend({ comments: z.array(commentSchema) });
export type ThreadWithComments = z.infer<typeof threadWithCommentsSchema>;

export const pageSchema = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  });
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const presenceEntrySchema = z.object({
  user: z.object({ id: z.string(), name: z.string(), avatar: z.string().nullable(), color: z.string() }),
  status: z.enum(['online', 'idle']),
  lastSeen: iso,
});
export type PresenceEntry = z.infer<typeof presenceEntrySchema>;

export const environmentCountsSchema = z.object({
  rooms: z.number().int(),
  threads: z.number().int(),
  users: z.number().int(),
  comments: z.number().int(),
});
export type EnvironmentCounts = z.infer<typeof environmentCountsSchema>;

export type KeyKind = 'publishable' | 'secret';

export const apiKeyInfoSchema = z.object({
  id: z.string(),
  kind: z.enum(['publishable', 'secret']),
  prefix: z.string().describe('The first characters of the key'),
  value: z.string().nullable().describe('The whole key for publishable keys; always null for secret keys'),
  createdAt: iso,
  revokedAt: iso.nullable(),
  status: z.enum(['active', 'revoked']),
});
export type ApiKeyInfo = z.infer<typeof apiKeyInfoSchema>;

export const environmentInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: iso,
  counts: environmentCountsSchema,
});
export type EnvironmentInfo = z.infer<typeof environmentInfoSchema>;

export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});
