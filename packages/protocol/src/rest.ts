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

const WHOLE_PAGE_SIZE = `must be a whole number from 1 to ${LIMITS.pageMax}`;

export const pageQuery = z
  .object({
    // In a query string, digits only: `1e1`, `010` or ` 5` are not what a client meant to send.
    limit: z
      .union([z.number(), z.string().regex(/^[1-9][0-9]{0,5}$/).transform(Number)], WHOLE_PAGE_SIZE)
      .pipe(z.number().int(WHOLE_PAGE_SIZE).min(1, WHOLE_PAGE_SIZE).max(LIMITS.pageMax, WHOLE_PAGE_SIZE))
      .optional(),
    cursor: z.string().min(1, 'must be the nextCursor of a previous page (leave it out for the first page)').max(2048).optional(),
  })
  .strict();

export const threadListQuery = pageQuery
  .extend({ resolved: z.enum(['true', 'false']).optional() })
  .strict();
