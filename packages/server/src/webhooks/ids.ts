import { randomBytes } from 'node:crypto';

/** Ids of webhook objects. The event id is what receivers see as `webhook-id` (Standard Webhooks' `msg_` prefix). */
export const newWebhookEventId = () => `msg_${randomBytes(12).toString('hex')}`;
export const newWebhookEndpointId = () => `wh_${randomBytes(8).toString('hex')}`;
export const newWebhookDeliveryId = () => `whd_${randomBytes(12).toString('hex')}`;
/** A signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks receivers expect. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
