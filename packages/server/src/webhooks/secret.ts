import { randomBytes } from 'node:crypto';

/** A signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks receivers expect. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** A secret of your own (checked by `webhookSecretSchema`), with its `whsec_` prefix. */
export const ownWebhookSecret = (given: string) => (given.startsWith('whsec_') ? given : `whsec_${given}`);
