import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, get, patch, post, query, seg, type ApiKey, type AuditEntry, type Config, type ConfigGroup, type Counts, type DayStats, type Environment, type KeyPair, type Paged } from '../api.ts';
import { ActivityChart } from '../components/chart.tsx';
import { ConfigureModal } from '../components/configure.tsx';
import { Badge, Button, Pager } from '../components/controls.tsx';
import { EmptyState, ErrorState, InlineError, Spinner, useToast } from '../components/feedback.tsx';
import { KeyPairModal } from '../components/keys.tsx';
import { ConfirmDialog } from '../components/modal.tsx';
import { actionLabel, formatDate, formatDateTime, formatNumber, formatRelative } from '../format.ts';
import { useApi } from '../hooks.ts';
import { Link } from '../router.tsx';
import { useSession, VIEW_ONLY_HINT } from '../session.tsx';
import { EnvironmentTabs } from './EnvironmentTabs.tsx';

function NameEditor({ env, onSaved }: { env: Environment; onSaved: (env: Environment) => void }) {
  const { isAdmin } = useSession();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(env.name);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const res = await patch<{ environment: Environment }>(`/environments/${seg(env.id)}`, { name });
      onSaved(res.environment);
      setEditing(false);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  if (!editing) {
    return (
      <div className="title-row">
        <h1>{env.name}</h1>
        {isAdmin && (
          <Button
            size="sm"
            variant="ghost"
            onClick={() => {
              setName(env.name);
              setEditing(true);
            }}
          >
            Edit name
          </Button>
        )}
      </div>
    );
  }
  return (
    <form className="title-edit" onSubmit={save}>
      <input aria-label="Environment name" value={name} maxLength={80} onChange={(e) => setName(e.target.value)} autoFocus />
      <Button type="submit" variant="primary" size="sm" busy={busy} disabled={!name.trim()}>
        Save
      </Button>
      <Button size="sm" onClick={() => setEditing(false)} disabled={busy}>
        Cancel
      </Button>
      <InlineError message={error} />
    </form>
  );
}

function Stats({ counts }: { counts: Counts }) {
  return (
    <div className="stats">
      {(['rooms', 'threads', 'users', 'comments'] as const).map((k) => (
        <div key={k} className="stat">
          <span className="stat-label">{k[0]!.toUpperCase() + k.slice(1)}</span>
          <span className="stat-value">{formatNumber(counts[k])}</span>
        </div>
      ))}
    </div>
  );
}

function KeysTable({ envId, keys, onRevoked }: { envId: string; keys: ApiKey[]; onRevoked: () => void }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const [revoking, setRevoking] = useState<ApiKey>();
  const sorted = [...keys].sort((a, b) => (a.status === b.status ? b.createdAt.localeCompare(a.createdAt) || a.kind.localeCompare(b.kind) : a.status === 'active' ? -1 : 1));
  return (
    <div className="table-wrap">
      <table className="table keys-table">
        <thead>
          <tr>
            <th>Type</th>
            <th>Key</th>
            <th>Created</th>
            <th>Status</th>
            {isAdmin && <th className="actions-col"><span className="sr-only">Actions</span></th>}
          </tr>
        </thead>
        <tbody>
          {sorted.map((k) => (
            <tr key={k.id} className={k.status === 'revoked' ? 'is-dim' : undefined} data-key-kind={k.kind} data-key-status={k.status}>
              <td>{k.kind === 'publishable' ? 'Publishable' : 'Secret'}</td>
              <td className="mono key-cell" title={k.value ?? `${k.prefix}…`}>
                {k.value ?? `${k.prefix}…`}
              </td>
              <td title={formatDateTime(k.createdAt)}>{formatDate(k.createdAt)}</td>
              <td>
                {k.status === 'active' ? (
                  <Badge tone="success">Active</Badge>
                ) : (
                  <span title={k.revokedAt ? `Revoked ${formatDateTime(k.revokedAt)}` : undefined}>
                    <Badge tone="danger">Revoked</Badge>
                  </span>
                )}
              </td>
              {isAdmin && (
                <td className="actions-col">
                  {k.status === 'active' && (
                    <Button size="sm" variant="danger" onClick={() => setRevoking(k)}>
                      Revoke
                    </Button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {revoking && (
        <ConfirmDialog
          title={`Revoke this ${revoking.kind} key?`}
          confirmLabel="Revoke key"
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            await post(`/environments/${seg(envId)}/keys/${seg(revoking.id)}/revoke`);
            setRevoking(undefined);
            toast('Key revoked.');
            onRevoked();
          }}
        >
          <p>
            <span className="mono">{revoking.value ?? `${revoking.prefix}…`}</span> stops working immediately
            {revoking.kind === 'secret'
              ? ': REST calls and token minting with it fail, and widgets using tokens it minted are disconnected.'
              : ': widgets using it are disconnected and cannot connect again.'}
          </p>
          <p>Revoked keys can't be used again. To get a working pair, rotate the keys.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function AuditLog({ envId, version }: { envId: string; version: number }) {
  const [page, setPage] = useState(1);
  const log = useApi<Paged<AuditEntry>>(`/environments/${seg(envId)}/audit${query({ page })}`);
  // Something on the page changed: show the new entries.
  const { reload } = log;
  useEffect(() => {
    if (version > 0) reload();
  }, [version, reload]);
  if (log.loading && !log.data) return <Spinner label="Loading the audit log…" />;
  if (log.error) return <ErrorState error={log.error} onRetry={log.reload} />;
  if (!log.data || log.data.total === 0) return <EmptyState title="Nothing recorded yet">Key, configuration and moderation changes made here will be listed, with who made them and when.</EmptyState>;
  return (
    <>
      <div className="table-wrap">
        <table className="table audit-table">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>What</th>
            </tr>
          </thead>
          <tbody>
            {log.data.items.map((e) => (
              <tr key={e.id}>
                <td title={formatDateTime(e.createdAt)} className="nowrap">
                  {formatRelative(e.createdAt)}
                </td>
                <td>
                  <span className="who">{e.actorName}</span>
                  {e.actorEmail && <span className="muted small block">{e.actorEmail}</span>}
                </td>
                <td>
                  <strong>{actionLabel(e.action)}</strong>
                  {e.detail && <span className="muted small block detail">{e.detail}</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={log.data.page} totalPages={log.data.totalPages} total={log.data.total} noun="entry" nouns="entries" onPage={setPage} />
    </>
  );
}

/** An environment: name, analytics, API keys (rotate, revoke), configuration and its audit log. */
export function EnvironmentPage({ envId }: { envId: string }) {
  const { isAdmin, reloadEnvironments } = useSession();
  const base = `/environments/${seg(envId)}`;
  const env = useApi<{ environment: Environment }>(base);
  const keys = useApi<{ keys: ApiKey[] }>(`${base}/keys`);
  const analytics = useApi<{ counts: Counts; days: DayStats[] }>(`${base}/analytics`);
  const [configure, setConfigure] = useState<{ config: Config; defaults: Config; groups: ConfigGroup[]; emailSending: boolean }>();
  const [configLoading, setConfigLoading] = useState(false);
  const [configError, setConfigError] = useState<string>();
  const [rotating, setRotating] = useState(false);
  const [newPair, setNewPair] = useState<KeyPair>();
  const [version, setVersion] = useState(0);
  const changed = () => {
    setVersion((v) => v + 1);
    analytics.reload();
  };

  if (env.loading && !env.data) return <Spinner label="Loading the environment…" />;
  if (env.error) {
    return (
      <div className="page">
        {env.error.status === 404 ? (
          <ErrorState title="Environment not found" error={new Error(`There is no environment “${envId}”. Check the address, or pick one from the list.`)} />
        ) : (
          <ErrorState title="Could not load the environment" error={env.error} onRetry={env.reload} />
        )}
        <p>
          <Link to="/environments">← All environments</Link>
        </p>
      </div>
    );
  }
  const environment = env.data!.environment;

  const openConfig = async () => {
    setConfigLoading(true);
    setConfigError(undefined);
    try {
      setConfigure(await get(`${base}/config`));
    } catch (err) {
      setConfigError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setConfigLoading(false);
    }
  };

  return (
    <div className="page">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to="/environments">Environments</Link>
        <span aria-hidden="true">/</span>
        <span>{environment.name}</span>
      </nav>
      <header className="page-header">
        <div>
          <NameEditor
            env={environment}
            onSaved={() => {
              env.reload();
              reloadEnvironments();
              changed();
            }}
          />
          <p className="muted small">
            <span className="mono">{environment.id}</span> · created {formatDate(environment.createdAt)}
          </p>
        </div>
        <div className="header-actions">
          <Link to={`/environments/${envId}/data`} className="btn btn-secondary btn-md">
            Browse Data
          </Link>
          {isAdmin ? (
            <Button onClick={openConfig} busy={configLoading}>
              Configure Environment
            </Button>
          ) : (
            <Button onClick={openConfig} busy={configLoading}>
              View Configuration
            </Button>
          )}
          <Button variant="danger" onClick={() => setRotating(true)} disabled={!isAdmin} title={isAdmin ? undefined : VIEW_ONLY_HINT}>
            Rotate Keys
          </Button>
        </div>
      </header>
      <InlineError message={configError} />
      <EnvironmentTabs envId={envId} active="overview" />

      <section className="section">
        <div className="section-head">
          <h2>API Keys</h2>
          <p className="muted small">The publishable key goes in your frontend; the secret key stays on your backend and is shown only when created.</p>
        </div>
        {keys.loading && !keys.data && <Spinner label="Loading keys…" />}
        {keys.error && <ErrorState error={keys.error} onRetry={keys.reload} />}
        {keys.data && (
          <KeysTable
            envId={envId}
            keys={keys.data.keys}
            onRevoked={() => {
              keys.reload();
              changed();
            }}
          />
        )}
      </section>

      <section className="section">
        <h2>Analytics</h2>
        {analytics.loading && !analytics.data && <Spinner label="Loading analytics…" />}
        {analytics.error && <ErrorState error={analytics.error} onRetry={analytics.reload} />}
        {analytics.data && (
          <div className="card">
            <Stats counts={analytics.data.counts} />
            <ActivityChart days={analytics.data.days} />
          </div>
        )}
      </section>

      <section className="section">
        <div className="section-head">
          <h2>Audit Log</h2>
          <p className="muted small">Key, configuration and moderation changes in this environment.</p>
        </div>
        <AuditLog envId={envId} version={version} />
      </section>

      {configure && (
        <ConfigureModal
          envId={envId}
          {...configure}
          readOnly={!isAdmin}
          onClose={() => setConfigure(undefined)}
          onSaved={() => {
            setConfigure(undefined);
            changed();
          }}
        />
      )}
      {rotating && (
        <ConfirmDialog
          title="Rotate the keys?"
          confirmLabel="Rotate Keys"
          onClose={() => setRotating(false)}
          onConfirm={async () => {
            const pair = await post<KeyPair>(`${base}/keys/rotate`);
            setRotating(false);
            setNewPair(pair);
            keys.reload();
            changed();
          }}
        >
          <p>A new key pair is generated and <strong>the current keys stop working immediately</strong>:</p>
          <ul>
            <li>REST calls and token minting with the old secret key fail.</li>
            <li>Connected widgets using the old keys are disconnected.</li>
          </ul>
          <p>Update your frontend (pk_) and backend (sk_) with the new keys right after.</p>
        </ConfirmDialog>
      )}
      {newPair && <KeyPairModal title="New keys" intro="The old keys no longer work. Here is the new pair." pair={newPair} onClose={() => setNewPair(undefined)} />}
    </div>
  );
}
