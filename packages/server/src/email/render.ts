import { splitMentions } from '@pulse/protocol';
import type { EmailItem } from '../store/types.ts';

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * The link back to a thread: the template with {roomId} and {threadId} filled in (URL-encoded), or
 * none. None either for an id of `.` or `..`: in a path it would climb the template's path, and
 * URL parsers read `%2E` as a dot there too.
 */
export function threadLink(template: string, roomId: string, threadId: string): string | undefined {
  if (!template || [roomId, threadId].some((id) => id === '.' || id === '..')) return undefined;
  return template.replaceAll('{roomId}', encodeURIComponent(roomId)).replaceAll('{threadId}', encodeURIComponent(threadId));
}

const what = (item: EmailItem) => (item.kind === 'mention' ? `${item.actorName} mentioned you` : `${item.actorName} replied`);

/**
 * One email for a user's unread notifications, grouped by thread with each comment's text.
 * User content (names, comments, room ids) is escaped in the HTML part; the text part is plain.
 */
export function renderEmail(recipientName: string, items: EmailItem[], linkTemplate: string, unsubscribeUrl: string, names = new Map<string, string>()): RenderedEmail {
  // Mentions read as in the widget: "@Bob Smith", not "@bob" (`names`: id → name of the users mentioned).
  const bodyOf = (item: EmailItem) => splitMentions(item.body, names).map((p) => p.text).join('');
  const threads = new Map<string, EmailItem[]>();
  for (const item of items) threads.set(item.threadId, [...(threads.get(item.threadId) ?? []), item]);
  const subject =
    items.length === 1 ? `${what(items[0]!)} in ${items[0]!.roomId}` : `${items.length} new mentions and replies in ${threads.size} thread${threads.size > 1 ? 's' : ''}`;

  // New since the last email: notifications emailed before and still unread are not counted again.
  const intro = `You have ${items.length} new unread notification${items.length > 1 ? 's' : ''}:`;
  const text: string[] = [`Hi ${recipientName},`, '', intro, ''];
  const html: string[] = [`<p>Hi ${escapeHtml(recipientName)},</p>`, `<p>${intro}</p>`];
  for (const [threadId, list] of threads) {
    const first = list[0]!;
    const link = threadLink(linkTemplate, first.roomId, threadId);
    text.push(`In ${first.roomId}${link ? ` (${link})` : ''}:`);
    html.push(`<h3 style="font:600 15px sans-serif;margin:18px 0 6px">In ${escapeHtml(first.roomId)}</h3>`);
    for (const item of list) {
      text.push(`  ${what(item)}:`, ...bodyOf(item).split('\n').map((l) => `    ${l}`));
      html.push(
        `<p style="margin:6px 0 2px;color:#555">${escapeHtml(what(item))}:</p>`,
        `<blockquote style="margin:0 0 8px;padding:6px 10px;border-left:3px solid #ccc;white-space:pre-wrap">${escapeHtml(bodyOf(item))}</blockquote>`,
      );
    }
    if (link) html.push(`<p><a href="${escapeHtml(link)}">Open the thread</a></p>`);
    text.push('');
  }
  text.push('--', `You get this because you were mentioned or replied to while away. Unsubscribe: ${unsubscribeUrl}`);
  html.push(
    `<p style="margin-top:24px;color:#888;font-size:12px">You get this because you were mentioned or replied to while away. <a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a></p>`,
  );
  return { subject, text: text.join('\n'), html: `<!doctype html><html><body style="font:14px/1.5 sans-serif">${html.join('\n')}</body></html>` };
}
