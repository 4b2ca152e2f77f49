import { useState, type FormEvent } from 'react';
import { LIMITS } from '@pulse/protocol/lite';
import { ApiError, del, patch, post, query, seg, type Admin, type AuditEntry, type Paged, type Role } from '../api.ts';
import { Avatar, Badge, Button, Field, Pager } from '../components/controls.tsx';
import { EmptyState, ErrorState, InlineError, Spinner, useToast } from '../components/feedback.tsx';
import { ConfirmDialog, Modal } from '../components/modal.tsx';
import { actionLabel, formatDate, formatDateTime, formatRelative } from '../format.ts';
import { useApi } from '../hooks.ts';
import { useSession, VIEW_ONLY_HINT } from '../session.tsx';

function AddMember({ onClose, onAdded }: { onClose: () => void; onAdded: (member: Admin) => void }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const missing = LIMITS.adminPasswordMinLength - password.length;
  const [role, setRole] = useState<Role>('member');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const res = await post<{ member: Admin }>('/team', { email: email.trim(), name: name.trim(), password, role });
      onAdded(res.member);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };
  return (
    <Modal
      title="Add Member"
      onClose={onClose}
      size="sm"
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" form="add-member" variant="primary" busy={busy} disabled={!email.trim() || !name.trim() || missing > 0}>
            Add member
          </Button>
        </>
      }
    >
      <form id="add-member" className="form" onSubmit={submit} noValidate>
        <Field label="Email">
          {(p) => <input {...p} type="email" name="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" autoFocus />}
        </Field>
        <Field label="Name">
          {(p) => <input {...p} name="name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} autoComplete="off" />}
        </Field>
        <Field
          label="Password"
          hint={`At least ${LIMITS.adminPasswordMinLength} characters. Share it with them securely.`}
          error={password && missing > 0 ? `${missing} more character${missing === 1 ? '' : 's'} needed.` : undefined}
        >
          {(p) => <input {...p} type="password" name="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />}
        </Field>
        <Field label="Role">
          {(p) => (
            <select {...p} name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              <option value="member">Member: view-only</option>
              <option value="admin">Admin: full access</option>
            </select>
          )}
        </Field>
        <InlineError message={error} />
      </form>
    </Modal>
  );
}

function TeamLog() {
  const [page, setPage] = useState(1);
  const log = useApi<Paged<AuditEntry>>(`/team/audit${query({ page })}`);
  if (log.loading && !log.data) return <Spinner label="Loading…" />;
  if (log.error) return <ErrorState error={log.error} onRetry={log.reload} />;
  if (!log.data || log.data.total === 0) return <EmptyState title="No team changes yet" />;
  return (
    <>
      <ul className="timeline">
        {log.data.items.map((e) => (
          <li key={e.id}>
            <span className="muted small" title={formatDateTime(e.createdAt)}>
              {formatRelative(e.createdAt)}
            </span>
            <span>
              <strong>{e.actorName}</strong> · {actionLabel(e.action)}
              {e.detail && <span className="muted"> — {e.detail}</span>}
            </span>
          </li>
        ))}
      </ul>
      <Pager page={log.data.page} totalPages={log.data.totalPages} total={log.data.total} noun="change" onPage={setPage} />
    </>
  );
}

/** Team: who can use the panel, with which role. */
export function TeamPage() {
  const { admin: me, isAdmin } = useSession();
  const toast = useToast();
  const team = useApi<{ members: Admin[] }>('/team');
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Admin>();
  const [roleBusy, setRoleBusy] = useState<string>();
  const [roleError, setRoleError] = useState<string>();
  const [logVersion, setLogVersion] = useState(0);
  const changed = () => {
    team.reload();
    setLogVersion((v) => v + 1);
  };

  const changeRole = async (member: Admin, role: Role) => {
    setRoleBusy(member.id);
    setRoleError(undefined);
    try {
      await patch(`/team/${seg(member.id)}`, { role });
      toast(`${member.name} is now ${role === 'admin' ? 'an Admin' : 'a Member'}.`);
      changed();
    } catch (err) {
      setRoleError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setRoleBusy(undefined);
    }
  };

  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Team</h1>
          <p className="muted">Admins have full access. Members can look at everything but change nothing.</p>
        </div>
        <Button variant="primary" onClick={() => setAdding(true)} disabled={!isAdmin} title={isAdmin ? undefined : VIEW_ONLY_HINT}>
          Add Member
        </Button>
      </header>
      <InlineError message={roleError} />
      {team.loading && !team.data && <Spinner label="Loading the team…" />}
      {team.error && <ErrorState error={team.error} onRetry={team.reload} />}
      {team.data && (
        <div className="table-wrap">
          <table className="table team-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Email</th>
                <th>Role</th>
                <th>Added</th>
                {isAdmin && <th className="actions-col"><span className="sr-only">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {team.data.members.map((m) => {
                const self = m.id === me.id;
                return (
                  <tr key={m.id} data-member={m.email}>
                    <td>
                      <span className="user-cell">
                        <Avatar name={m.name} size={28} color="#6366f1" />
                        <span>
                          {m.name} {self && <Badge tone="accent">You</Badge>}
                        </span>
                      </span>
                    </td>
                    <td>{m.email}</td>
                    <td>
                      {isAdmin && !self ? (
                        <select
                          aria-label={`Role of ${m.name}`}
                          value={m.role}
                          disabled={roleBusy === m.id}
                          onChange={(e) => void changeRole(m, e.target.value as Role)}
                          className="role-select"
                        >
                          <option value="admin">Admin</option>
                          <option value="member">Member</option>
                        </select>
                      ) : (
                        <span title={self && isAdmin ? 'You cannot change your own role: another Admin must do it.' : undefined}>
                          <Badge tone={m.role === 'admin' ? 'accent' : 'neutral'}>{m.role === 'admin' ? 'Admin' : 'Member'}</Badge>
                        </span>
                      )}
                    </td>
                    <td title={formatDateTime(m.createdAt)}>{formatDate(m.createdAt)}</td>
                    {isAdmin && (
                      <td className="actions-col">
                        {self ? (
                          <span className="muted small" title="You cannot remove yourself: another Admin must do it.">
                            —
                          </span>
                        ) : (
                          <Button size="sm" variant="danger" onClick={() => setRemoving(m)}>
                            Remove
                          </Button>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      <section className="section">
        <h2>Recent team changes</h2>
        <TeamLog key={logVersion} />
      </section>

      {adding && (
        <AddMember
          onClose={() => setAdding(false)}
          onAdded={(m) => {
            setAdding(false);
            toast(`${m.name} can now log in with their email and the password you chose.`);
            changed();
          }}
        />
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing.name}?`}
          confirmLabel="Remove member"
          onClose={() => setRemoving(undefined)}
          onConfirm={async () => {
            await del(`/team/${seg(removing.id)}`);
            setRemoving(undefined);
            toast(`${removing.name} was removed from the team.`);
            changed();
          }}
        >
          <p>
            <strong>{removing.email}</strong> can no longer log in, and their open sessions end at once.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
