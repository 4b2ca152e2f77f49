/**
 * The parts of the protocol that run in browsers without zod: constants, defaults, the error
 * catalogue and every type. `@pulse/core` and the widget import this, keeping their bundles small.
 */
export * from './close-codes.ts';
export * from './config-defaults.ts';
export * from './errors.ts';
export * from './format.ts';
export * from './limits.ts';
export * from './link-template.ts';
export * from './media.ts';
export * from './palette.ts';
export * from './timing.ts';
export * from './p2p-limits.ts';
export type * from './admin-api.ts';
export type * from './config.ts';
export type * from './events.ts';
export type * from './fields.ts';
export type * from './messages.ts';
export type * from './models.ts';
export type * from './realtime-models.ts';
export type * from './p2p.ts';
export * from './webhook-events.ts';
