import { z } from 'zod';
import { LIMITS } from './limits.ts';
import { TOKEN_MAX_LIFETIME_S, TOKEN_MIN_LIFETIME_S } from './timing.ts';
import {
  attachmentIds,
  avatarUrl,
  clientId,
  commentBody,
  displayName,
  externalUserId,
  emoji,
  hexColor,
  mentions,
  pinPosition,
} from './fields.ts';

/** Request schemas of the REST API and POST /auth/token. Unknown fields are rejected. */

/** A user's email, for email notifications: never shown to other users. null removes it. */
export const userEmail = z
  .string()
  .max(254)
  .regex(/^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+\.[^\s@<>"(),;:]+$/, 'must be an email address');

export const mintTokenBody = z
  .object({
    userId: externalUserId,
    name: displayName,
    avatar: avatarUrl.nullish(),
    color: hexColor.optional(),
    email: userEmail.nullish(),
    /** Lifetime in seconds. */
    expiresIn: z.number().int().min(TOKEN_MIN_LIFETIME_S).max(TOKEN_MAX_LIFETIME_S).optional(),
  })
  .strict();
export type MintTokenBody = z.infer<typeof mintTokenBody>;

export const createThreadBody = z
  .object({
    id: clientId.optional(),
    userId: externalUserId,
    body: commentBody,
    mentions: mentions.optional(),
    position: pinPosition.nullish(),
    attachmentIds: attachmentIds.optional(),
  })
  .strict();
export type CreateThreadBody = z.infer<typeof createThreadBody>;

export const patchThreadBody = z.object({ resolved: z.boolean() }).strict();

export const createCommentBody = z
  .object({
    id: clientId.optional(),
    userId: externalUserId,
    body: commentBody,
    mentions: mentions.optional(),
    attachmentIds: attachmentIds.optional(),
  })
  .strict();
export type CreateCommentBody = z.infer<typeof createCommentBody>;

export const patchCommentBody = z
  .object({
    body: commentBody,
    mentions: mentions.optional(),
    attachmentIds: attachmentIds.optional(),
  })
  .strict();

export const createReactionBody = z.object({ userId: externalUserId, emoji }).strict();

export const putUserBody = z
  .object({
    name: displayName,
    avatar: avatarUrl.nullish(),
    color: hexColor.optional(),
    email: userEmail.nullish(),
  })
  .strict();

export const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(LIMITS.pageMax).optional(),
    cursor: z.string().max(2048).optional(),
  })
  .strict();

export const threadListQuery = pageQuery
  .extend({ resolved: z.enum(['true', 'false']).optional() })
  .strict();
