import { randomBytes } from 'node:crypto';
import { WEBHOOK_SECRET_PREFIX, webhookSecretKey } from '@pulse/protocol';

/** A signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks receivers expect. */
export const newWebhookSecret = () => `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;

/** A secret of your own (checked by `webhookSecretSchema`), with its `whsec_` prefix. */
export const ownWebhookSecret = (given: string) => `${WEBHOOK_SECRET_PREFIX}${webhookSecretKey(given)}`;
