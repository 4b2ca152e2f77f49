import { PulseError } from '@pulse/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import type { Store } from '../store/index.ts';
import type { UnsubscribeLinks } from './unsubscribe.ts';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>` +
  `<body style="font:15px/1.5 system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem"><h1 style="font-size:1.3rem">${title}</h1>${body}</body></html>`;

/**
 * The unsubscribe link of notification emails: GET shows a confirmation button (mail scanners
 * follow links, so a GET changes nothing); POST unsubscribes, which is also what mail clients
 * send for one-click unsubscribe (RFC 8058, `List-Unsubscribe=One-Click`).
 */
export function registerUnsubscribeRoutes(app: FastifyInstance, store: Store, links: UnsubscribeLinks): void {
  void app.register(async (scope) => {
    // Only the signed link counts: the body a mail client posts with a one-click unsubscribe
    // (RFC 8058: multipart/form-data, or urlencoded, or whatever it sends) is read up to 1 KB and ignored.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 }, (_req, _body, done) => done(null, undefined));
    // A page of its own: never kept, never framed by another site (its button unsubscribes).
    scope.addHook('onRequest', async (_request, reply) => {
      void reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        .header('x-frame-options', 'DENY');
    });
    const check = (query: unknown) => {
      const q = (query ?? {}) as Record<string, string | undefined>;
      const env = q.env ?? '';
      const user = q.user ?? '';
      return env && user && q.sig && links.verify(env, user, q.sig) ? { env, user, sig: q.sig } : undefined;
    };
    // The environment by name: someone on several sites using one Pulse server can tell which.
    const from = async (envId: string) => {
      const name = (await store.getEnvironment(envId))?.name;
      return name ? ` from <strong>${escapeHtml(name)}</strong>` : '';
    };
    scope.get('/email/unsubscribe', async (request, reply) => {
      const ok = check(request.query);
      if (!ok) return reply.status(400).send(page('Invalid link', '<p>This unsubscribe link is incomplete or was altered.</p>'));
      const action = `/email/unsubscribe?${new URLSearchParams(ok)}`;
      return reply.send(
        page(
          'Stop notification emails?',
          `<p>You will no longer get emails about mentions and replies${await from(ok.env)}. You can turn them on again in the comments' settings menu.</p>` +
            `<form method="post" action="${escapeHtml(action)}"><button type="submit" style="font:inherit;padding:.5rem 1rem">Unsubscribe</button></form>`,
        ),
      );
    });
    scope.post('/email/unsubscribe', async (request, reply) => {
      const ok = check(request.query);
      if (!ok) return reply.status(400).send(page('Invalid link', '<p>This unsubscribe link is incomplete or was altered.</p>'));
      await store.setEmailOptOut(ok.env, ok.user, true);
      return reply.send(page('Unsubscribed', `<p>You will no longer get notification emails${await from(ok.env)}.</p>`));
    });
  });
}

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, PUT, OPTIONS',
  'access-control-allow-headers': 'Content-Type, X-Pulse-Key, X-Pulse-Token',
  'access-control-max-age': '600',
};

/**
 * A signed-in user's own email switch (the widget's settings menu), authenticated like uploads:
 * the publishable key in X-Pulse-Key and the user's token in X-Pulse-Token. The address itself
 * is never returned: only whether there is one.
 */
export function registerEmailPreferenceRoutes(app: FastifyInstance, ctx: ServerContext, smtpConfigured: boolean): void {
  const path = '/api/v1/me/email-notifications';
  const state = async (request: FastifyRequest) => {
    const pk = request.headers['x-pulse-key'];
    const token = request.headers['x-pulse-token'];
    if (typeof pk !== 'string' || typeof token !== 'string') {
      throw new PulseError('unauthorized', 'Send the publishable key in X-Pulse-Key and the user token in X-Pulse-Token.');
    }
    const auth = await ctx.tokens.verify(pk, token);
    const envId = auth.environmentId;
    const userId = auth.user.externalId;
    const config = await ctx.configs.require(envId);
    return { envId, userId, available: smtpConfigured && config.emailNotifications, recipient: await ctx.store.emailRecipient(envId, userId) };
  };
  const answer = (s: Awaited<ReturnType<typeof state>>, enabled: boolean) => ({ available: s.available, hasEmail: Boolean(s.recipient?.email), enabled });
  app.options(path, async (_request, reply) => reply.headers(CORS_HEADERS).status(204).send());
  app.get(path, async (request, reply) => {
    void reply.headers(CORS_HEADERS);
    const s = await state(request);
    return answer(s, Boolean(s.recipient && !s.recipient.optOut));
  });
  app.put(path, async (request, reply) => {
    void reply.headers(CORS_HEADERS);
    const s = await state(request);
    const body = request.body as { enabled?: unknown } | undefined;
    if (!body || typeof body !== 'object' || typeof body.enabled !== 'boolean' || Object.keys(body).length !== 1) {
      throw new PulseError('validation_failed', 'body: send { "enabled": true } or { "enabled": false }');
    }
    if (!s.recipient) throw new PulseError('user_not_found');
    await ctx.store.setEmailOptOut(s.envId, s.userId, !body.enabled);
    return answer(s, body.enabled);
  });
}
