import { html, nothing } from 'lit';
import { initials, userColorStyle } from '../format.ts';
import { icons } from '../icons.ts';
import type { Panel, PulseWidget } from '../pulse-widget.ts';

const MAX_AVATARS = 4;
export const DROP_EMOJI = ['🎉', '👍', '❤️', '🔥', '👀', '🚀'];

/** `counts`: what the badge counts, read out with it ("3 unread", "2 open"). */
function tool(label: string, icon: unknown, pressed: boolean, onClick: () => void, badge = 0, counts = 'unread') {
  return html`<button class="tool" aria-label=${label} title=${label} aria-pressed=${pressed ? 'true' : 'false'} @click=${onClick}>
    ${icon}${badge > 0 ? html`<span class="badge" aria-label="${badge} ${counts}">${badge > 99 ? '99+' : badge}</span>` : nothing}
  </button>`;
}

/** The pill-shaped toolbar: presence avatars, modes and panels. */
export function renderToolbar(w: PulseWidget) {
  const c = w.config;
  const others = w.presence.filter((p) => p.userId !== w.user?.id);
  const shown = others.slice(0, MAX_AVATARS);
  const overflow = others.length - shown.length;
  const unread = w.notifications.filter((n) => !n.read).length;
  const openThreads = w.threads.filter((t) => !t.resolved).length;
  const panelTool = (panel: Panel, label: string, icon: unknown, badge = 0, counts?: string) => tool(label, icon, w.panel === panel, () => w.togglePanel(panel), badge, counts);
  return html`
    ${w.mode === 'draw'
      ? html`<div class="draw-tools" role="toolbar" aria-label="Drawing tools">
          ${['#ef4444', '#f59e0b', '#10b981', '#3b82f6', '#111827'].map(
            (color) =>
              html`<button class="swatch" style="background:${color}" aria-label="Colour ${color}" aria-pressed=${w.drawColor === color ? 'true' : 'false'} @click=${() => (w.drawColor = color)}></button>`,
          )}
          <label class="small"><span class="sr-only">Line width</span><input type="range" min="2" max="16" .value=${String(w.drawWidth)} @input=${(e: Event) => (w.drawWidth = Number((e.target as HTMLInputElement).value))} /></label>
          <button class="icon-btn" @click=${() => w.client?.clearDrawing()}>Clear all</button>
        </div>`
      : nothing}
    ${w.mode === 'emoji'
      ? html`<div class="draw-tools" role="toolbar" aria-label="Emoji to drop">
          ${DROP_EMOJI.map((e) => html`<button class="icon-btn" aria-pressed=${w.emojiChoice === e ? 'true' : 'false'} @click=${() => (w.emojiChoice = e)}>${e}</button>`)}
        </div>`
      : nothing}
    <div class="toolbar" role="toolbar" aria-label="Collaboration">
      ${c.showPresence && others.length
        ? html`<div class="avatars" role="group" aria-label="${others.length} other${others.length === 1 ? '' : 's'} here">
              ${shown.map(
                (p) => html`<button
                  class="avatar ${w.following === p.userId ? 'following' : ''}"
                  style=${userColorStyle(p.user.color)}
                  title="${p.user.name} (${p.status}) · click to follow"
                  aria-label="${p.user.name}, ${p.status}. ${w.following === p.userId ? 'Stop following' : 'Follow'}"
                  @click=${() => w.follow(p.userId)}
                >
                  ${p.user.avatar ? html`<img src=${p.user.avatar} alt="" />` : initials(p.user.name)}<span class="status ${p.status}"></span>
                </button>`,
              )}
              ${overflow > 0 ? html`<span class="avatar overflow" role="img" aria-label="and ${overflow} more: ${others.slice(MAX_AVATARS).map((p) => p.user.name).join(', ')}" title=${others.slice(MAX_AVATARS).map((p) => p.user.name).join(', ')}>+${overflow}</span>` : nothing}
            </div>
            <span class="sep"></span>`
        : nothing}
      ${tool('Add a comment', icons.pin, w.mode === 'pin', () => w.setMode('pin'))}
      ${panelTool('threads', 'Comments', icons.comments, openThreads, 'open')}
      ${c.showCursors ? tool(w.prefs.showCursors ? 'Hide cursors' : 'Show cursors', icons.cursor, w.prefs.showCursors, () => w.setPrefs({ showCursors: !w.prefs.showCursors })) : nothing}
      ${c.allowDrawing ? tool('Draw', icons.draw, w.mode === 'draw', () => w.setMode('draw')) : nothing}
      ${tool('Drop an emoji', icons.emoji, w.mode === 'emoji', () => w.setMode('emoji'))}
      ${panelTool('activity', 'Activity', icons.activity)} ${panelTool('notifications', 'Notifications', icons.bell, unread)}
      ${panelTool('settings', 'Settings', icons.settings)}
    </div>
  `;
}
