import { html, nothing, type TemplateResult } from 'lit';
import type { PulseWidget } from '../pulse-widget.ts';

/**
 * Why the widget is not (yet) signed in, when that lasts: shown where the toolbar would be, so
 * neither the people on the page nor the developer embedding it face an empty page with a
 * message in the console.
 */
export type StartupProblem =
  /** Attributes the widget needs are missing (it never tried to connect). */
  | { kind: 'config'; missing: string[] }
  /** The page's tokenProvider threw or returned no token. */
  | { kind: 'token'; detail: string }
  /** No answer from the server yet (it is down, or the endpoint is wrong); still retrying. */
  | { kind: 'unreachable'; endpoint: string }
  /** The server refused the key or the token (auth:error): no retry. */
  | { kind: 'refused'; code: string; detail: string };

const REFUSALS: Record<string, string> = {
  invalid_api_key: "The server does not know this page's key (the api-key attribute).",
  key_revoked: "This page's key (the api-key attribute) has been revoked.",
  invalid_token: 'The sign-in token was not accepted.',
  token_expired: 'The sign-in token has expired.',
  room_full: 'This page has reached its limit of people at once.',
  invalid_options: "The widget's attributes are not valid.",
};

function describe(problem: StartupProblem): { title: string; body: string; technical?: string; retry: boolean } {
  switch (problem.kind) {
    case 'config':
      return {
        title: 'Comments are not set up on this page',
        body: `<pulse-widget> is missing ${problem.missing.join(', ')}.`,
        technical: 'It needs the api-key, room and endpoint attributes and a token (the token attribute or the tokenProvider property).',
        retry: false,
      };
    case 'token':
      return {
        title: "Couldn't sign you in to comments",
        body: 'This page could not get a sign-in token. Are you signed in? Trying again shortly.',
        technical: problem.detail,
        retry: true,
      };
    case 'unreachable':
      return {
        title: "Can't reach the comments server",
        body: 'Still trying to connect. Check your connection, or try again in a moment.',
        technical: `No answer from ${problem.endpoint}.`,
        retry: true,
      };
    case 'refused':
      return {
        title: 'Comments are unavailable',
        body: REFUSALS[problem.code] ?? 'The server refused to sign you in.',
        technical: `${problem.detail} (${problem.code})`,
        retry: true,
      };
  }
}

/** The card in the dock, while the widget cannot sign in. */
export function renderStartupProblem(w: PulseWidget, problem: StartupProblem): TemplateResult {
  const { title, body, technical, retry } = describe(problem);
  return html`<div class="status-card" role="alert" aria-live="assertive">
    <div class="status-head">
      <span class="status-icon" aria-hidden="true">!</span>
      <strong>${title}</strong>
      <button class="icon-btn status-close" aria-label="Hide this message" title="Hide" @click=${() => w.dismissProblem()}>×</button>
    </div>
    <p>${body}</p>
    ${technical ? html`<p class="status-technical">${technical}</p>` : nothing}
    ${retry ? html`<button class="secondary" @click=${() => w.retryConnection()}>Try again</button>` : nothing}
  </div>`;
}
