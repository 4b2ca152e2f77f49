import { useEffect, useState } from 'react';
import { query, seg, type Environment, type Paged, type RoomRow, type UserRow } from '../api.ts';
import { Avatar, Pager, SearchInput, Tabs } from '../components/controls.tsx';
import { EmptyState, ErrorState, Spinner } from '../components/feedback.tsx';
import { formatDate, formatDateTime, formatNumber } from '../format.ts';
import { useApi, useDebounced } from '../hooks.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { CommentsView } from './CommentsView.tsx';
import { EnvironmentTabs } from './EnvironmentTabs.tsx';
import { ThreadsView } from './ThreadsView.tsx';
import { clearSharedState, type getSharedState, type SharedStateRow } from '../api.ts';
import { Badge, Button } from '../components/controls.tsx';
import { useToast } from '../components/feedback.tsx';
import { ConfirmDialog } from '../components/modal.tsx';
import { useSession, VIEW_ONLY_HINT } from '../session.tsx';

export type DataView = { kind: 'rooms' } | { kind: 'users' } | { kind: 'threads'; roomId: string } | { kind: 'comments'; roomId: string; threadId: string };

/** Page and search live in the URL (?page=&search=), so Back and reload keep them. */
function usePageAndSearch() {
  const { search: params } = useLocation();
  const page = Math.max(1, Number(params.get('page')) || 1);
  const urlSearch = params.get('search') ?? '';
  const [typed, setTyped] = useState(urlSearch);
  const settled = useDebounced(typed, 250);
  useEffect(() => {
    if (settled === urlSearch) return;
    const next = new URLSearchParams(window.location.search);
    if (settled) next.set('search', settled);
    else next.delete('search');
    next.delete('page');
    const qs = next.toString();
    navigate(window.location.pathname.replace(/^\/panel/, '') + (qs ? `?${qs}` : ''), { replace: true });
  }, [settled, urlSearch]);
  const setPage = (p: number) => {
    const next = new URLSearchParams(window.location.search);
    next.set('page', String(p));
    navigate(`${window.location.pathname.replace(/^\/panel/, '')}?${next}`);
  };
  return { page, search: urlSearch, typed, setTyped, setPage };
}

function RoomsList({ envId }: { envId: string }) {
  const { page, search, typed, setTyped, setPage } = usePageAndSearch();
  const rooms = useApi<Paged<RoomRow>>(`/environments/${seg(envId)}/rooms${query({ page, search })}`);
  return (
    <>
      <div className="toolbar">
        <SearchInput value={typed} onChange={setTyped} placeholder="Search rooms by ID" label="Search rooms by ID" />
        {rooms.loading && rooms.data && <span className="spinner spinner-inline" aria-label="Updating" />}
      </div>
      {rooms.loading && !rooms.data && <Spinner label="Loading rooms…" />}
      {rooms.error && <ErrorState error={rooms.error} onRetry={rooms.reload} />}
      {rooms.data && rooms.data.total === 0 && (
        <EmptyState title={search ? `No rooms match “${search}”` : 'No rooms yet'}>
          {search ? 'Try another part of the room ID.' : 'A room appears when a user first connects to it or a thread is created in it.'}
        </EmptyState>
      )}
      {rooms.data && rooms.data.total > 0 && (
        <>
          <div className="table-wrap">
            <table className="table clickable">
              <thead>
                <tr>
                  <th>Room ID</th>
                  <th className="num">Threads</th>
                  <th className="num">Comments</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {rooms.data.items.map((r) => (
                  <tr key={r.id} onClick={() => navigate(`/environments/${envId}/data/rooms/${seg(r.id)}`)}>
                    <td className="mono room-id">
                      <Link to={`/environments/${envId}/data/rooms/${seg(r.id)}`} onClick={(e) => e.stopPropagation()}>
                        {r.id}
                      </Link>
                    </td>
                    <td className="num">{formatNumber(r.threads)}</td>
                    <td className="num">{formatNumber(r.comments)}</td>
                    <td title={formatDateTime(r.createdAt)}>{formatDate(r.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={rooms.data.page} totalPages={rooms.data.totalPages} total={rooms.data.total} noun="room" onPage={setPage} />
        </>
      )}
    </>
  );
}

function UsersList({ envId }: { envId: string }) {
  const { page, search, typed, setTyped, setPage } = usePageAndSearch();
  const users = useApi<Paged<UserRow>>(`/environments/${seg(envId)}/users${query({ page, search })}`);
  return (
    <>
      <div className="toolbar">
        <SearchInput value={typed} onChange={setTyped} placeholder="Search users by name or ID" label="Search users by name or ID" />
        {users.loading && users.data && <span className="spinner spinner-inline" aria-label="Updating" />}
      </div>
      {users.loading && !users.data && <Spinner label="Loading users…" />}
      {users.error && <ErrorState error={users.error} onRetry={users.reload} />}
      {users.data && users.data.total === 0 && (
        <EmptyState title={search ? `No users match “${search}”` : 'No users yet'}>
          {search ? 'Try another part of the name.' : 'Users appear when they first connect with a token minted by your backend.'}
        </EmptyState>
      )}
      {users.data && users.data.total > 0 && (
        <>
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>External ID</th>
                  <th>Colour</th>
                  <th className="num">Comments</th>
                  <th>First seen</th>
                </tr>
              </thead>
              <tbody>
                {users.data.items.map((u) => (
                  <tr key={u.externalId}>
                    <td>
                      <span className="user-cell">
                        <Avatar name={u.name} src={u.avatar} color={u.color} size={28} />
                        <span>{u.name}</span>
                      </span>
                    </td>
                    <td className="mono">{u.externalId}</td>
                    <td>
                      <span className="color-cell">
                        <i className="color-dot" style={{ background: u.color }} />
                        <span className="mono small">{u.color}</span>
                      </span>
                    </td>
                    <td className="num">{formatNumber(u.comments)}</td>
                    <td title={formatDateTime(u.firstSeen)}>{formatDate(u.firstSeen)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={users.data.page} totalPages={users.data.totalPages} total={users.data.total} noun="user" onPage={setPage} />
        </>
      )}
    </>
  );
}

/** P2P shared data: the rooms with stored state, one room's maps, lists and counters, and clearing them. */
function SharedDataList({ envId }: { envId: string }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const rooms = useApi<{ items: SharedStateRow[] }>(`/environments/${seg(envId)}/shared`);
  const [open, setOpen] = useState<string>();
  const [clearing, setClearing] = useState<string>();
  const room = useApi<Awaited<ReturnType<typeof getSharedState>>>(open === undefined ? null : `/environments/${seg(envId)}/rooms/${seg(open)}/shared`);
  return (
    <>
      {rooms.loading && !rooms.data && <Spinner label="Loading shared data…" />}
      {rooms.error && <ErrorState error={rooms.error} onRetry={rooms.reload} />}
      {rooms.data && rooms.data.items.length === 0 && (
        <EmptyState title="No shared data stored">P2P shared maps, lists and counters appear here once a room's peers have edited them (with Allow P2P on).</EmptyState>
      )}
      {rooms.data && rooms.data.items.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>Room ID</th>
                <th className="num">Size</th>
                <th>Saved</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rooms.data.items.map((r) => (
                <tr key={r.roomId}>
                  <td className="mono room-id">{r.roomId}</td>
                  <td className="num">{formatNumber(r.bytes)} B</td>
                  <td title={formatDateTime(r.updatedAt)}>{formatDate(r.updatedAt)}</td>
                  <td title={formatDateTime(r.expiresAt)}>{formatDate(r.expiresAt)}</td>
                  <td className="actions">
                    <Button size="sm" onClick={() => setOpen(open === r.roomId ? undefined : r.roomId)}>
                      {open === r.roomId ? 'Hide' : 'View'}
                    </Button>{' '}
                    <Button size="sm" variant="danger" disabled={!isAdmin} title={isAdmin ? undefined : VIEW_ONLY_HINT} onClick={() => setClearing(r.roomId)}>
                      Clear
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open !== undefined && (
        <section className="shared-objects" style={{ marginTop: 24 }} aria-label={`Shared data of ${open}`}>
          <h2>{open}</h2>
          {room.loading && !room.data && <Spinner label="Loading…" />}
          {room.error && <ErrorState error={room.error} onRetry={room.reload} />}
          {room.data?.objects.map((o) => (
            <div key={`${o.type}:${o.name}`}>
              <h3>
                <Badge tone="accent">{o.type}</Badge> <span className="mono">{o.name}</span>
              </h3>
              <pre className="json" style={{ background: '#fff', border: '1px solid #e3e5ec', borderRadius: 8, padding: 12, overflow: 'auto', maxHeight: 320 }}>
                {JSON.stringify(o.value, null, 2)}
              </pre>
            </div>
          ))}
        </section>
      )}
      {clearing !== undefined && (
        <ConfirmDialog
          title="Clear this room's shared data?"
          confirmLabel="Clear shared data"
          onClose={() => setClearing(undefined)}
          onConfirm={async () => {
            await clearSharedState(envId, clearing);
            setClearing(undefined);
            if (open === clearing) setOpen(undefined);
            toast('Shared data cleared. Connected peers start over with an empty document.');
            rooms.reload();
          }}
        >
          <p>
            Every shared map, list and counter of <strong className="mono">{clearing}</strong> is deleted for good, also from the browsers connected to the room now.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

/** The data browser: rooms → threads → comments, and users, of one environment. */
export function DataPage({ envId, view }: { envId: string; view: DataView }) {
  const env = useApi<{ environment: Environment }>(`/environments/${seg(envId)}`);
  const { search: params } = useLocation();
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
  const shared = view.kind === 'rooms' && params.get('view') === 'shared';
  const top = view.kind === 'users' ? 'users' : shared ? 'shared' : 'rooms';
  return (
    <div className="page">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to="/environments">Environments</Link>
        <span aria-hidden="true">/</span>
        <Link to={`/environments/${envId}`}>{environment.name}</Link>
        <span aria-hidden="true">/</span>
        <span>Data</span>
      </nav>
      <header className="page-header">
        <div>
          <h1>{environment.name}</h1>
          <p className="muted small">Browse and moderate rooms, threads, comments and users.</p>
        </div>
      </header>
      <EnvironmentTabs envId={envId} active="data" />
      {(view.kind === 'rooms' || view.kind === 'users') && (
        <Tabs
          tabs={[
            { id: 'rooms', label: 'Rooms' },
            { id: 'users', label: 'Users' },
            { id: 'shared', label: 'Shared data (P2P)' },
          ]}
          active={top}
          onSelect={(id) => navigate(`/environments/${envId}/data${id === 'users' ? '/users' : id === 'shared' ? '?view=shared' : ''}`)}
        />
      )}
      {view.kind === 'rooms' && !shared && <RoomsList key="rooms" envId={envId} />}
      {shared && <SharedDataList key="shared" envId={envId} />}
      {view.kind === 'users' && <UsersList key="users" envId={envId} />}
      {view.kind === 'threads' && <ThreadsView envId={envId} roomId={view.roomId} />}
      {view.kind === 'comments' && <CommentsView envId={envId} roomId={view.roomId} threadId={view.threadId} />}
    </div>
  );
}
