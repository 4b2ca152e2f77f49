import { z } from 'zod';
import {
  commentSchema,
  errorBodySchema,
  pageSchema,
  presenceEntrySchema,
  reactionSchema,
  roomSchema,
  threadSchema,
  threadWithCommentsSchema,
  userSchema,
} from './models.ts';
import {
  createCommentBody,
  createReactionBody,
  createThreadBody,
  mintTokenBody,
  pageQuery,
  patchCommentBody,
  patchThreadBody,
  putUserBody,
  threadListQuery,
} from './rest.ts';

export interface RestRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path with `:param` placeholders, relative to the server root. */
  path: string;
  summary: string;
  tag: string;
  auth: 'secret' | 'none';
  body?: z.ZodType;
  query?: z.ZodType;
  status: 200 | 201 | 204;
  /** Another success with the same body: a repeat that found what it would have made. */
  repeatStatus?: 200;
  /** The body of a success (none for 204). */
  response?: z.ZodType;
}

const deleted = z.object({ deleted: z.literal(true) });

/** A room's P2P shared data as JSON (see docs/rest-api.md). */
const sharedStateSchema = z.object({
  roomId: z.string(),
  bytes: z.number().int(),
  /** The stored copy's version (what `p2p.state.persisted` webhooks name); null when nothing is stored. */
  version: z.number().int().nullable(),
  updatedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  objects: z.array(z.object({ type: z.enum(['map', 'list', 'counter']), name: z.string(), value: z.unknown() })),
});

/** Every REST endpoint: the server registers a handler for each, the OpenAPI document is built from it. */
export const REST_ROUTES = {
  mintToken: {
    method: 'POST', path: '/auth/token', tag: 'Auth', auth: 'secret', status: 200,
    summary: 'Mint a user token for the WebSocket and uploads',
    body: mintTokenBody,
    response: z.object({ token: z.string(), expiresAt: z.string(), user: userSchema.omit({ createdAt: true }) }),
  },
  listRooms: {
    method: 'GET', path: '/api/v1/rooms', tag: 'Rooms', auth: 'secret', status: 200,
    summary: 'List rooms', query: pageQuery, response: pageSchema(roomSchema),
  },
  getRoom: {
    method: 'GET', path: '/api/v1/rooms/:roomId', tag: 'Rooms', auth: 'secret', status: 200,
    summary: 'Get a room with its threads',
    response: z.object({ room: roomSchema, threads: z.array(threadSchema) }),
  },
  getPresence: {
    method: 'GET', path: '/api/v1/rooms/:roomId/presence', tag: 'Users', auth: 'secret', status: 200,
    summary: 'Users connected to a room right now', response: z.object({ items: z.array(presenceEntrySchema) }),
  },
  getSharedState: {
    method: 'GET', path: '/api/v1/rooms/:roomId/shared', tag: 'P2P shared data', auth: 'secret', status: 200,
    summary: 'A room\'s P2P shared objects as JSON (404 when it has none)', response: sharedStateSchema,
  },
  deleteSharedState: {
    method: 'DELETE', path: '/api/v1/rooms/:roomId/shared', tag: 'P2P shared data', auth: 'secret', status: 204,
    summary: 'Delete a room\'s P2P shared data, stored and live (connected peers start over)',
  },
  listThreads: {
    method: 'GET', path: '/api/v1/rooms/:roomId/threads', tag: 'Threads', auth: 'secret', status: 200,
    summary: 'List threads in a room', query: threadListQuery, response: pageSchema(threadSchema),
  },
  createThread: {
    method: 'POST', path: '/api/v1/rooms/:roomId/threads', tag: 'Threads', auth: 'secret', status: 201,
    summary: 'Create a thread with its first comment (creates the room on first use)',
    body: createThreadBody, response: z.object({ thread: threadWithCommentsSchema }),
  },
  getThread: {
    method: 'GET', path: '/api/v1/threads/:threadId', tag: 'Threads', auth: 'secret', status: 200,
    summary: 'Get a thread with its comments',
    response: z.object({ thread: threadSchema, comments: z.array(commentSchema) }),
  },
  patchThread: {
    method: 'PATCH', path: '/api/v1/threads/:threadId', tag: 'Threads', auth: 'secret', status: 200,
    summary: 'Resolve or reopen a thread', body: patchThreadBody, response: z.object({ thread: threadSchema }),
  },
  deleteThread: {
    method: 'DELETE', path: '/api/v1/threads/:threadId', tag: 'Threads', auth: 'secret', status: 200,
    summary: 'Delete a thread and its comments', response: deleted,
  },
  listComments: {
    method: 'GET', path: '/api/v1/threads/:threadId/comments', tag: 'Comments', auth: 'secret', status: 200,
    summary: 'List the comments of a thread', query: pageQuery, response: pageSchema(commentSchema),
  },
  createComment: {
    method: 'POST', path: '/api/v1/threads/:threadId/comments', tag: 'Comments', auth: 'secret', status: 201,
    summary: 'Reply to a thread', body: createCommentBody, response: z.object({ comment: commentSchema }),
  },
  patchComment: {
    method: 'PATCH', path: '/api/v1/comments/:commentId', tag: 'Comments', auth: 'secret', status: 200,
    summary: 'Edit a comment', body: patchCommentBody, response: z.object({ comment: commentSchema }),
  },
  deleteComment: {
    method: 'DELETE', path: '/api/v1/comments/:commentId', tag: 'Comments', auth: 'secret', status: 200,
    summary: 'Delete a comment (and its thread when it was the last one)', response: deleted,
  },
  addReaction: {
    method: 'POST', path: '/api/v1/comments/:commentId/reactions', tag: 'Reactions', auth: 'secret', status: 201, repeatStatus: 200,
    summary: 'React to a comment (201 when added, 200 with the existing reaction when already there)',
    body: createReactionBody, response: z.object({ reaction: reactionSchema }),
  },
  deleteReaction: {
    method: 'DELETE', path: '/api/v1/reactions/:reactionId', tag: 'Reactions', auth: 'secret', status: 200,
    summary: 'Remove a reaction', response: deleted,
  },
  listUsers: {
    method: 'GET', path: '/api/v1/users', tag: 'Users', auth: 'secret', status: 200,
    summary: 'List users who have connected', query: pageQuery, response: pageSchema(userSchema),
  },
  putUser: {
    method: 'PUT', path: '/api/v1/users/:userId', tag: 'Users', auth: 'secret', status: 200,
    summary: 'Create or update a user (e.g. a bot) without a browser', body: putUserBody, response: z.object({ user: userSchema }),
  },
} as const satisfies Record<string, RestRoute>;

export type RestRouteName = keyof typeof REST_ROUTES;

/** Builds the OpenAPI 3.1 document of the REST API from the route table. */
export function buildOpenApiDocument(serverUrl: string, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const json = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  for (const [name, route] of Object.entries(REST_ROUTES) as [string, RestRoute][]) {
    const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
    const openPath = route.path.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = params.map((p) => ({ name: p, in: 'path', required: true, schema: { type: 'string' } }));
    if (route.query) {
      const qs = json(route.query, 'input') as { properties?: Record<string, unknown> };
      for (const [q, schema] of Object.entries(qs.properties ?? {})) parameters.push({ name: q, in: 'query', required: false, schema });
    }
    const success = route.response ? { description: 'Success', content: { 'application/json': { schema: json(route.response, 'output') } } } : { description: 'Success, no content' };
    const operation: Record<string, unknown> = {
      operationId: name,
      summary: route.summary,
      tags: [route.tag],
      parameters,
      responses: {
        [route.status]: success,
        ...(route.repeatStatus ? { [route.repeatStatus]: { ...success, description: 'Already there: nothing changed' } } : {}),
        default: { description: 'Error', content: { 'application/json': { schema: json(errorBodySchema, 'output') } } },
      },
    };
    if (route.auth === 'secret') operation.security = [{ secretKey: [] }];
    if (route.body) {
      operation.requestBody = { required: true, content: { 'application/json': { schema: json(route.body, 'input') } } };
    }
    (paths[openPath] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Pulse REST API', version, description: 'Every request is scoped to the environment of the secret key.' },
    servers: [{ url: serverUrl }],
    components: { securitySchemes: { secretKey: { type: 'http', scheme: 'bearer', description: 'Secret key (sk_…)' } } },
    paths,
  };
}
