import { useState, type FormEvent } from 'react';
import { ApiError, post, type Environment, type KeyPair } from '../api.ts';
import { Button, Field } from '../components/controls.tsx';
import { EmptyState, ErrorState, InlineError, Spinner } from '../components/feedback.tsx';
import { KeyPairModal } from '../components/keys.tsx';
import { Modal } from '../components/modal.tsx';
import { formatDate, formatNumber } from '../format.ts';
import { useApi } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';
import { useSession, VIEW_ONLY_HINT } from '../session.tsx';

const NAME_MAX = 80;

function CreateEnvironment({ onClose, onCreated }: { onClose: () => void; onCreated: (env: Environment, pair: KeyPair) => void }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError('Enter a name.');
    setBusy(true);
    setError(undefined);
    try {
      const res = await post<{ environment: Environment } & KeyPair>('/environments', { name: name.trim() });
      onCreated(res.environment, { publishableKey: res.publishableKey, secretKey: res.secretKey });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };
  return (
    <Modal
      title="Create Environment"
      onClose={onClose}
      size="sm"
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" type="submit" form="create-env" busy={busy}>
            Create
          </Button>
        </>
      }
    >
      <form id="create-env" className="form" onSubmit={submit} noValidate>
        <Field label="Name" hint="Each environment has its own data and its own key pair.">
          {(p) => <input {...p} name="name" value={name} maxLength={NAME_MAX} placeholder="e.g. Production, Staging" onChange={(e) => setName(e.target.value)} autoFocus />}
        </Field>
        <InlineError message={error} />
      </form>
    </Modal>
  );
}

/** Environments: the list with counts, and Create Environment. */
export function EnvironmentsPage() {
  const { isAdmin, reloadEnvironments } = useSession();
  const list = useApi<{ environments: Environment[] }>('/environments');
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ env: Environment; pair: KeyPair }>();

  const createButton = (
    <Button variant="primary" onClick={() => setCreating(true)} disabled={!isAdmin} title={isAdmin ? undefined : VIEW_ONLY_HINT}>
      Create Environment
    </Button>
  );

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Environments</h1>
          <p className="muted">Isolated workspaces, each with its own data and API keys.</p>
        </div>
        {createButton}
      </header>

      {list.loading && !list.data && <Spinner label="Loading environments…" />}
      {list.error && <ErrorState error={list.error} onRetry={list.reload} />}
      {list.data && list.data.environments.length === 0 && (
        <EmptyState title="No environments yet" action={isAdmin ? createButton : undefined}>
          Create one for each context you run Pulse in, such as Production and Staging.
        </EmptyState>
      )}
      {list.data && list.data.environments.length > 0 && (
        <div className="card-grid">
          {list.data.environments.map((env) => (
            <Link key={env.id} to={`/environments/${env.id}`} className="card env-card">
              <div className="env-card-head">
                <h2>{env.name}</h2>
                <span className="mono muted small">{env.id}</span>
              </div>
              <dl className="mini-stats">
                {(['rooms', 'threads', 'users', 'comments'] as const).map((k) => (
                  <div key={k}>
                    <dt>{k[0]!.toUpperCase() + k.slice(1)}</dt>
                    <dd>{formatNumber(env.counts[k])}</dd>
                  </div>
                ))}
              </dl>
              <p className="muted small">Created {formatDate(env.createdAt)}</p>
            </Link>
          ))}
        </div>
      )}

      {creating && (
        <CreateEnvironment
          onClose={() => setCreating(false)}
          onCreated={(env, pair) => {
            setCreating(false);
            setCreated({ env, pair });
            list.reload();
            reloadEnvironments();
          }}
        />
      )}
      {created && (
        <KeyPairModal
          title={`“${created.env.name}” is ready`}
          intro="Here is the API key pair of your new environment."
          pair={created.pair}
          onClose={() => {
            const id = created.env.id;
            setCreated(undefined);
            navigate(`/environments/${id}`);
          }}
        />
      )}
    </div>
  );
}
