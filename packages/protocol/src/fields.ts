import { z } from 'zod';
import { LIMITS } from './limits.ts';

/** Field schemas reused by REST bodies and WebSocket messages. */

// No control characters (C0, DEL, C1) and no lone surrogates in user-visible or id strings.
const CONTROL_RANGE = '\\u0000-\\u001f\\u007f-\\u009f';
const CONTROL_CHARS = new RegExp(`[${CONTROL_RANGE}]`);
/** Bidirectional overrides and isolates: they make text (a URL) read differently from what it is. */
const BIDI_RANGE = '\\u202a-\\u202e\\u2066-\\u2069';
const BIDI_CONTROLS = new RegExp(`[${BIDI_RANGE}]`);
const UNSAFE_ON_SCREEN = new RegExp(`[${CONTROL_RANGE}${BIDI_RANGE}]`, 'g');

export const hasBidiControls = (s: string): boolean => BIDI_CONTROLS.test(s);

/** Text shown on a terminal: control characters and bidirectional overrides as `\\u001b`-style escapes. */
export const escapeControls = (s: string): string => s.replace(UNSAFE_ON_SCREEN, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Text no stored name or id can contain (a search or lookup for it is bad input, not a miss). */
export const isUnstorableText = (s: string): boolean => CONTROL_CHARS.test(s) || LONE_SURROGATE.test(s);

const cleanString = (max: number, what: string) =>
  z
    .string()
    .max(max, `${what} must be at most ${max} characters`)
    .refine((s) => !CONTROL_CHARS.test(s), `${what} must not contain control characters`)
    .refine((s) => !LONE_SURROGATE.test(s), `${what} must be valid Unicode`);

/** A request's `ref`, echoed in its answer: 1–64 characters (an empty one could not be told from none). */
export const requestRef = z.string().min(1).max(64).optional();

/** A client-generated object id (thread, comment): letters, digits, `_` and `-`. */
export const clientId = z
  .string()
  .min(1)
  .max(LIMITS.idLength)
  .regex(/^[A-Za-z0-9_-]+$/, 'must contain only letters, digits, "_" and "-"');

/** Any server-issued or client-issued object id accepted in paths. */
export const objectId = clientId;

export const roomId = cleanString(LIMITS.roomIdLength, 'room').min(1, 'room must not be empty');
/** Your system's user id (the `externalId`). */
export const externalUserId = cleanString(LIMITS.userIdLength, 'userId')
  .min(1, 'userId must not be empty')
  .refine((s) => s.trim() === s, 'userId must not start or end with whitespace');
export const displayName = cleanString(LIMITS.nameLength, 'name').refine(
  (s) => s.trim().length > 0,
  'name must not be blank',
);
export const avatarUrl = z
  .string()
  .max(LIMITS.urlLength)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'avatar must be an http(s) URL');
export const hexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'color must look like #6366f1');

export const commentBody = z
  .string()
  .max(LIMITS.commentBodyLength, `body must be at most ${LIMITS.commentBodyLength} characters`)
  .refine((s) => !LONE_SURROGATE.test(s), 'body must be valid Unicode')
  .refine((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(s), 'body must not contain control characters');

/** Duplicates are dropped before the limit of LIMITS.mentionsPerComment distinct users is checked. */
export const mentions = z
  .array(externalUserId)
  .max(LIMITS.mentionsListMax, `at most ${LIMITS.mentionsListMax} entries (${LIMITS.mentionsPerComment} distinct users)`);

export const attachmentIds = z.array(clientId).max(LIMITS.attachmentsPerCommentHardCap);

/**
 * One emoji (after Unicode's emoji sequences, UTS #51): a pictograph with an optional
 * presentation selector, skin tone and tag sequence, a flag (two regional indicators) or a
 * keycap, and ZWJ sequences of those. Two emoji side by side, or a dangling joiner, are not one.
 */
const EMOJI_ELEMENT = String.raw`(?:\p{Regional_Indicator}{2}|[0-9#*]\uFE0F?\u20E3|\p{Extended_Pictographic}\uFE0F?\p{Emoji_Modifier}?(?:[\u{E0020}-\u{E007E}]+\u{E007F})?)`;
const ONE_EMOJI = new RegExp(String.raw`^${EMOJI_ELEMENT}(?:\u200D${EMOJI_ELEMENT})*$`, 'u');
export const emoji = z
  .string()
  .min(1)
  .max(LIMITS.emojiLength)
  .refine((s) => ONE_EMOJI.test(s), 'emoji must be one emoji (skin tones, flags, keycaps and ZWJ sequences count as one)');

const unit = z.number().min(0).max(1);

/** Where a thread is pinned: page-relative x/y (0–1), optionally anchored to an element. */
export const pinPosition = z
  .object({
    x: unit,
    y: unit,
    selector: cleanString(LIMITS.selectorLength, 'selector').optional(),
    path: cleanString(LIMITS.pathLength, 'path').optional(),
    /** Offset inside the anchored element, relative to its box (0–1). */
    offsetX: unit.optional(),
    offsetY: unit.optional(),
  })
  .strict();
export type PinPosition = z.infer<typeof pinPosition>;

export const deviceType = z.enum(['desktop', 'mobile', 'tablet']);
export type DeviceType = z.infer<typeof deviceType>;
