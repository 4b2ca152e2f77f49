import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { loadServerSecret } from './auth/secret.ts';
import { TokenService } from './auth/tokens.ts';
import type { ServerContext } from './context.ts';
import { ControlPoller } from './control/poller.ts';
import { CollabService } from './domain/collab.ts';
import type { KeyPair } from './domain/environments.ts';
import { noRealtime } from './domain/events.ts';
import type { ServerOptions } from './options.ts';
import type { Bus } from './realtime/bus.ts';
import { createBus } from './realtime/bus-factory.ts';
import { registerPanel } from './panel-api/index.ts';
import { registerStatic } from './static/index.ts';
import { RealtimeHub } from './realtime/hub.ts';
import { attachP2P, P2PService } from './p2p/index.ts';
import { AttachmentService } from './domain/attachments.ts';
import { DiskFileStore, type FileStore } from './files/file-store.ts';
import type { S3FileStore } from './files/s3-store.ts';
import { registerFilesRoute } from './files/files-route.ts';
import { FileLinks } from './files/links.ts';
import { registerUploadRoute } from './files/upload-route.ts';
import { openContext } from './open-context.ts';
import { UnreadNotificationEvents } from './webhooks/unread.ts';
import { WebhookPublisher } from './webhooks/publisher.ts';
import { WebhookService } from './webhooks/service.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';
import { DEFAULT_WEBHOOK_SETTINGS } from './webhooks/settings.ts';
import { OperatorAlerts } from './email/operator-alerts.ts';
import { EmailWorker } from './email/worker.ts';
import { registerEmailPreferenceRoutes, registerUnsubscribeRoutes } from './email/routes.ts';
import { emailSettingsFromEnv } from './email/settings.ts';
import { UnsubscribeLinks } from './email/unsubscribe.ts';

/** How often uploads that were never attached are looked for. */
const UPLOAD_SWEEP_MS = 60 * 60 * 1000;

export interface PulseServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** http://host:port the server listens on. */
  url: string;
  /** Set on the very first start: the Development environment and its keys (shown once). */
  firstRun?: { environmentId: string; environmentName: string } & KeyPair;
  hub: RealtimeHub;
  attachments: AttachmentService;
  /** One-time token for the panel's first-run setup page (while no admin exists). */
  setupToken?: string;
  close(): Promise<void>;
}

export { openContext };

/** Starts Pulse: storage, the HTTP app and (later) realtime, on one port. */
export async function startPulseServer(options: ServerOptions): Promise<PulseServer> {
  const links = new FileLinks();
  const { store, environments, configs } = await openContext(options, links);
  try {
    const { secret } = loadServerSecret(options.dataDir, options.secret);
    const tokens = new TokenService(secret, store);
    // The AWS SDK takes most of a second to load: only when the files are on S3.
    const s3: S3FileStore | undefined = options.filesS3
      ? await (await import('./files/s3-store.ts')).S3FileStore.open(options.filesS3, join(options.dataDir, 'files', '.staging'))
      : undefined;
    const files: FileStore = s3 ?? new DiskFileStore(join(options.dataDir, 'files'));
    await files.cleanStaging();
    const attachments = new AttachmentService(store, files);
    const collab = new CollabService(store, configs, attachments, noRealtime);
    const webhooks = new WebhookPublisher(store, links);
    collab.setWebhooks(webhooks);
    const bus: Bus = await createBus(options);

    let firstRun: PulseServer['firstRun'];
    if ((await store.listEnvironments()).length === 0) {
      const dev = await environments.create('Development');
      firstRun = { environmentId: dev.id, environmentName: dev.name, publishableKey: dev.publishableKey, secretKey: dev.secretKey };
    }

    const ctx: ServerContext = {
      options,
      store,
      tokens,
      environments,
      configs,
      collab,
      presence: { list: async () => [] },
      writesSaturated: () => hub.queue.saturated,
      webhooks: new WebhookService(store, { ...(options.webhooks ?? DEFAULT_WEBHOOK_SETTINGS), onChanged: (envId) => webhooks.invalidate(envId) }),
    };
    const hub = new RealtimeHub(ctx, bus, options.realtime);
    collab.setSink(hub);
    const p2p = new P2PService({
      store,
      bus,
      configFor: (envId) => hub.registry.configFor(envId),
      configOf: (envId) => hub.configOf(envId),
    });
    attachP2P(hub, p2p);
    ctx.presence = { list: (envId, roomId) => hub.presence(envId, roomId) };

    const environmentChanged = (envId: string | null, kind: string) => {
      configs.invalidate(envId);
      if (kind === 'webhooks.changed') webhooks.invalidate(envId);
      if (kind === 'keys.rotated' || kind === 'key.revoked') store.invalidateKeys();
      if (envId) hub.environmentChanged(envId, kind).catch((err) => app.log.error({ err }, 'applying an environment change failed'));
    };
    environments.onChange((change) => environmentChanged(change.environmentId, change.kind));
    const poller = new ControlPoller(
      store,
      (event) => {
        if (!environments.wroteEvent(event.id)) environmentChanged(event.environmentId, event.kind);
      },
      (err) => app.log.warn({ err }, 'control log poll failed; retrying'),
    );

    const health = async () => {
      const checks: Record<string, string> = {};
      try {
        await store.ping();
        checks.database = 'ok';
      } catch (err) {
        checks.database = `error: ${(err as Error).message}`;
      }
      if (poller.lastError) checks.control = `error: ${poller.lastError}`;
      checks.bus = bus.health();
      const ok = Object.values(checks).every((v) => v === 'ok');
      return { status: ok ? 'ok' : 'degraded', driver: store.dialect, checks };
    };

    const app = await buildApp(ctx, health);
    if (s3) s3.log = (err, what) => app.log.warn({ err }, what);
    registerUploadRoute(app, ctx, attachments);
    registerFilesRoute(app, ctx, attachments);
    const unsubscribeLinks = new UnsubscribeLinks(secret, () => links.base);
    registerUnsubscribeRoutes(app, store, unsubscribeLinks);
    registerEmailPreferenceRoutes(app, ctx, Boolean(options.email?.smtpUrl));
    const panel = await registerPanel(app, ctx);
    await registerStatic(app, ctx);
    hub.attach(app.server);
    await poller.start();
    const address = await app.listen({ port: options.port, host: options.host });
    const url = address.replace('[::1]', 'localhost');
    links.base = options.publicUrl ?? url;
    const sweepUploads = () => attachments.sweep().catch((err) => app.log.warn({ err }, 'removing stale uploads failed'));
    const sweeper = setInterval(sweepUploads, UPLOAD_SWEEP_MS);
    const emailSettings = options.email ?? emailSettingsFromEnv({});
    const alerts = new OperatorAlerts(store, emailSettings, () => links.base, app.log);
    const dispatcher = new WebhookDispatcher(store, options.webhooks ?? DEFAULT_WEBHOOK_SETTINGS, app.log);
    dispatcher.onDisabled = (endpoints) => void alerts.webhooksDisabled(endpoints);
    webhooks.onRecorded(() => dispatcher.kick());
    await dispatcher.start();
    const emailWorker = new EmailWorker(store, configs, emailSettings, unsubscribeLinks, app.log);
    emailWorker.start();
    const unreadEvents = new UnreadNotificationEvents(store, configs, webhooks, emailSettings.pollMs, app.log);
    unreadEvents.start();
    sweeper.unref();
    void sweepUploads();

    return {
      app,
      ctx,
      url,
      ...(firstRun ? { firstRun } : {}),
      ...(panel.setupToken ? { setupToken: panel.setupToken } : {}),
      hub,
      attachments,
      async close() {
        clearInterval(sweeper);
        poller.stop();
        // Webhook requests already sent finish beside the HTTP requests (both within 10 s), not after them.
        const deliveries = dispatcher.close().catch((err: unknown) => app.log.warn({ err }, 'webhook dispatcher: closing failed'));
        await emailWorker.close();
        await unreadEvents.close();
        await p2p.close();
        await hub.close();
        await app.close();
        await deliveries;
        // After the dispatcher's last pass, which may disable an endpoint.
        await alerts.close();
        await bus.close();
        files.close?.();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
