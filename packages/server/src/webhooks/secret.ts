import { randomBytes } from 'node:crypto';

/** A signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks receivers expect. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
