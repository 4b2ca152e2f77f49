import { httpBase, type ClientThread } from '@pulse/core';
import type { Attachment, Comment, ThreadWithComments } from '@pulse/protocol/lite';
import { html, nothing } from 'lit';
import type { ComposerSubmit } from '../composer.ts';
import { initials, mentionCandidates, relativeTime, splitMentions, userColorStyle } from '../format.ts';
import { icons } from '../icons.ts';
import type { PulseWidget } from '../pulse-widget.ts';

const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀', '🔥', '✅', '🚀', '💯'];

function avatar(w: PulseWidget, userId: string) {
  const u = w.userInfo(userId);
  return html`<span class="avatar small" style=${userColorStyle(u.color)} aria-hidden="true">${u.avatar ? html`<img src=${u.avatar} alt="" />` : initials(u.name)}</span>`;
}

function mentionNames(w: PulseWidget, comment: Comment): Map<string, string> {
  return new Map(comment.mentions.map((id) => [id, w.userInfo(id).name]));
}

/**
 * A notification's or activity entry's preview, its @mentions shown as the thread shows them
 * ("@Bob Smith"): by the comment's own mention list when the comment is in this room's state,
 * else every @id that names a known user (looked up in the directory, as names are elsewhere).
 */
function renderPreview(w: PulseWidget, preview: string, commentId: string | null) {
  const comment = commentId ? w.client?.state.comment(commentId) : undefined;
  let names: Map<string, string>;
  if (comment) names = mentionNames(w, comment);
  else {
    void w.directoryVersion; // re-rendered when the directory learns a name
    names = new Map();
    for (const id of mentionCandidates(preview)) {
      const user = w.presence.find((p) => p.userId === id)?.user ?? w.directory.get(id);
      if (user) names.set(id, user.name);
    }
  }
  return splitMentions(preview, names).map((p) => (p.mention ? html`<span class="mention">${p.text}</span>` : p.text));
}

function renderAttachment(w: PulseWidget, a: Attachment) {
  if (a.type === 'image') {
    return html`<button class="thumb" aria-label="Open image ${a.filename}" @click=${() => (w.lightbox = a.url)}>
      <img src=${a.thumbnailUrl ?? a.url} alt=${a.filename} loading="lazy" />
    </button>`;
  }
  if (a.type === 'audio') return html`<audio controls preload="metadata" src=${a.url} aria-label=${a.filename}></audio>`;
  return html`<video controls preload="metadata" src=${a.url} width="240" aria-label=${a.filename}></video>`;
}

function renderComment(w: PulseWidget, thread: ClientThread, comment: Comment) {
  const author = w.userInfo(comment.userId);
  const mine = comment.userId === w.user?.id;
  const c = w.config;
  const grouped = new Map<string, { count: number; mine?: string }>();
  for (const r of comment.reactions) {
    const g = grouped.get(r.emoji) ?? { count: 0 };
    g.count++;
    if (r.userId === w.user?.id) g.mine = r.id;
    grouped.set(r.emoji, g);
  }
  const react = (emoji: string) => {
    const existing = grouped.get(emoji)?.mine;
    if (existing) w.client?.removeReaction(existing);
    else w.client?.addReaction(comment.id, 'comment', emoji);
    if (w.pickerFor === comment.id) w.closePicker();
  };
  const editing = w.editing === comment.id;
  return html`<div class="comment" data-comment=${comment.id}>
    <div class="meta">
      ${avatar(w, comment.userId)}<span class="name" title=${author.name}>${author.name}</span><span title=${new Date(comment.createdAt).toLocaleString()}
        >${relativeTime(comment.createdAt)}</span
      >${comment.editedAt ? html`<span class="edited">(edited)</span>` : nothing}
    </div>
    ${editing
      ? html`<pulse-composer
          autofocus
          .client=${w.client!}
          .users=${w.directory.known()}
          .config=${c}
          .threadId=${thread.id}
          .initial=${comment.body}
          submitLabel="Save"
          @submit=${(e: CustomEvent<ComposerSubmit>) => {
            e.stopPropagation();
            w.client?.editComment(comment.id, e.detail.body, e.detail.mentions);
            w.editing = null;
          }}
          @cancel=${() => (w.editing = null)}
        ></pulse-composer>`
      : html`<div class="text" dir="auto">${splitMentions(comment.body, mentionNames(w, comment)).map((p) => (p.mention ? html`<span class="mention">${p.text}</span>` : p.text))}</div>`}
    ${comment.attachments.length ? html`<div class="attachments">${comment.attachments.map((a) => renderAttachment(w, a))}</div>` : nothing}
    <div class="actions">
      ${c.allowReactions
        ? html`${[...grouped].map(
              ([emoji, g]) =>
                html`<button class="chip ${g.mine ? 'mine' : ''}" aria-pressed=${g.mine ? 'true' : 'false'} aria-label="${emoji} ${g.count}" @click=${() => react(emoji)}>
                  ${emoji} ${g.count}
                </button>`,
            )}
            <button class="icon-btn" aria-label="Add a reaction" aria-expanded=${w.pickerFor === comment.id ? 'true' : 'false'} @click=${() => w.togglePicker(comment.id)}>
              ☺︎+
            </button>`
        : nothing}
      ${mine && !editing
        ? w.confirmingDelete === comment.id
          ? confirmDelete(w, 'Delete this comment?', () => w.deleteComment(thread, comment.id))
          : html`<button class="icon-btn" @click=${() => (w.editing = comment.id)}>Edit</button
              ><button class="icon-btn danger" @click=${() => (w.confirmingDelete = comment.id)}>Delete</button>`
        : nothing}
    </div>
    ${w.pickerFor === comment.id
      ? html`<div class="picker" role="menu" aria-label="Reactions" @keydown=${moveInMenu}>
          ${REACTIONS.map((e) => html`<button role="menuitem" aria-label="React with ${e}" @click=${() => react(e)}>${e}</button>`)}
        </div>`
      : nothing}
  </div>`;
}

/** A menu's arrow keys (and Home, End) move the focus among its items, wrapping around. */
function moveInMenu(e: KeyboardEvent): void {
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
  if (step === undefined && e.key !== 'Home' && e.key !== 'End') return;
  const items = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLElement>('[role=menuitem]')];
  const at = items.indexOf(e.target as HTMLElement);
  const next = e.key === 'Home' ? 0 : e.key === 'End' ? items.length - 1 : (at + step! + items.length) % items.length;
  items[next]?.focus();
  e.preventDefault();
}

function typingLine(w: PulseWidget, threadId: string) {
  if (!w.config.showTypingIndicators) return nothing;
  const names = w.typing.filter((t) => t.threadId === threadId && t.userId !== w.user?.id).map((t) => w.userInfo(t.userId).name);
  const text = names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
  return html`<div class="typing" aria-live="polite">${text}</div>`;
}

/** The second step of a deletion: it cannot be undone, so it asks once, in place. */
function confirmDelete(w: PulseWidget, question: string, remove: () => void) {
  const done = () => (w.confirmingDelete = null);
  return html`<span class="confirm" role="group" aria-label=${question}
    ><span>${question}</span
    ><button class="icon-btn danger" @click=${() => (remove(), done())}>Delete</button
    ><button class="icon-btn" @click=${done}>Cancel</button></span
  >`;
}

/** One thread: its comments, the reply composer, resolve and delete. */
export function renderThread(w: PulseWidget, thread: ClientThread) {
  const mine = w.user !== null && thread.createdBy === w.user.id;
  return html`
    <div class="body">${thread.comments.map((c) => renderComment(w, thread, c))}</div>
    ${typingLine(w, thread.id)}
    <pulse-composer
      .client=${w.client!}
      .users=${w.directory.known()}
      .config=${w.config}
      .threadId=${thread.id}
      placeholder="Reply…"
      submitLabel="Reply"
      @mention-query=${(e: CustomEvent<string>) => void w.directory.search(e.detail)}
      @submit=${(e: CustomEvent<ComposerSubmit>) => w.client?.reply(thread.id, e.detail.body, e.detail.mentions, e.detail.attachmentIds)}
    >
      <span slot="extra">
        <button class="secondary" @click=${() => w.client?.resolveThread(thread.id, !thread.resolved)}>${thread.resolved ? 'Reopen' : 'Resolve'}</button>
        ${!mine
          ? nothing
          : w.confirmingDelete === thread.id
            ? confirmDelete(w, thread.comments.length > 1 ? `Delete the thread and its ${thread.comments.length} comments?` : 'Delete the thread?', () => w.deleteThread(thread.id))
            : html`<button class="icon-btn danger" aria-label="Delete thread" @click=${() => (w.confirmingDelete = thread.id)}>${icons.trash}</button>`}
      </span>
    </pulse-composer>
  `;
}

function threadCard(w: PulseWidget, t: ThreadWithComments) {
  const first = t.comments[0];
  const n = w.pinNumber(t.id);
  return html`<button class="thread-card" @click=${() => w.openThread(t.id)} aria-label="Open thread${n ? ` ${n}` : ''}">
    <div class="meta">
      ${n ? html`<span class="num">${n}</span>` : nothing}${first ? avatar(w, first.userId) : nothing}
      <span class="name" title=${first ? w.userInfo(first.userId).name : ''}>${first ? w.userInfo(first.userId).name : ''}</span><span>${relativeTime(t.createdAt)}</span>
      <span>· ${t.comments.length} ${t.comments.length === 1 ? 'comment' : 'comments'}</span>
    </div>
    <div class="preview" dir="auto">
      ${first?.body
        ? splitMentions(first.body, mentionNames(w, first)).map((p) => (p.mention ? html`<span class="mention">${p.text}</span>` : p.text))
        : first?.attachments.length
          ? `${first.attachments.length} attachment${first.attachments.length === 1 ? '' : 's'}`
          : ''}
    </div>
  </button>`;
}

function threadsPanel(w: PulseWidget) {
  const open = w.openThreadId ? w.threads.find((t) => t.id === w.openThreadId) : undefined;
  if (w.openThreadId && open) {
    const n = w.pinNumber(open.id);
    return html`<section class="panel" role="dialog" aria-label="Thread">
      <header>
        <button class="icon-btn" aria-label="Back to all comments" data-autofocus @click=${() => (w.openThreadId = null)}>${icons.back}</button>
        <h2>${n ? `#${n} ` : ''}${open.resolved ? 'Resolved thread' : 'Thread'}</h2>
        <button class="icon-btn" aria-label="Close" @click=${() => w.closePanel()}>${icons.close}</button>
      </header>
      ${renderThread(w, open)}
    </section>`;
  }
  const active = w.threads.filter((t) => !t.resolved).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  const resolved = w.threads.filter((t) => t.resolved).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  return html`<section class="panel" role="dialog" aria-label="Comments">
    <header>
      <h2>Comments</h2>
      <button class="icon-btn" aria-label="Close comments" data-autofocus @click=${() => w.closePanel()}>${icons.close}</button>
    </header>
    <div class="body">
      ${w.threads.length === 0
        ? html`<div class="empty">No comments yet.<br />Use the pin to comment on anything on this page, or start a thread below.</div>`
        : html`${active.length ? html`<div class="section-title">Active (${active.length})</div>${active.map((t) => threadCard(w, t))}` : nothing}
          ${resolved.length ? html`<div class="section-title">Resolved (${resolved.length})</div>${resolved.map((t) => threadCard(w, t))}` : nothing}`}
    </div>
    <pulse-composer
      .client=${w.client!}
      .users=${w.directory.known()}
      .config=${w.config}
      placeholder="Start a thread about this page…"
      submitLabel="Post"
      @mention-query=${(e: CustomEvent<string>) => void w.directory.search(e.detail)}
      @submit=${(e: CustomEvent<ComposerSubmit>) => w.submitNewThread(e, null)}
    ></pulse-composer>
  </section>`;
}

function notificationsPanel(w: PulseWidget) {
  const unread = w.notifications.filter((n) => !n.read).length;
  return html`<section class="panel" role="dialog" aria-label="Notifications">
    <header>
      <h2>Notifications</h2>
      <span>
        ${unread ? html`<button class="icon-btn" @click=${() => w.client?.markNotificationsRead('all')}>Mark all read</button>` : nothing}
        <button class="icon-btn" aria-label="Close notifications" data-autofocus @click=${() => w.closePanel()}>${icons.close}</button>
      </span>
    </header>
    <div class="body">
      ${w.notifications.length === 0
        ? html`<div class="empty">You're all caught up. Mentions and replies to your threads show up here.</div>`
        : w.notifications.map(
            (n) => html`<button
              class="list-item ${n.read ? '' : 'unread'}"
              @click=${() => {
                if (!n.read) w.client?.markNotificationsRead([n.id]);
                if (n.roomId === w.room) w.openThread(n.threadId);
              }}
            >
              ${avatar(w, n.actorId)}
              <span>
                <span><span class="name">${w.userInfo(n.actorId).name}</span> ${n.kind === 'mention' ? 'mentioned you' : 'replied'}${n.roomId !== w.room ? ` in ${n.roomId}` : ''}</span>
                <div class="small" dir="auto">${renderPreview(w, n.preview, n.commentId)}</div>
                <div class="small">${relativeTime(n.createdAt)}</div>
              </span>
            </button>`,
          )}
    </div>
  </section>`;
}

const ACTIVITY_TEXT: Record<string, string> = {
  'thread.created': 'started a thread',
  'thread.resolved': 'resolved a thread',
  'thread.reopened': 'reopened a thread',
  'thread.deleted': 'deleted a thread',
  'comment.created': 'replied',
  'comment.edited': 'edited a comment',
  'comment.deleted': 'deleted a comment',
  'drawing.cleared': 'cleared the drawing',
};

function activityPanel(w: PulseWidget) {
  const entries = [...w.activity].reverse();
  return html`<section class="panel" role="dialog" aria-label="Activity">
    <header>
      <h2>Activity</h2>
      <button class="icon-btn" aria-label="Close activity" data-autofocus @click=${() => w.closePanel()}>${icons.close}</button>
    </header>
    <div class="body">
      ${entries.length === 0
        ? html`<div class="empty">Nothing has happened in this room yet.</div>`
        : entries.map(
            (a) => html`<button class="list-item" ?disabled=${!a.threadId || !w.threads.some((t) => t.id === a.threadId)} @click=${() => a.threadId && w.openThread(a.threadId)}>
              ${a.userId ? avatar(w, a.userId) : html`<span class="avatar small">⚙︎</span>`}
              <span>
                <span><span class="name">${a.userId ? w.userInfo(a.userId).name : 'A moderator'}</span> ${ACTIVITY_TEXT[a.kind] ?? a.kind}</span>
                ${a.preview ? html`<div class="small" dir="auto">${renderPreview(w, a.preview, a.commentId)}</div>` : nothing}
                <div class="small">${relativeTime(a.createdAt)}</div>
              </span>
            </button>`,
          )}
    </div>
  </section>`;
}

/** The user's email-notification switch, as the server has it (read when the settings open). */
interface EmailSetting {
  available: boolean;
  hasEmail: boolean;
  enabled: boolean;
}
/** What was read, and under which `emailNotifications` flag: the environment turning emails on or off reads it again. */
const emailSettings = new WeakMap<PulseWidget, { state: EmailSetting | 'loading' | 'error'; flag: boolean }>();

/** Another environment or server: the switch is read again from there. */
export function forgetEmailSetting(w: PulseWidget): void {
  emailSettings.delete(w);
}

async function emailSettingRequest(w: PulseWidget, body?: { enabled: boolean }): Promise<EmailSetting> {
  const token = await w.client!.currentToken();
  const res = await fetch(`${httpBase(w.endpoint!)}/api/v1/me/email-notifications`, {
    method: body ? 'PUT' : 'GET',
    headers: { 'x-pulse-key': w.apiKey!, 'x-pulse-token': token, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`email setting: HTTP ${res.status}`);
  return (await res.json()) as EmailSetting;
}

function loadEmailSetting(w: PulseWidget): void {
  const flag = w.config.emailNotifications;
  const current = emailSettings.get(w);
  if (current && current.flag === flag && current.state !== 'error') return;
  if (current?.state === 'loading' || !w.client || !w.endpoint || !w.apiKey) return;
  emailSettings.set(w, { state: 'loading', flag });
  emailSettingRequest(w).then(
    (setting) => emailSettings.set(w, { state: setting, flag }),
    () => emailSettings.set(w, { state: 'error', flag }),
  ).finally(() => w.requestUpdate());
}

function setEmailSetting(w: PulseWidget, enabled: boolean): void {
  const before = emailSettings.get(w);
  if (!before || typeof before.state === 'string') return;
  emailSettings.set(w, { ...before, state: { ...before.state, enabled } });
  w.requestUpdate();
  emailSettingRequest(w, { enabled }).then(
    (setting) => emailSettings.set(w, { state: setting, flag: before.flag }),
    () => emailSettings.set(w, before),
  ).finally(() => w.requestUpdate());
}

/** "Email me…", shown when the environment sends emails and the user has an address. */
function emailRow(w: PulseWidget) {
  loadEmailSetting(w);
  const setting = emailSettings.get(w)?.state;
  if (!setting || typeof setting === 'string' || !setting.available || !setting.hasEmail) return nothing;
  return html`<label class="setting"><span>Email me mentions and replies I miss</span><input type="checkbox" .checked=${setting.enabled} @change=${(e: Event) => setEmailSetting(w, (e.target as HTMLInputElement).checked)} /></label>`;
}

function settingsPanel(w: PulseWidget) {
  const c = w.config;
  const row = (label: string, key: keyof typeof w.prefs, shown = true) =>
    shown
      ? html`<label class="setting"><span>${label}</span><input type="checkbox" .checked=${w.prefs[key]} @change=${(e: Event) => w.setPrefs({ [key]: (e.target as HTMLInputElement).checked })} /></label>`
      : nothing;
  return html`<section class="panel" role="dialog" aria-label="Settings">
    <header>
      <h2>Settings</h2>
      <button class="icon-btn" aria-label="Close settings" data-autofocus @click=${() => w.closePanel()}>${icons.close}</button>
    </header>
    <div class="body">
      ${row("Show others' cursors", 'showCursors', c.showCursors)} ${row('Share my cursor', 'shareCursor', c.showCursors)}
      ${row('Show comment pins', 'showPins')} ${row('Show drawings', 'showDrawing', c.allowDrawing)}
      ${row('Appear offline', 'appearOffline', c.showPresence)} ${emailRow(w)}
      <div class="setting small">Signed in as <strong>${w.user?.name ?? '…'}</strong><br />Room <code>${w.room}</code></div>
    </div>
  </section>`;
}

export function renderPanel(w: PulseWidget) {
  switch (w.panel) {
    case 'threads':
      return threadsPanel(w);
    case 'notifications':
      return notificationsPanel(w);
    case 'activity':
      return activityPanel(w);
    case 'settings':
      return settingsPanel(w);
    default:
      return nothing;
  }
}

/** From a pin's point to the left edge of its popover: the pin (32 px wide with its border, from 2 px left of the point) and a gap. */
const PIN_RIGHT_CLEARANCE = 36;

/** Where the popover of a pin at (x, y) of the window goes: right of the pin, a little above its point. */
export function popoverSpot(x: number, y: number): { left: number; top: number } {
  const width = Math.min(340, innerWidth - 24);
  return { left: Math.max(12, Math.min(x + PIN_RIGHT_CLEARANCE, innerWidth - width - 12)), top: Math.max(12, Math.min(y - 20, innerHeight - 320)) };
}

/**
 * A thread (or the composer for a new pinned thread) in a popover next to its pin. It carries its
 * pin's point (in the page for a placed pin, so that it follows the page's scroll; else in the
 * window); the widget places it after each render and scroll (#placePopover).
 */
export function renderThreadPopover(w: PulseWidget, threadId: string | null) {
  const thread = threadId ? w.threads.find((t) => t.id === threadId) : undefined;
  if (threadId && !thread) return nothing;
  const anchor = thread ? w.pinPositions.get(thread.id) : undefined;
  const point = anchor ? { x: anchor.x, y: anchor.y, in: 'page' } : thread ? { x: innerWidth / 2, y: innerHeight / 2, in: 'window' } : { x: w.draft!.x, y: w.draft!.y, in: 'window' };
  const close = () => (thread ? (w.popoverThreadId = null) : (w.draft = null));
  return html`<section class="popover" role="dialog" aria-label=${thread ? `Thread ${w.pinNumber(thread.id)}` : 'New comment'} data-x=${point.x} data-y=${point.y} data-in=${point.in}>
    <header style="display:flex;justify-content:space-between;align-items:center;padding:8px 12px;border-bottom:1px solid var(--_border)">
      <strong>${thread ? `#${w.pinNumber(thread.id)}${thread.resolved ? ' · resolved' : ''}` : 'New comment'}</strong>
      <button class="icon-btn" aria-label="Close" @click=${close}>${icons.close}</button>
    </header>
    ${thread
      ? renderThread(w, thread)
      : html`<div style="padding:10px 12px">
          <pulse-composer
            floating
            autofocus
            .client=${w.client!}
            .users=${w.directory.known()}
            .config=${w.config}
            placeholder="Add a comment…"
            submitLabel="Comment"
            @mention-query=${(e: CustomEvent<string>) => void w.directory.search(e.detail)}
            @submit=${(e: CustomEvent<ComposerSubmit>) => w.submitNewThread(e, w.draft!.position)}
            @cancel=${close}
          ></pulse-composer>
        </div>`}
  </section>`;
}

