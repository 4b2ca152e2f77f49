/**
 * Who performs a change. A `user` acts through a user token and may change only what they
 * own; the `backend` (REST with a secret key) and an `admin` (panel moderation) may change
 * anything in their environment.
 */
export type Actor =
  | { kind: 'user'; externalId: string }
  | { kind: 'backend' }
  | { kind: 'admin'; adminId: string };

export const canModerate = (actor: Actor) => actor.kind !== 'user';
