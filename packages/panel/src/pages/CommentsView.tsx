import { LIMITS, splitMentions } from '@pulse/protocol/lite';
import { useState } from 'react';
import { ApiError, del, patch, query, seg, type CommentRow, type Paged } from '../api.ts';
import { Avatar, Badge, Button, Pager } from '../components/controls.tsx';
import { EmptyState, ErrorState, InlineError, Spinner, useToast } from '../components/feedback.tsx';
import { ConfirmDialog } from '../components/modal.tsx';
import { formatBytes, formatDateTime, plural } from '../format.ts';
import { useApi } from '../hooks.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession } from '../session.tsx';

interface ThreadInfo {
  id: string;
  roomId: string;
  resolved: boolean;
  createdAt: string;
}

function Reactions({ comment }: { comment: CommentRow }) {
  if (comment.reactions.length === 0) return null;
  const byEmoji = new Map<string, string[]>();
  for (const r of comment.reactions) byEmoji.set(r.emoji, [...(byEmoji.get(r.emoji) ?? []), r.userId]);
  return (
    <div className="reactions">
      {[...byEmoji].map(([emoji, users]) => (
        <span key={emoji} className="reaction" title={users.join(', ')}>
          {emoji} <span>{users.length}</span>
        </span>
      ))}
    </div>
  );
}

function Attachments({ comment }: { comment: CommentRow }) {
  if (comment.attachments.length === 0) return null;
  return (
    <ul className="attachments">
      {comment.attachments.map((a) => (
        <li key={a.id}>
          <a href={a.url} target="_blank" rel="noopener noreferrer" className="attachment">
            {a.type === 'image' && a.thumbnailUrl ? <img src={a.thumbnailUrl} alt="" /> : <span className="attachment-icon">{a.type === 'audio' ? '♪' : a.type === 'video' ? '▶' : '🖼'}</span>}
            <span>
              <span className="attachment-name">{a.filename}</span>
              <span className="muted small block">
                {a.type} · {formatBytes(a.sizeBytes)}
              </span>
            </span>
          </a>
        </li>
      ))}
    </ul>
  );
}

function CommentCard({ envId, comment, isLast, onChanged }: { envId: string; comment: CommentRow; isLast: boolean; onChanged: (threadDeleted: boolean) => void }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const [editing, setEditing] = useState(false);
  const [body, setBody] = useState(comment.body);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [deleting, setDeleting] = useState(false);
  const name = comment.author.name ?? comment.author.externalId;

  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await patch(`/environments/${seg(envId)}/comments/${seg(comment.id)}`, { body });
      setEditing(false);
      toast('Comment updated. Connected widgets show the new text.');
      onChanged(false);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <article className="comment" data-comment-id={comment.id}>
      <Avatar name={name} src={comment.author.avatar} color={comment.author.color} size={36} />
      <div className="comment-main">
        <header className="comment-head">
          <strong>{name}</strong>
          <span className="mono muted small">{comment.author.externalId}</span>
          <span className="muted small" title={formatDateTime(comment.createdAt)}>
            {formatDateTime(comment.createdAt)}
          </span>
          {comment.editedAt && (
            <span title={`Edited ${formatDateTime(comment.editedAt)}`}>
              <Badge tone="warning">Edited</Badge>
            </span>
          )}
          {isAdmin && !editing && (
            <span className="comment-actions">
              <Button
                size="sm"
                variant="ghost"
                onClick={() => {
                  setBody(comment.body);
                  setEditing(true);
                }}
              >
                Edit
              </Button>
              <Button size="sm" variant="ghost" className="text-danger" onClick={() => setDeleting(true)}>
                Delete
              </Button>
            </span>
          )}
        </header>
        {editing ? (
          <div className="comment-edit">
            <textarea
              aria-label="Comment text"
              value={body}
              onChange={(e) => setBody(e.target.value)}
              onKeyDown={(e) => {
                // As in the widget: Escape cancels the edit.
                if (e.key === 'Escape' && !busy) setEditing(false);
              }}
              rows={Math.min(10, Math.max(3, body.split('\n').length + 1))}
              maxLength={LIMITS.commentBodyLength}
              autoFocus
            />
            <InlineError message={error} />
            <div className="row-actions">
              <Button size="sm" onClick={() => setEditing(false)} disabled={busy}>
                Cancel
              </Button>
              <Button size="sm" variant="primary" onClick={save} busy={busy} disabled={!body.trim() || body === comment.body}>
                Save
              </Button>
            </div>
          </div>
        ) : (
          <p className="comment-body">
            <CommentText comment={comment} />
          </p>
        )}
        <Attachments comment={comment} />
        <Reactions comment={comment} />
      </div>
      {deleting && (
        <ConfirmDialog
          title="Delete this comment?"
          confirmLabel={isLast ? 'Delete comment and thread' : 'Delete comment'}
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            const res = await del<{ threadDeleted: boolean }>(`/environments/${seg(envId)}/comments/${seg(comment.id)}`);
            setDeleting(false);
            toast(res.threadDeleted ? 'Comment deleted; it was the last one, so the thread is gone too.' : 'Comment deleted.');
            onChanged(res.threadDeleted);
          }}
        >
          <p>
            The comment by <strong>{name}</strong> is removed for good and disappears from every connected widget at once.
            {isLast && ' It is the last comment of its thread, so the thread is removed too.'}
          </p>
          <blockquote className="quote">
            <CommentText comment={comment} />
          </blockquote>
        </ConfirmDialog>
      )}
    </article>
  );
}

/** The comments of one thread, oldest first, with moderation for Admins. */
export function CommentsView({ envId, roomId, threadId }: { envId: string; roomId: string; threadId: string }) {
  const { isAdmin } = useSession();
  const toast = useToast();
  const { search } = useLocation();
  const page = Math.max(1, Number(search.get('page')) || 1);
  const comments = useApi<Paged<CommentRow> & { thread: ThreadInfo }>(`/environments/${seg(envId)}/threads/${seg(threadId)}/comments${query({ page })}`);
  const [deletingThread, setDeletingThread] = useState(false);
  const roomPath = `/environments/${envId}/data/rooms/${seg(roomId)}`;
  const threadPath = `${roomPath}/threads/${seg(threadId)}`;

  return (
    <>
      <nav className="breadcrumbs sub" aria-label="Data path">
        <Link to={`/environments/${envId}/data`}>Rooms</Link>
        <span aria-hidden="true">/</span>
        <Link to={roomPath} className="mono">
          {roomId}
        </Link>
        <span aria-hidden="true">/</span>
        <span>Thread</span>
      </nav>
      {comments.loading && !comments.data && <Spinner label="Loading comments…" />}
      {comments.error && (
        <ErrorState
          title={comments.error.status === 404 ? 'Thread not found' : 'Could not load the comments'}
          error={comments.error.status === 404 ? new Error('It may have been deleted. Go back to the room to see its threads.') : comments.error}
          onRetry={comments.error.status === 404 ? undefined : comments.reload}
        />
      )}
      {comments.data && (
        <>
          <div className="thread-head">
            <div>
              {comments.data.thread.resolved ? <Badge tone="neutral">Resolved</Badge> : <Badge tone="success">Active</Badge>}
              <span className="muted small">
                {' '}
                {plural(comments.data.total, 'comment')} · started {formatDateTime(comments.data.thread.createdAt)} · <span className="mono">{threadId}</span>
              </span>
            </div>
            {isAdmin && (
              <Button size="sm" variant="danger" onClick={() => setDeletingThread(true)}>
                Delete thread
              </Button>
            )}
          </div>
          {comments.data.total === 0 ? (
            <EmptyState title="No comments">This thread has no comments.</EmptyState>
          ) : (
            <div className="comments">
              {comments.data.items.map((c) => (
                <CommentCard
                  key={`${c.id}:${c.editedAt ?? ''}`}
                  envId={envId}
                  comment={c}
                  isLast={comments.data!.total === 1}
                  onChanged={(threadDeleted) => (threadDeleted ? navigate(roomPath) : comments.reload())}
                />
              ))}
            </div>
          )}
          <Pager page={comments.data.page} totalPages={comments.data.totalPages} total={comments.data.total} noun="comment" onPage={(p) => navigate(`${threadPath}?page=${p}`)} />
        </>
      )}
      {deletingThread && comments.data && (
        <ConfirmDialog
          title="Delete this thread?"
          confirmLabel="Delete thread"
          onClose={() => setDeletingThread(false)}
          onConfirm={async () => {
            await del(`/environments/${seg(envId)}/threads/${seg(threadId)}`);
            setDeletingThread(false);
            toast('Thread deleted. Connected widgets no longer show it.');
            navigate(roomPath);
          }}
        >
          <p>The thread and its {plural(comments.data.total, 'comment')} are removed for good, and disappear from every connected widget at once.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

/** A comment's text with its @mentions written as names and highlighted, as the widget shows them. */
function CommentText({ comment }: { comment: CommentRow }) {
  const names = new Map(comment.mentions.map((m) => [m.externalId, m.name]));
  return (
    <>
      {splitMentions(comment.body, names).map((part, i) =>
        part.mention ? (
          <span key={i} className="mention" title={`@${part.mention}`}>
            {part.text}
          </span>
        ) : (
          part.text
        ),
      )}
    </>
  );
}
