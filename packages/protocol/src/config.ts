import { z } from 'zod';
import { P2P_MAX_STATE_BYTES_LIMIT } from './p2p-limits.ts';
import { LINK_TEMPLATE_FORM, LINK_TEMPLATE_PLACEHOLDERS, linkTemplateFormOk, linkTemplatePlaceholdersOk } from './link-template.ts';

/**
 * The environment config: tenant-controlled feature flags and limits, stored per
 * environment, sent to clients in `auth:ok` and enforced by the server.
 * Types and ranges (ranges are ours; the docs give only the defaults).
 */
export const envConfigShape = {
  // Media
  allowImages: z.boolean(),
  allowAudio: z.boolean(),
  allowVideo: z.boolean(),
  maxFileSizeMb: z.number().int().min(1).max(100),
  maxAttachmentsPerComment: z.number().int().min(0).max(20),
  // Features
  allowReactions: z.boolean(),
  allowDrawing: z.boolean(),
  allowMentions: z.boolean(),
  // Display
  showCursors: z.boolean(),
  showPresence: z.boolean(),
  showTypingIndicators: z.boolean(),
  // P2P / Real-Time Data
  allowP2P: z.boolean(),
  p2pMeshLimit: z.number().int().min(2).max(50),
  p2pPersistIntervalMs: z.number().int().min(1000).max(600_000),
  p2pStateTTLDays: z.number().int().min(1).max(3650),
  p2pMaxStateBytes: z.number().int().min(1024).max(P2P_MAX_STATE_BYTES_LIMIT),
  maxSharedObjects: z.number().int().min(1).max(1000),
  allowP2PBinary: z.boolean(),
  // Email (Pulse's additions to the reference's eighteen settings)
  emailNotifications: z.boolean(),
  emailDelaySeconds: z.number().int().min(0).max(86_400),
  emailLinkTemplate: z
    .string()
    .max(2048)
    .refine(linkTemplateFormOk, LINK_TEMPLATE_FORM),
} as const;

/** A complete config; unknown keys rejected. */
export const envConfigSchema = z.object(envConfigShape).strict();
export type EnvConfig = z.infer<typeof envConfigSchema>;
export type EnvConfigKey = keyof EnvConfig;

/** A partial update: every key optional, unknown keys rejected. */
/**
 * A change. Stricter than a stored config on what is new since: a template with another
 * placeholder than {roomId} and {threadId} is refused here, while a stored one (set before this
 * rule) still reads, rather than the whole config falling back to the defaults.
 */
export const envConfigPatchSchema = envConfigSchema
  .partial()
  .strict()
  .refine((p) => p.emailLinkTemplate === undefined || linkTemplatePlaceholdersOk(p.emailLinkTemplate), {
    message: LINK_TEMPLATE_PLACEHOLDERS,
    path: ['emailLinkTemplate'],
  });
export type EnvConfigPatch = Partial<EnvConfig>;

export { DEFAULT_ENV_CONFIG } from './config-defaults.ts';

export interface EnvConfigField {
  key: EnvConfigKey;
  label: string;
  kind: 'boolean' | 'number' | 'string';
  description: string;
  min?: number;
  max?: number;
  unit?: string;
  /** The switch this setting depends on: while it is off, the setting has no effect. */
  requires?: EnvConfigKey;
}

export interface EnvConfigGroup {
  name: 'Media' | 'Features' | 'Display' | 'P2P' | 'Email';
  fields: EnvConfigField[];
}


function numberRange(key: EnvConfigKey): { min: number; max: number } {
  const schema = envConfigShape[key] as z.ZodNumber;
  return { min: schema.minValue ?? 0, max: schema.maxValue ?? Number.MAX_SAFE_INTEGER };
}

const bool = (key: EnvConfigKey, label: string, description: string): EnvConfigField => ({
  key,
  label,
  kind: 'boolean',
  description,
});
const num = (key: EnvConfigKey, label: string, description: string, unit?: string, requires?: EnvConfigKey): EnvConfigField => ({
  key,
  label,
  kind: 'number',
  description,
  ...numberRange(key),
  ...(requires ? { requires } : {}),
  ...(unit ? { unit } : {}),
});

/** The settings grouped as in the docs and the panel's Configure Environment modal. */
export const ENV_CONFIG_GROUPS: readonly EnvConfigGroup[] = [
  {
    name: 'Media',
    fields: [
      bool('allowImages', 'Allow Images', 'Enable image file attachments'),
      bool('allowAudio', 'Allow Audio', 'Enable audio recording attachments'),
      bool('allowVideo', 'Allow Video', 'Enable video recording attachments'),
      num('maxFileSizeMb', 'Max File Size (MB)', 'Per-file upload size limit', 'MB'),
      num('maxAttachmentsPerComment', 'Max Attachments per Comment', 'How many files can be attached to one comment'),
    ],
  },
  {
    name: 'Features',
    fields: [
      bool('allowReactions', 'Allow Reactions', 'Enable emoji reactions on comments'),
      bool('allowDrawing', 'Allow Drawing', 'Enable freehand drawing overlay'),
      bool('allowMentions', 'Allow Mentions', 'Enable @mention autocomplete'),
    ],
  },
  {
    name: 'Display',
    fields: [
      bool('showCursors', 'Show Cursors', 'Show live cursor positions'),
      bool('showPresence', 'Show Presence', 'Show presence avatars in the toolbar'),
      bool('showTypingIndicators', 'Show Typing Indicators', 'Show "is typing..." in threads'),
    ],
  },
  {
    name: 'P2P',
    fields: [
      bool('allowP2P', 'Allow P2P', 'Enable P2P data channels (WebRTC + CRDT)'),
      num('p2pMeshLimit', 'P2P Mesh Limit', 'Max peers for direct P2P mesh; beyond this, WebSocket fallback', undefined, 'allowP2P'),
      num('p2pPersistIntervalMs', 'P2P Persist Interval (ms)', 'How often CRDT state auto-saves to the server', 'ms', 'allowP2P'),
      num('p2pStateTTLDays', 'P2P State TTL (days)', 'Days of inactivity before persisted P2P state is cleaned up', 'days', 'allowP2P'),
      num('p2pMaxStateBytes', 'P2P Max State (bytes)', 'Max CRDT state size per room', 'bytes', 'allowP2P'),
      num('maxSharedObjects', 'Max Shared Objects', 'Max shared data structures per room', undefined, 'allowP2P'),
      { ...bool('allowP2PBinary', 'Allow P2P Binary', 'Allow binary data on raw P2P channels'), requires: 'allowP2P' },
    ],
  },
  {
    name: 'Email',
    fields: [
      bool('emailNotifications', 'Email Notifications', 'Email users their unread mentions and replies (needs PULSE_SMTP_URL and a user email)'),
      num('emailDelaySeconds', 'Email Delay (seconds)', 'A notification read within this time is neither emailed nor sent as notification.unread; one email per user per window', 's'),
      {
        key: 'emailLinkTemplate',
        label: 'Email Link Template',
        kind: 'string',
        description: 'Link back to the page, e.g. https://app.example.com/rooms/{roomId}#thread-{threadId}',
        requires: 'emailNotifications',
      },
    ],
  },
];

/**
 * Parses `key=value` strings (as typed on a command line) into a validated patch.
 * Throws a message naming the offending key.
 */
export function parseEnvConfigAssignments(assignments: string[]): EnvConfigPatch {
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new Error(`expected key=value, got "${assignment}"`);
    const key = assignment.slice(0, eq).trim();
    const raw = assignment.slice(eq + 1).trim();
    if (!(key in envConfigShape)) {
      throw new Error(`unknown setting "${key}" (known: ${Object.keys(envConfigShape).join(', ')})`);
    }
    const field = ENV_CONFIG_GROUPS.flatMap((g) => g.fields).find((f) => f.key === key)!;
    if (field.kind === 'string') patch[key] = raw;
    else if (field.kind === 'boolean') {
      if (raw === 'true' || raw === 'on' || raw === '1') patch[key] = true;
      else if (raw === 'false' || raw === 'off' || raw === '0') patch[key] = false;
      else throw new Error(`${key}: must be true or false (or on/off, 1/0), got "${raw}"`);
    } else {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new Error(`${key}: must be a number, got "${raw}"`);
      patch[key] = n;
    }
  }
  const result = envConfigPatchSchema.safeParse(patch);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`${issue.path.join('.')}: ${issue.message}`);
  }
  return result.data as EnvConfigPatch;
}
