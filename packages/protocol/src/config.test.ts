import { describe, expect, it } from 'vitest';
import { DEFAULT_ENV_CONFIG, ENV_CONFIG_GROUPS, envConfigPatchSchema, envConfigSchema, parseEnvConfigAssignments } from './config.ts';

describe('environment config', () => {
  it('has the 18 documented settings with their documented defaults, and Pulse\'s three email settings', () => {
    expect(DEFAULT_ENV_CONFIG).toEqual({
      allowImages: true,
      allowAudio: true,
      allowVideo: true,
      maxFileSizeMb: 10,
      maxAttachmentsPerComment: 5,
      allowReactions: true,
      allowDrawing: true,
      allowMentions: true,
      showCursors: true,
      showPresence: true,
      showTypingIndicators: true,
      allowP2P: false,
      p2pMeshLimit: 6,
      p2pPersistIntervalMs: 5000,
      p2pStateTTLDays: 30,
      p2pMaxStateBytes: 5242880,
      maxSharedObjects: 20,
      allowP2PBinary: false,
      emailNotifications: false,
      emailDelaySeconds: 600,
      emailLinkTemplate: '',
    });
    expect(envConfigSchema.parse(DEFAULT_ENV_CONFIG)).toEqual(DEFAULT_ENV_CONFIG);
  });

  it('groups every setting exactly once, as in the docs', () => {
    const keys = ENV_CONFIG_GROUPS.flatMap((g) => g.fields.map((f) => f.key));
    expect(keys.sort()).toEqual(Object.keys(DEFAULT_ENV_CONFIG).sort());
    expect(ENV_CONFIG_GROUPS.map((g) => g.name)).toEqual(['Media', 'Features', 'Display', 'P2P', 'Email']);
    expect(ENV_CONFIG_GROUPS[0]!.fields.find((f) => f.key === 'maxFileSizeMb')).toMatchObject({ min: 1, max: 100 });
  });

  it('validates patches: unknown keys and out-of-range values are rejected', () => {
    expect(envConfigPatchSchema.parse({})).toEqual({});
    expect(envConfigPatchSchema.safeParse({ nope: true }).success).toBe(false);
    expect(envConfigPatchSchema.safeParse({ maxFileSizeMb: 0 }).success).toBe(false);
    expect(envConfigPatchSchema.safeParse({ maxFileSizeMb: 2.5 }).success).toBe(false);
    expect(envConfigPatchSchema.safeParse({ allowImages: 'yes' }).success).toBe(false);
  });

  it('parses key=value assignments from a command line', () => {
    expect(parseEnvConfigAssignments(['allowImages=false', 'maxFileSizeMb=25', 'showCursors=on'])).toEqual({
      allowImages: false,
      maxFileSizeMb: 25,
      showCursors: true,
    });
    expect(() => parseEnvConfigAssignments(['allowTeleport=true'])).toThrow(/unknown setting "allowTeleport"/);
    expect(() => parseEnvConfigAssignments(['maxFileSizeMb=1000'])).toThrow(/maxFileSizeMb/);
    expect(() => parseEnvConfigAssignments(['maxFileSizeMb=ten'])).toThrow(/must be a number/);
    expect(() => parseEnvConfigAssignments(['allowImages'])).toThrow(/key=value/);
    expect(parseEnvConfigAssignments(['emailLinkTemplate=https://app.example.com/r/{roomId}#t-{threadId}', 'emailDelaySeconds=0'])).toEqual({
      emailLinkTemplate: 'https://app.example.com/r/{roomId}#t-{threadId}',
      emailDelaySeconds: 0,
    });
    expect(() => parseEnvConfigAssignments(['emailLinkTemplate=javascript:alert(1)'])).toThrow(/emailLinkTemplate/);
    expect(() => parseEnvConfigAssignments(['emailLinkTemplate=https://x.example/{foo}'])).toThrow(/emailLinkTemplate: only \{roomId\} and \{threadId\}/);
    // Only changes are refused: a config stored before the rule still reads whole.
    expect(envConfigSchema.safeParse({ ...DEFAULT_ENV_CONFIG, emailLinkTemplate: 'https://x.example/{commentId}' }).success).toBe(true);
    expect(envConfigPatchSchema.safeParse({ emailLinkTemplate: 'https://x.example/{commentId}' }).success).toBe(false);
    expect(() => parseEnvConfigAssignments(['emailDelaySeconds=86401'])).toThrow(/emailDelaySeconds/);
  });
});
