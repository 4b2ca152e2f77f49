/**
 * The one error catalogue, shared by REST (HTTP status + body) and WebSocket
 * (`error` / `auth:error` frames). REST bodies look like
 * `{ "error": { "code": "thread_not_found", "message": "…" } }`.
 */
export const ERROR_CATALOGUE = {
  // 400
  validation_failed: { status: 400, message: 'The request is invalid.' },
  invalid_json: { status: 400, message: 'The body is not valid JSON.' },
  invalid_message: { status: 400, message: 'The message is not valid.' },
  unknown_message_type: { status: 400, message: 'Unknown message type.' },
  no_file: { status: 400, message: 'No file was provided in the "file" field.' },
  unsupported_file_type: { status: 400, message: 'This file type is not supported.' },
  too_many_attachments: { status: 400, message: 'Too many attachments for one comment.' },
  too_many_mentions: { status: 400, message: 'Too many mentions in one comment.' },
  // 401
  unauthorized: { status: 401, message: 'Missing or malformed credentials.' },
  invalid_api_key: { status: 401, message: 'The API key is not valid.' },
  key_revoked: { status: 401, message: 'The API key has been revoked.' },
  publishable_key_not_allowed: {
    status: 401,
    message: 'A publishable key (pk_) cannot authenticate this request; use the secret key (sk_).',
  },
  secret_key_not_allowed: {
    status: 401,
    message: 'A secret key (sk_) must never be sent from a client; use the publishable key (pk_).',
  },
  invalid_token: { status: 401, message: 'The user token is not valid.' },
  token_expired: { status: 401, message: 'The user token has expired.' },
  token_revoked: { status: 401, message: 'The key that minted this user token has been revoked or rotated.' },
  environment_mismatch: { status: 401, message: 'The user token belongs to another environment than the key.' },
  not_authenticated: { status: 401, message: 'Send an auth message first.' },
  auth_timeout: { status: 401, message: 'No auth message was received in time.' },
  // 403
  forbidden: { status: 403, message: 'You are not allowed to do this.' },
  not_author: { status: 403, message: 'Only the author can change this comment.' },
  feature_disabled: { status: 403, message: 'This feature is turned off for the environment.' },
  images_disabled: { status: 403, message: 'Image attachments are turned off for this environment.' },
  audio_disabled: { status: 403, message: 'Audio attachments are turned off for this environment.' },
  video_disabled: { status: 403, message: 'Video attachments are turned off for this environment.' },
  csrf_failed: { status: 403, message: 'Missing or wrong CSRF token.' },
  // 404
  not_found: { status: 404, message: 'Not found.' },
  environment_not_found: { status: 404, message: 'Environment not found.' },
  key_not_found: { status: 404, message: 'Key not found.' },
  room_not_found: { status: 404, message: 'Room not found.' },
  thread_not_found: { status: 404, message: 'Thread not found.' },
  comment_not_found: { status: 404, message: 'Comment not found.' },
  reaction_not_found: { status: 404, message: 'Reaction not found.' },
  user_not_found: { status: 404, message: 'User not found.' },
  attachment_not_found: { status: 404, message: 'Attachment not found.' },
  // 405 / 408 / 409 / 413 / 415 / 429 / 431
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  request_timeout: { status: 408, message: 'The request body did not arrive in time.' },
  already_exists: { status: 409, message: 'An object with this id already exists.' },
  attachment_in_use: { status: 409, message: 'The attachment is already attached to a comment.' },
  endpoint_disabled: { status: 409, message: 'The webhook endpoint is disabled: enable it first.' },
  payload_too_large: { status: 413, message: 'The body is too large.' },
  message_too_big: { status: 413, message: 'The message is too large.' },
  file_too_large: { status: 413, message: 'The file is larger than the environment allows.' },
  unsupported_media_type: { status: 415, message: 'Unsupported Content-Type; send application/json.' },
  rate_limited: { status: 429, message: 'Too many requests; slow down.' },
  headers_too_large: { status: 431, message: 'The request line and headers are too large (16 KB at most together).' },
  room_full: { status: 429, message: 'This room has reached its connection limit.' },
  too_many_connections: { status: 429, message: 'Too many connections from this user or address.' },
  too_many_pending_uploads: { status: 429, message: 'Too many uploads are not attached to a comment yet.' },
  room_content_full: { status: 413, message: 'This room holds as many threads and comments as it may; delete some to add more.' },
  drawing_full: { status: 413, message: 'This room\'s drawing is full; clear it to draw more.' },
  // P2P shared data
  p2p_disabled: { status: 403, message: 'P2P shared data is turned off for this environment (allowP2P).' },
  p2p_binary_disabled: { status: 403, message: 'Binary raw messages are turned off for this environment (allowP2PBinary).' },
  p2p_not_joined: { status: 400, message: 'Join the room\'s P2P session (p2p:join) first.' },
  peer_not_found: { status: 404, message: 'No such peer in this room\'s P2P session.' },
  p2p_state_too_large: { status: 413, message: 'The room\'s shared state is larger than the environment allows (p2pMaxStateBytes); it was not stored.' },
  too_many_shared_objects: { status: 400, message: 'The room already has as many shared objects as the environment allows (maxSharedObjects).' },
  already_authenticated: { status: 400, message: 'This connection is already authenticated; open a new one to change rooms.' },
  // 5xx
  internal_error: { status: 500, message: 'Something went wrong on the server.' },
  service_unavailable: { status: 503, message: 'The service is temporarily unavailable.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** The error every layer throws; REST and WebSocket turn it into their wire shape. */
export class PulseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'PulseError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}
