import { useState } from 'react';
import { del, query, seg, type Paged, type ThreadRow } from '../api.ts';
import { Badge, Button, Pager } from '../components/controls.tsx';
import { EmptyState, ErrorState, Spinner, useToast } from '../components/feedback.tsx';
import { ConfirmDialog } from '../components/modal.tsx';
import { formatDate, formatDateTime, formatNumber, plural } from '../format.ts';
import { useApi } from '../hooks.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession } from '../session.tsx';

/** The threads of one room. */
export function ThreadsView({ envId, roomId }: { envId: string; roomId: string }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const { search } = useLocation();
  const page = Math.max(1, Number(search.get('page')) || 1);
  const threads = useApi<Paged<ThreadRow> & { room: { id: string; createdAt: string } }>(
    `/environments/${seg(envId)}/rooms/${seg(roomId)}/threads${query({ page })}`,
  );
  const [deleting, setDeleting] = useState<ThreadRow>();
  const roomPath = `/environments/${envId}/data/rooms/${seg(roomId)}`;

  return (
    <>
      <nav className="breadcrumbs sub" aria-label="Data path">
        <Link to={`/environments/${envId}/data`}>Rooms</Link>
        <span aria-hidden="true">/</span>
        <span className="mono">{roomId}</span>
      </nav>
      {threads.loading && !threads.data && <Spinner label="Loading threads…" />}
      {threads.error && <ErrorState title={threads.error.status === 404 ? 'Room not found' : 'Could not load the threads'} error={threads.error} onRetry={threads.error.status === 404 ? undefined : threads.reload} />}
      {threads.data && (
        <>
          <p className="muted small">
            Room created {formatDateTime(threads.data.room.createdAt)} · {plural(threads.data.total, 'thread')}
          </p>
          {threads.data.total === 0 ? (
            <EmptyState title="No threads in this room">Threads appear here when users pin comments in this room.</EmptyState>
          ) : (
            <>
              <div className="table-wrap">
                <table className="table clickable">
                  <thead>
                    <tr>
                      <th>Status</th>
                      <th>First comment</th>
                      <th className="num">Comments</th>
                      <th>Created</th>
                      {isAdmin && <th className="actions-col"><span className="sr-only">Actions</span></th>}
                    </tr>
                  </thead>
                  <tbody>
                    {threads.data.items.map((t) => (
                      <tr key={t.id} onClick={() => navigate(`${roomPath}/threads/${seg(t.id)}`)}>
                        <td>{t.resolved ? <Badge tone="neutral">Resolved</Badge> : <Badge tone="success">Active</Badge>}</td>
                        <td className="preview-cell">
                          <Link to={`${roomPath}/threads/${seg(t.id)}`} onClick={(e) => e.stopPropagation()}>
                            {t.firstComment ? t.firstComment.body || '(attachments only)' : '(no comments)'}
                          </Link>
                          {t.firstComment && <span className="muted small block">by {t.firstComment.userName ?? t.firstComment.userId}</span>}
                        </td>
                        <td className="num">{formatNumber(t.comments)}</td>
                        <td title={formatDateTime(t.createdAt)}>{formatDate(t.createdAt)}</td>
                        {isAdmin && (
                          <td className="actions-col" onClick={(e) => e.stopPropagation()}>
                            <Button size="sm" variant="danger" onClick={() => setDeleting(t)}>
                              Delete
                            </Button>
                          </td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager
                page={threads.data.page}
                totalPages={threads.data.totalPages}
                total={threads.data.total}
                noun="thread"
                onPage={(p) => navigate(`${roomPath}?page=${p}`)}
              />
            </>
          )}
        </>
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete this thread?"
          confirmLabel="Delete thread"
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await del(`/environments/${seg(envId)}/threads/${seg(deleting.id)}`);
            setDeleting(undefined);
            toast('Thread deleted. Connected widgets no longer show it.');
            threads.reload();
          }}
        >
          <p>
            The thread and its {plural(deleting.comments, 'comment')} are removed for good, and disappear from every connected widget at once.
          </p>
          {deleting.firstComment && <blockquote className="quote">{deleting.firstComment.body}</blockquote>}
        </ConfirmDialog>
      )}
    </>
  );
}
