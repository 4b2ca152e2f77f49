import {
  PulseError,
  REST_ROUTES,
  isErrorCode,
  type MintTokenBody,
  type RestRouteName,
} from '@pulse/protocol';
import type { z } from 'zod';

type Route<N extends RestRouteName> = (typeof REST_ROUTES)[N];
type BodyOf<N extends RestRouteName> = Route<N> extends { body: z.ZodType } ? z.input<Route<N>['body']> : undefined;
type QueryOf<N extends RestRouteName> = Route<N> extends { query: z.ZodType } ? z.input<Route<N>['query']> : undefined;
type ResponseOf<N extends RestRouteName> = Route<N> extends { response: z.ZodType } ? z.output<Route<N>['response']> : undefined;
type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}` ? Name | ParamNames<`/${Rest}`> : P extends `${string}:${infer Name}` ? Name : never;
type ParamsOf<N extends RestRouteName> = { [K in ParamNames<Route<N>['path']>]: string };

export interface PulseNodeOptions {
  /** Base URL of the Pulse server, e.g. https://collab.example.com (ws:// and wss:// are accepted too). */
  endpoint: string;
  /** The environment's secret key (sk_…). Backend only. */
  secretKey: string;
  /** Custom fetch, e.g. for tests or proxies. */
  fetch?: typeof fetch;
}

/**
 * Backend SDK: mints user tokens and calls the REST API with the secret key. Every method is
 * typed from the same route table the server uses, and throws a `PulseError` with the
 * server's error code on failure.
 */
export class PulseNode {
  readonly #base: string;
  readonly #secretKey: string;
  readonly #fetch: typeof fetch;

  constructor(options: PulseNodeOptions) {
    if (!options.secretKey?.startsWith('sk_')) throw new Error('PulseNode needs the secret key (sk_…)');
    this.#base = options.endpoint.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/+$/, '');
    this.#secretKey = options.secretKey;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Calls one REST route by name. */
  async request<N extends RestRouteName>(
    name: N,
    args: { params?: ParamsOf<N>; body?: BodyOf<N>; query?: QueryOf<N> } = {},
  ): Promise<ResponseOf<N>> {
    const route = REST_ROUTES[name];
    const params = (args.params ?? {}) as Record<string, string>;
    let path: string = route.path.replace(/:(\w+)/g, (_, p: string) => {
      if (params[p] === undefined) throw new Error(`missing path parameter ${p}`);
      return encodeURIComponent(params[p]);
    });
    const query = Object.entries((args.query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (query.length) path += '?' + new URLSearchParams(query.map(([k, v]) => [k, String(v)])).toString();
    const res = await this.#fetch(this.#base + path, {
      method: route.method,
      headers: {
        authorization: `Bearer ${this.#secretKey}`,
        ...(args.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(args.body !== undefined ? { body: JSON.stringify(args.body) } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const code = json?.error?.code;
      throw new PulseError(isErrorCode(code) ? code : res.status >= 500 ? 'internal_error' : 'validation_failed', json?.error?.message ?? `HTTP ${res.status}`);
    }
    return json as ResponseOf<N>;
  }

  /** Mints a user token for `<pulse-widget>` / PulseClient. */
  mintToken(user: MintTokenBody) {
    return this.request('mintToken', { body: user });
  }

  listRooms(query?: QueryOf<'listRooms'>) {
    return this.request('listRooms', { query });
  }
  getRoom(roomId: string) {
    return this.request('getRoom', { params: { roomId } });
  }
  getPresence(roomId: string) {
    return this.request('getPresence', { params: { roomId } });
  }
  /** The room's P2P shared objects as JSON; throws `not_found` when it has none. */
  getSharedState(roomId: string) {
    return this.request('getSharedState', { params: { roomId } });
  }
  /** Deletes the room's P2P shared data (connected peers start over with an empty document). */
  deleteSharedState(roomId: string) {
    return this.request('deleteSharedState', { params: { roomId } });
  }
  listThreads(roomId: string, query?: QueryOf<'listThreads'>) {
    return this.request('listThreads', { params: { roomId }, query });
  }
  createThread(roomId: string, body: BodyOf<'createThread'>) {
    return this.request('createThread', { params: { roomId }, body });
  }
  getThread(threadId: string) {
    return this.request('getThread', { params: { threadId } });
  }
  resolveThread(threadId: string, resolved: boolean) {
    return this.request('patchThread', { params: { threadId }, body: { resolved } });
  }
  deleteThread(threadId: string) {
    return this.request('deleteThread', { params: { threadId } });
  }
  listComments(threadId: string, query?: QueryOf<'listComments'>) {
    return this.request('listComments', { params: { threadId }, query });
  }
  createComment(threadId: string, body: BodyOf<'createComment'>) {
    return this.request('createComment', { params: { threadId }, body });
  }
  editComment(commentId: string, body: BodyOf<'patchComment'>) {
    return this.request('patchComment', { params: { commentId }, body });
  }
  deleteComment(commentId: string) {
    return this.request('deleteComment', { params: { commentId } });
  }
  addReaction(commentId: string, body: BodyOf<'addReaction'>) {
    return this.request('addReaction', { params: { commentId }, body });
  }
  removeReaction(reactionId: string) {
    return this.request('deleteReaction', { params: { reactionId } });
  }
  listUsers(query?: QueryOf<'listUsers'>) {
    return this.request('listUsers', { query });
  }
  upsertUser(userId: string, body: BodyOf<'putUser'>) {
    return this.request('putUser', { params: { userId }, body });
  }
}
export { PulseError, type ErrorCode } from '@pulse/protocol';
export { verifyWebhook, WebhookVerificationError, type PulseWebhookEvent, type VerifyWebhookOptions, type WebhookHeaders } from './webhooks.ts';
