import type { EnvConfig } from './config.ts';

/** The documented defaults. */
export const DEFAULT_ENV_CONFIG: Readonly<EnvConfig> = Object.freeze({
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
  p2pMaxStateBytes: 5_242_880,
  maxSharedObjects: 20,
  allowP2PBinary: false,
  emailNotifications: false,
  emailDelaySeconds: 600,
  emailLinkTemplate: '',
});
