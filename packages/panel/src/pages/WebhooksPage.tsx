import { useEffect, useState } from 'react';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_LIMITS, WEBHOOK_TEST_EVENT, type WebhookDeliveryInfo, type WebhookEndpointInfo, type WebhookEventType } from '@pulse/protocol/lite';
import { del, errorAt, patch, post, seg, type Environment } from '../api.ts';
import { Badge, Button, CopyField, Field } from '../components/controls.tsx';
import { EmptyState, ErrorState, InlineError, Spinner, useToast } from '../components/feedback.tsx';
import { ConfirmDialog, Modal } from '../components/modal.tsx';
import { formatDateTime, formatLatency, formatRelative, formatUntil } from '../format.ts';
import { useApi, useLastData } from '../hooks.ts';
import { Link } from '../router.tsx';
import { useSession, VIEW_ONLY_HINT } from '../session.tsx';
import { EnvironmentTabs } from './EnvironmentTabs.tsx';

/** A time as a `datetime-local` input shows it (local time, to the minute). */
const localInputValue = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
};

/** How often the deliveries of the open endpoint are read again. */
const REFRESH_MS = 4000;
const QUEUED_REFRESH_MS = 1000;

/** Why Send test event and Resend are off for a disabled endpoint (it is sent nothing). */
const ENABLE_FIRST = 'The endpoint is disabled: enable it to send it events.';

function StatusBadge({ endpoint }: { endpoint: WebhookEndpointInfo }) {
  if (!endpoint.enabled) return <Badge tone={endpoint.disabledReason ? 'danger' : 'neutral'}>{endpoint.disabledReason ? 'Disabled by Pulse' : 'Disabled'}</Badge>;
  if (endpoint.failingSince) return <Badge tone="warning">Failing</Badge>;
  return <Badge tone="success">Enabled</Badge>;
}

function DeliveryStatus({ d, enabled }: { d: WebhookDeliveryInfo; enabled: boolean }) {
  if (d.status === 'succeeded') return <Badge tone="success">Delivered</Badge>;
  if (d.status === 'failed') return <Badge tone="danger">Failed</Badge>;
  if (!enabled) return <Badge tone="neutral">Waiting</Badge>;
  // Pending again after an attempt that succeeded: sent again on request (Resend), not a retry.
  const retrying = d.attempts > 0 && !(d.lastStatusCode !== null && d.lastStatusCode >= 200 && d.lastStatusCode < 300);
  return <Badge tone={retrying ? 'warning' : 'neutral'}>{retrying ? 'Retrying' : 'Pending'}</Badge>;
}

/**
 * Adding an endpoint (URL, description, event filter; the secret is shown once, after), or
 * changing those of one (`endpoint`; its secret stays).
 */
function EndpointModal({ envId, endpoint, onClose, onSaved }: {
  envId: string;
  endpoint?: WebhookEndpointInfo;
  onClose: () => void;
  onSaved: (endpoint: WebhookEndpointInfo, secret?: string) => void;
}) {
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [all, setAll] = useState(!endpoint || endpoint.events.length === 0);
  const [events, setEvents] = useState<WebhookEventType[]>(endpoint?.events ?? []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // The server names the field it refused ("url: refused: …"): shown at that field.
  const fieldError = (field: string) => errorAt(error, field);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const body = { url: url.trim(), description: description.trim(), events: all ? [] : events };
    try {
      if (endpoint) {
        const r = await patch<{ webhook: WebhookEndpointInfo }>(`/environments/${seg(envId)}/webhooks/${seg(endpoint.id)}`, body);
        onSaved(r.webhook);
      } else {
        const r = await post<{ webhook: WebhookEndpointInfo; secret: string }>(`/environments/${seg(envId)}/webhooks`, body);
        onSaved(r.webhook, r.secret);
      }
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal
      title={endpoint ? 'Edit the webhook endpoint' : 'Add a webhook endpoint'}
      onClose={busy ? () => {} : onClose}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" onClick={() => void submit()} busy={busy} disabled={!url.trim() || (!all && events.length === 0)}>
            {endpoint ? 'Save changes' : 'Add endpoint'}
          </Button>
        </>
      }
    >
      <Field
        label="Endpoint URL"
        hint="An http:// or https:// URL of your backend (https in production). Pulse POSTs signed JSON to it (Standard Webhooks)."
        error={fieldError('url')}
      >
        {(p) => <input {...p} type="url" value={url} placeholder="https://api.example.com/pulse-webhooks" onChange={(e) => (setUrl(e.target.value), setError(undefined))} />}
      </Field>
      <Field label="Description (optional)" error={fieldError('description')}>
        {(p) => <input {...p} value={description} maxLength={WEBHOOK_LIMITS.descriptionChars} onChange={(e) => (setDescription(e.target.value), setError(undefined))} />}
      </Field>
      <fieldset className="field">
        <legend>Events</legend>
        <label className="checkbox">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> All events, including ones added later
        </label>
        {!all && (
          <div className="webhook-events">
            {WEBHOOK_EVENT_TYPES.map((type) => (
              <label key={type} className="checkbox mono small">
                <input
                  type="checkbox"
                  checked={events.includes(type)}
                  onChange={(e) => setEvents((list) => (e.target.checked ? [...list, type] : list.filter((t) => t !== type)))}
                />{' '}
                {type}
              </label>
            ))}
          </div>
        )}
        {!all && events.length === 0 && <p className="muted small">Choose at least one event, or tick “All events”.</p>}
      </fieldset>
      {endpoint && <p className="muted small">The signing secret stays as it is; retries of deliveries already queued go to the new URL.</p>}
      <InlineError message={fieldError('url') || fieldError('description') ? undefined : error} />
    </Modal>
  );
}

function SecretModal({ secret, url, onClose }: { secret: string; url: string; onClose: () => void }) {
  return (
    <Modal
      title="Signing secret"
      onClose={onClose}
      dismissable={false}
      footer={
        <Button variant="primary" onClick={onClose}>
          I have stored the secret
        </Button>
      }
    >
      <p>
        Deliveries to <span className="mono">{url}</span> are signed with this secret. Verify them with any Standard Webhooks library (see
        Verifying signatures in Pulse's webhooks guide).
      </p>
      <CopyField label="Secret" value={secret} secret />
      <p className="callout callout-warning">It is shown only now. If it is lost, rotate it.</p>
    </Modal>
  );
}

function Deliveries({ envId, endpoint }: { envId: string; endpoint: WebhookEndpointInfo }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const detail = useApi<{ webhook: WebhookEndpointInfo; deliveries: WebhookDeliveryInfo[] }>(`/environments/${seg(envId)}/webhooks/${seg(endpoint.id)}`);
  const { reload } = detail;
  // A delivery queued and not yet attempted (a test event, a resend) is usually sent within a
  // second: looked at again that soon, so its outcome does not wait for the slower refresh.
  const data = useLastData(detail.data);
  const justQueued = data?.deliveries.some((d) => d.status === 'pending' && d.attempts === 0) ?? false;
  useEffect(() => {
    const timer = setInterval(reload, justQueued ? QUEUED_REFRESH_MS : REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload, justQueued]);
  const resend = async (d: WebhookDeliveryInfo) => {
    try {
      await post(`/environments/${seg(envId)}/webhooks/${seg(endpoint.id)}/deliveries/${seg(d.id)}/resend`);
      toast('Queued again, with the same webhook-id.');
      reload();
    } catch (err) {
      toast((err as Error).message);
    }
  };
  if (detail.loading && !data) return <Spinner label="Loading deliveries…" />;
  if (detail.error && !data) return <ErrorState error={detail.error} onRetry={reload} />;
  const list = data?.deliveries ?? [];
  if (list.length === 0) return <EmptyState title="No deliveries yet">Events of the types this endpoint receives will be listed here, as will test events.</EmptyState>;
  return (
    <div className="table-wrap">
      <table className="table deliveries-table">
        <thead>
          <tr>
            <th>When</th>
            <th>Event</th>
            <th>Status</th>
            <th className="num">Attempts</th>
            <th className="num">Latency</th>
            <th>Response</th>
            {isAdmin && <th className="actions-col"><span className="sr-only">Actions</span></th>}
          </tr>
        </thead>
        <tbody>
          {list.map((d) => (
            <tr key={d.id} data-delivery-status={d.status}>
              <td className="nowrap" title={formatDateTime(d.createdAt)}>
                {formatRelative(d.createdAt)}
              </td>
              <td>
                <span className="mono small">{d.eventType}</span>
                {d.example && (
                  <>
                    {' '}
                    <Badge tone="neutral">example</Badge>
                  </>
                )}
                <span className="muted small block mono" title="webhook-id">
                  {d.eventId}
                </span>
              </td>
              <td>
                <DeliveryStatus d={d} enabled={endpoint.enabled} />
                {d.status === 'pending' &&
                  (endpoint.enabled ? (
                    d.nextAttemptAt && (
                      <span className="muted small block" title={formatDateTime(d.nextAttemptAt)}>
                        next {formatUntil(d.nextAttemptAt)}
                      </span>
                    )
                  ) : (
                    <span className="muted small block">sent once the endpoint is enabled, within its retry window</span>
                  ))}
              </td>
              <td className="num">{d.attempts}</td>
              <td className="num nowrap">{d.lastLatencyMs !== null ? formatLatency(d.lastLatencyMs) : '—'}</td>
              <td>
                {d.lastStatusCode !== null ? <span className="mono">HTTP {d.lastStatusCode}</span> : d.lastError ? null : '—'}
                {d.lastError && d.status !== 'succeeded' && d.lastError !== `HTTP ${d.lastStatusCode}` && <span className="muted small block">{d.lastError}</span>}
                {d.lastResponse && (
                  <span className="muted small block mono detail" title={d.lastResponse}>
                    {d.lastResponse.slice(0, 80)}
                  </span>
                )}
              </td>
              {isAdmin && (
                <td className="actions-col">
                  <Button
                    size="sm"
                    onClick={() => void resend(d)}
                    disabled={(d.status === 'pending' && d.attempts === 0) || !endpoint.enabled}
                    title={endpoint.enabled ? undefined : ENABLE_FIRST}
                  >
                    Resend
                  </Button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EndpointCard({ envId, endpoint, open, onToggle, onChanged, onSecret }: {
  envId: string;
  endpoint: WebhookEndpointInfo;
  open: boolean;
  onToggle: () => void;
  onChanged: () => void;
  onSecret: (secret: string, url: string) => void;
}) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const [busy, setBusy] = useState<string>();
  const [removing, setRemoving] = useState(false);
  const [rotating, setRotating] = useState(false);
  const [expirePrevious, setExpirePrevious] = useState(false);
  const [recovering, setRecovering] = useState<string>();
  const [editing, setEditing] = useState(false);
  const [testType, setTestType] = useState<string>(WEBHOOK_TEST_EVENT);
  const path = `/environments/${seg(envId)}/webhooks/${seg(endpoint.id)}`;
  const act = async (name: string, work: () => Promise<void>) => {
    setBusy(name);
    try {
      await work();
    } catch (err) {
      toast((err as Error).message);
    } finally {
      setBusy(undefined);
    }
  };
  const adminOnly = isAdmin ? undefined : VIEW_ONLY_HINT;
  return (
    <div className="card webhook-card" data-webhook-id={endpoint.id}>
      <div className="webhook-head">
        <div className="webhook-title">
          <span className="mono webhook-url">{endpoint.url}</span>
          <StatusBadge endpoint={endpoint} />
        </div>
        <div className="webhook-actions">
          <select
            aria-label="Test event type"
            className="role-select"
            value={testType}
            disabled={!isAdmin}
            title={adminOnly ?? 'webhook.test, or an example event of one type, to try your handler'}
            onChange={(e) => setTestType(e.target.value)}
          >
            <option value={WEBHOOK_TEST_EVENT}>{WEBHOOK_TEST_EVENT}</option>
            {WEBHOOK_EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                example {t}
              </option>
            ))}
          </select>
          <Button size="sm" onClick={() => void act('test', async () => {
            await post(`${path}/test`, testType === WEBHOOK_TEST_EVENT ? undefined : { type: testType });
            if (!open) onToggle(); // where the test's delivery shows
            toast(testType === WEBHOOK_TEST_EVENT ? 'Test event queued: see its delivery below.' : `Example ${testType} queued: see its delivery below.`);
          })} busy={busy === 'test'} disabled={!isAdmin || !endpoint.enabled} title={adminOnly ?? (endpoint.enabled ? undefined : ENABLE_FIRST)}>
            Send test event
          </Button>
          <Button size="sm" onClick={() => void act('toggle', async () => {
            await patch(path, { enabled: !endpoint.enabled });
            onChanged();
          })} busy={busy === 'toggle'} disabled={!isAdmin} title={adminOnly}>
            {endpoint.enabled ? 'Disable' : 'Enable'}
          </Button>
          <Button size="sm" onClick={() => setEditing(true)} disabled={!isAdmin} title={adminOnly ?? 'Change the URL, description or events'}>
            Edit
          </Button>
          <Button size="sm" onClick={() => setRotating(true)} disabled={!isAdmin} title={adminOnly}>
            Rotate secret
          </Button>
          <Button size="sm" onClick={() => setRecovering(localInputValue(Date.now() - 24 * 3600_000))} disabled={!isAdmin} title={adminOnly}>
            Recover missed events
          </Button>
          <Button size="sm" variant="danger" onClick={() => setRemoving(true)} disabled={!isAdmin} title={adminOnly}>
            Delete
          </Button>
        </div>
      </div>
      <p className="muted small">
        {endpoint.description && <>{endpoint.description} · </>}
        Events: {endpoint.events.length ? endpoint.events.join(', ') : 'all'} · Secret <span className="mono">{endpoint.secretPrefix}…</span>
        {endpoint.previousSecretExpiresAt && <> (the previous one also signs until {formatDateTime(endpoint.previousSecretExpiresAt)})</>} · Added{' '}
        {formatRelative(endpoint.createdAt)}
      </p>
      {endpoint.disabledReason && <p className="callout callout-warning">{endpoint.disabledReason}</p>}
      {!endpoint.disabledReason && endpoint.failingSince && (
        <p className="callout callout-warning">Every delivery has failed since {formatDateTime(endpoint.failingSince)}; Pulse keeps retrying, and disables the endpoint after 5 days of failures.</p>
      )}
      <button type="button" className="link-button" aria-expanded={open} onClick={onToggle}>
        {open ? 'Hide deliveries' : 'Show recent deliveries'}
      </button>
      {open && <Deliveries envId={envId} endpoint={endpoint} />}
      {editing && (
        <EndpointModal
          envId={envId}
          endpoint={endpoint}
          onClose={() => setEditing(false)}
          onSaved={() => {
            setEditing(false);
            toast('Endpoint saved.');
            onChanged();
          }}
        />
      )}
      {removing && (
        <ConfirmDialog
          title="Delete this endpoint?"
          confirmLabel="Delete endpoint"
          onClose={() => setRemoving(false)}
          onConfirm={async () => {
            await del(path);
            setRemoving(false);
            toast('Endpoint deleted.');
            onChanged();
          }}
        >
          <p>
            <span className="mono">{endpoint.url}</span> stops receiving events at once; its pending deliveries and delivery log are removed.
          </p>
        </ConfirmDialog>
      )}
      {recovering !== undefined && (
        <ConfirmDialog
          title="Recover missed events?"
          confirmLabel="Recover events"
          danger={false}
          onClose={() => setRecovering(undefined)}
          onConfirm={async () => {
            const since = new Date(recovering);
            if (Number.isNaN(since.getTime())) throw new Error('Choose a date and time.');
            const r = await post<{ recovered: number }>(`${path}/recover`, { since: since.toISOString() });
            setRecovering(undefined);
            toast(`Queued ${r.recovered} event${r.recovered === 1 ? '' : 's'} to send again.`);
            onChanged();
          }}
        >
          <p>
            Every event since then that this endpoint subscribes to and never received (it was disabled, added later, or every attempt failed) is queued
            and sent again, with its original webhook-id. Events are kept 30 days.{!endpoint.enabled && ' Enable the endpoint for them to be sent.'}
          </p>
          <Field label="Since">{(p) => <input {...p} type="datetime-local" value={recovering} onChange={(e) => setRecovering(e.target.value)} />}</Field>
        </ConfirmDialog>
      )}
      {rotating && (
        <ConfirmDialog
          title="Rotate the signing secret?"
          confirmLabel="Rotate secret"
          onClose={() => setRotating(false)}
          onConfirm={async () => {
            const r = await post<{ secret: string }>(`${path}/rotate-secret`, { expirePrevious });
            setRotating(false);
            setExpirePrevious(false);
            onSecret(r.secret, endpoint.url);
            onChanged();
          }}
        >
          <p>
            The next attempt of every delivery is signed with the new secret. For 24 hours the current secret signs too (each request carries both signatures), so the
            receiver can switch without missing a delivery.
          </p>
          <label className="checkbox">
            <input type="checkbox" checked={expirePrevious} onChange={(e) => setExpirePrevious(e.target.checked)} /> Stop signing with the current secret at once (it has
            leaked)
          </label>
        </ConfirmDialog>
      )}
    </div>
  );
}

/** An environment's webhook endpoints and each one's recent deliveries. */
export function WebhooksPage({ envId }: { envId: string }) {
  const { isAdmin } = useSession();
  const env = useApi<{ environment: Environment }>(`/environments/${seg(envId)}`);
  const endpoints = useApi<{ webhooks: WebhookEndpointInfo[] }>(`/environments/${seg(envId)}/webhooks`);
  const endpointsData = useLastData(endpoints.data);
  const [adding, setAdding] = useState(false);
  const [secret, setSecret] = useState<{ secret: string; url: string }>();
  const [open, setOpen] = useState<string>();
  // An endpoint's status (failing, disabled by Pulse, recovered) changes as deliveries do.
  const { reload: reloadEndpoints } = endpoints;
  useEffect(() => {
    const timer = setInterval(reloadEndpoints, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reloadEndpoints]);
  if (env.loading && !env.data) return <Spinner label="Loading the environment…" />;
  if (env.error) return <div className="page"><ErrorState title="Could not load the environment" error={env.error} onRetry={env.reload} /></div>;
  const environment = env.data!.environment;
  const list = endpointsData?.webhooks ?? [];
  return (
    <div className="page">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to="/environments">Environments</Link>
        <span aria-hidden="true">/</span>
        <Link to={`/environments/${envId}`}>{environment.name}</Link>
        <span aria-hidden="true">/</span>
        <span>Webhooks</span>
      </nav>
      <header className="page-header">
        <div>
          <h1>{environment.name}</h1>
          <p className="muted small">Signed HTTP callbacks to your backend when threads, comments, reactions, notifications and rooms change.</p>
        </div>
        <div className="header-actions">
          <Button variant="primary" onClick={() => setAdding(true)} disabled={!isAdmin} title={isAdmin ? undefined : VIEW_ONLY_HINT}>
            Add endpoint
          </Button>
        </div>
      </header>
      <EnvironmentTabs envId={envId} active="webhooks" />
      <section className="section">
        {endpoints.loading && !endpointsData && <Spinner label="Loading endpoints…" />}
        {endpoints.error && !endpointsData && <ErrorState error={endpoints.error} onRetry={endpoints.reload} />}
        {endpointsData && list.length === 0 && (
          <EmptyState title="No webhook endpoints">Add an endpoint to have Pulse POST every change in this environment to your backend, signed and retried for a day.</EmptyState>
        )}
        {list.map((e) => (
          <EndpointCard
            key={e.id}
            envId={envId}
            endpoint={e}
            open={open === e.id}
            onToggle={() => setOpen((o) => (o === e.id ? undefined : e.id))}
            onChanged={endpoints.reload}
            onSecret={(s, url) => setSecret({ secret: s, url })}
          />
        ))}
      </section>
      {adding && (
        <EndpointModal
          envId={envId}
          onClose={() => setAdding(false)}
          onSaved={(endpoint, s) => {
            setAdding(false);
            if (s) setSecret({ secret: s, url: endpoint.url });
            setOpen(endpoint.id);
            endpoints.reload();
          }}
        />
      )}
      {secret && <SecretModal secret={secret.secret} url={secret.url} onClose={() => setSecret(undefined)} />}
    </div>
  );
}
