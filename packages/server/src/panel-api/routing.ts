import { PulseError } from '@pulse/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HeavyReads } from './heavy-reads.ts';
import { onlyKnown } from './input.ts';
import type { PanelSessions, SignedIn } from './session.ts';

/** Where the admin API lives. */
export const API = '/panel/api';

/**
 * Who may call a route: anyone (`public`), any signed-in account (`member`: reads, and signing
 * out), or only accounts with the Admin role (`admin`: every change).
 */
export type Access = 'public' | 'member' | 'admin';

export interface Call {
  request: FastifyRequest;
  reply: FastifyReply;
  params: Record<string, string>;
  /** Set for every route but `public` ones (where it is set when a session exists). */
  signedIn: SignedIn | undefined;
}

export interface SignedInCall extends Call {
  signedIn: SignedIn;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteOptions {
  /** The query parameters the route takes; any other answers 400 `validation_failed`. None by default. */
  query?: readonly string[];
  /** Reads an environment's whole table: runs in turn with the others (see HeavyReads). */
  heavy?: boolean;
}

export interface PanelRouter {
  route(method: Method, path: string, access: 'public', handler: (call: Call) => Promise<unknown>, options?: RouteOptions): void;
  route(method: Method, path: string, access: 'member' | 'admin', handler: (call: SignedInCall) => Promise<unknown>, options?: RouteOptions): void;
}

/** A handler's answer with another status than 200 (or none at all for 204). */
export class Status {
  constructor(
    readonly status: number,
    readonly body?: unknown,
  ) {}
}

/**
 * Registers admin API routes. Every check happens before the body is read, in this order:
 * session (401), CSRF token on every state-changing method (403 `csrf_failed`), role (403 `forbidden`).
 */
export function panelRouter(app: FastifyInstance, sessions: PanelSessions): PanelRouter {
  const calls = new WeakMap<FastifyRequest, SignedIn | undefined>();
  const heavyReads = new HeavyReads();
  return {
    route(method: Method, path: string, access: Access, handler: (call: any) => Promise<unknown>, options: RouteOptions = {}) {
      const takes = options.query ?? [];
      app.route({
        method,
        url: API + path,
        onRequest: async (request, reply) => {
          void reply.header('cache-control', 'no-store');
          const signedIn = await sessions.current(request);
          if (access !== 'public' && !signedIn) {
            throw new PulseError('unauthorized', 'Log in to the admin panel first (or your session has expired).');
          }
          if (method !== 'GET') sessions.checkCsrf(request, signedIn);
          if (access === 'admin' && signedIn!.admin.role !== 'admin') {
            throw new PulseError('forbidden', 'Members have view-only access: ask an Admin to make this change.');
          }
          onlyKnown('query', request.query as object, takes);
          calls.set(request, signedIn);
        },
        handler: async (request, reply) => {
          const signedIn = calls.get(request);
          const call = () => handler({ request, reply, params: request.params as Record<string, string>, signedIn });
          const result = options.heavy && signedIn ? await heavyReads.run(signedIn.session.id, call) : await call();
          if (result instanceof Status) {
            void reply.status(result.status);
            return result.body === undefined ? reply.send() : reply.send(result.body);
          }
          return reply.send(result);
        },
      });
    },
  };
}
