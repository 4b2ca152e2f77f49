import { useEffect, useMemo, useState, type ReactNode } from 'react';
import type { Admin, Environment } from './api.ts';
import { Avatar, Badge, Button } from './components/controls.tsx';
import { EmptyState } from './components/feedback.tsx';
import { useApi } from './hooks.ts';
import { DataPage } from './pages/DataPage.tsx';
import { WebhooksPage } from './pages/WebhooksPage.tsx';
import { EnvironmentPage } from './pages/EnvironmentPage.tsx';
import { EnvironmentsPage } from './pages/EnvironmentsPage.tsx';
import { TeamPage } from './pages/TeamPage.tsx';
import { Link, match, navigate, useLocation } from './router.tsx';
import { SessionContext, type Session } from './session.tsx';

function Logo() {
  return (
    <Link to="/environments" className="logo" aria-label="Pulse admin home">
      <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
        <rect width="32" height="32" rx="8" fill="#4f46e5" />
        <path d="M6 17h5l3-7 4 13 3-6h5" fill="none" stroke="white" strokeWidth="2.5" strokeLinecap="round" strokeLinejoin="round" />
      </svg>
      <span>
        Pulse <small>Admin</small>
      </span>
    </Link>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function Page({ path }: { path: string }): ReactNode {
  let m: Record<string, string> | null;
  if (path === '/' || path === '' || path === '/login' || path === '/setup') return <Redirect to="/environments" />;
  if (match('/environments', path)) return <EnvironmentsPage />;
  if ((m = match('/environments/:envId', path))) return <EnvironmentPage envId={m.envId!} />;
  if ((m = match('/environments/:envId/data', path))) return <DataPage envId={m.envId!} view={{ kind: 'rooms' }} />;
  if ((m = match('/environments/:envId/webhooks', path))) return <WebhooksPage envId={m.envId!} />;
  if ((m = match('/environments/:envId/data/users', path))) return <DataPage envId={m.envId!} view={{ kind: 'users' }} />;
  if ((m = match('/environments/:envId/data/rooms/:roomId', path))) return <DataPage envId={m.envId!} view={{ kind: 'threads', roomId: m.roomId! }} />;
  if ((m = match('/environments/:envId/data/rooms/:roomId/threads/:threadId', path))) {
    return <DataPage envId={m.envId!} view={{ kind: 'comments', roomId: m.roomId!, threadId: m.threadId! }} />;
  }
  if (match('/team', path)) return <TeamPage />;
  return (
    <EmptyState title="Page not found" action={<Link to="/environments">Go to Environments</Link>}>
      There is nothing at this address.
    </EmptyState>
  );
}

/** The signed-in layout: sidebar (Environments, Team, account) and the page. */
export function Shell({ admin, onLogout }: { admin: Admin; onLogout: () => Promise<void> }) {
  const { path } = useLocation();
  const envs = useApi<{ environments: Environment[] }>('/environments');
  const [menuOpen, setMenuOpen] = useState(false);
  const [loggingOut, setLoggingOut] = useState(false);

  const session: Session = useMemo(
    () => ({
      admin,
      isAdmin: admin.role === 'admin',
      logout: onLogout,
      environments: envs.data?.environments,
      reloadEnvironments: envs.reload,
    }),
    [admin, onLogout, envs.data, envs.reload],
  );

  const activeEnv = /^\/environments\/([^/]+)/.exec(path)?.[1];
  const inEnvironments = path.startsWith('/environments');

  return (
    <SessionContext.Provider value={session}>
      <div className={`shell${menuOpen ? ' menu-open' : ''}`}>
        <aside className="sidebar">
          <div className="sidebar-top">
            <Logo />
            <button type="button" className="menu-toggle" aria-label="Menu" aria-expanded={menuOpen} onClick={() => setMenuOpen((o) => !o)}>
              ☰
            </button>
          </div>
          <nav className="nav" aria-label="Main" onClick={() => setMenuOpen(false)}>
            <Link to="/environments" className={`nav-item${path === '/environments' ? ' is-active' : ''}${inEnvironments ? ' is-open' : ''}`}>
              <svg viewBox="0 0 20 20" aria-hidden="true"><path d="M3 4h14v4H3zM3 10h14v6H3z" fill="none" stroke="currentColor" strokeWidth="1.6" /></svg>
              Environments
            </Link>
            <div className="nav-sub">
              {envs.loading && !envs.data && <span className="nav-note">Loading…</span>}
              {envs.error && <span className="nav-note">Could not load</span>}
              {envs.data?.environments.map((e) => (
                <Link key={e.id} to={`/environments/${e.id}`} className={`nav-subitem${activeEnv === e.id ? ' is-active' : ''}`} title={e.name}>
                  {e.name}
                </Link>
              ))}
            </div>
            <Link to="/team" className={`nav-item${path.startsWith('/team') ? ' is-active' : ''}`}>
              <svg viewBox="0 0 20 20" aria-hidden="true"><path d="M7 9a3 3 0 1 0 0-6 3 3 0 0 0 0 6Zm6.5 0a2.5 2.5 0 1 0 0-5M2 17c0-3 2.2-5 5-5s5 2 5 5M13 12c2.5 0 5 1.5 5 5" fill="none" stroke="currentColor" strokeWidth="1.6" /></svg>
              Team
            </Link>
          </nav>
          <div className="account">
            <Avatar name={admin.name} size={34} color="#4f46e5" />
            <div className="account-who">
              <strong title={admin.name}>{admin.name}</strong>
              <span title={admin.email}>{admin.email}</span>
            </div>
            <Badge tone={admin.role === 'admin' ? 'accent' : 'neutral'}>{admin.role === 'admin' ? 'Admin' : 'Member'}</Badge>
            <Button
              size="sm"
              variant="ghost"
              className="logout"
              busy={loggingOut}
              onClick={() => {
                setLoggingOut(true);
                void onLogout().finally(() => setLoggingOut(false));
              }}
            >
              Log out
            </Button>
          </div>
        </aside>
        <main className="main">
          {admin.role !== 'admin' && (
            <div className="notice" role="note">
              You have <strong>view-only</strong> access (Member). Only Admins can change environments, keys, configuration, data or the team.
            </div>
          )}
          <Page path={path} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}
