import { httpBase, PulseClient, type ClientThread, type ConnectionState, type PulseErrorEvent, type TokenProvider } from '@pulse/core';
import {
  DEFAULT_ENV_CONFIG,
  type ActivityEntry,
  type CursorPosition,
  type EnvConfig,
  type Notification,
  type PinPosition,
  type PresenceMember,
  type PulseUser,
} from '@pulse/protocol/lite';
import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { docSize, pinAt, resolvePin } from './anchor.ts';
import type { ComposerSubmit, PulseComposer } from './composer.ts';
import './composer.ts';
import { UserDirectory } from './directory.ts';
import { userColorStyle } from './format.ts';
import { Overlay } from './overlay.ts';
import { loadPreferences, savePreferences, DEFAULT_PREFERENCES, type Preferences } from './preferences.ts';
import { PHONE_MAX_WIDTH, styles } from './styles.ts';
import { forgetEmailSetting, popoverSpot, renderPanel, renderThreadPopover } from './views/panels.ts';
import { renderStartupProblem, type StartupProblem } from './views/status.ts';
import { renderToolbar } from './views/toolbar.ts';

/** A refused change, as its banner says it (see #showRefusal). */
interface Refusal {
  id: number;
  message: string;
  body: string | undefined;
}

export type Panel = 'threads' | 'notifications' | 'activity' | 'settings';
export type Mode = 'none' | 'pin' | 'draw' | 'emoji';
const VIEWPORT_THROTTLE_MS = 100;
const IDLE_AFTER_MS = 2 * 60_000;
const STROKE_CHUNK_MS = 350;
/** A thread popover squeezed above the dock keeps at least its header, a comment and the reply box. */
const MIN_POPOVER_HEIGHT = 200;
/**
 * A reconnection shorter than this shows no banner: a token refresh or a server restart is over
 * before anyone could read it, and a banner flashing in and out would only alarm.
 */
const RECONNECTING_BANNER_DELAY_MS = 1000;
/** A first connection not signed in after this long says so (the server is down, or the endpoint is wrong). */
const FIRST_CONNECT_PATIENCE_MS = 5000;
/** Missing attributes are reported after this long: frameworks often set them just after the element is created. */
const CONFIG_GRACE_MS = 1500;

/**
 * `<pulse-widget>`: live cursors, presence, pinned comment threads, drawing and an activity feed
 * for the page it is on. Attributes: `api-key`, `token`, `room`, `endpoint`, `position`, `display`.
 * Property `tokenProvider`: a function returning a fresh token, called on every (re)connect.
 */
export class PulseWidget extends LitElement {
  static override styles = styles;
  static override properties = {
    apiKey: { attribute: 'api-key' },
    token: {},
    room: {},
    endpoint: {},
    position: { reflect: true },
    display: { reflect: true },
    tokenProvider: { attribute: false },
    connection: { state: true },
    queued: { state: true },
    everConnected: { state: true },
    reconnectingShown: { state: true },
    refusals: { state: true },
    fatal: { state: true },
    problem: { state: true },
    problemDismissed: { state: true },
    user: { state: true },
    config: { state: true },
    threads: { state: true },
    presence: { state: true },
    notifications: { state: true },
    activity: { state: true },
    typing: { state: true },
    panel: { state: true },
    openThreadId: { state: true },
    popoverThreadId: { state: true },
    mode: { state: true },
    draft: { state: true },
    following: { state: true },
    prefs: { state: true },
    open: { state: true },
    lightbox: { state: true },
    editing: { state: true },
    confirmingDelete: { state: true },
    pickerFor: { state: true },
    emojiChoice: { state: true },
    drawColor: { state: true },
    drawWidth: { state: true },
    pinPositions: { state: true },
    directoryVersion: { state: true },
  };

  declare apiKey: string | null;
  declare token: string | null;
  declare room: string | null;
  declare endpoint: string | null;
  declare position: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left';
  declare display: 'floating' | 'inline';
  declare tokenProvider: TokenProvider | undefined;
  declare connection: ConnectionState;
  declare queued: number;
  declare everConnected: boolean;
  /** The connection has been away long enough to say so (see RECONNECTING_BANNER_DELAY_MS). */
  declare reconnectingShown: boolean;
  /**
   * Changes of the user's the server refused (the widget undid them): each said, with its text to
   * copy. Those with text stay until dismissed; one without text at a time, for a few seconds.
   */
  declare refusals: Refusal[];
  declare fatal: string;
  /** Why the widget is not signed in, once that lasts (shown in place of the toolbar). */
  declare problem: StartupProblem | null;
  declare problemDismissed: boolean;
  declare user: PulseUser | null;
  declare config: EnvConfig;
  declare threads: ClientThread[];
  declare presence: PresenceMember[];
  declare notifications: Notification[];
  declare activity: ActivityEntry[];
  declare typing: { userId: string; threadId: string }[];
  declare panel: Panel | null;
  declare openThreadId: string | null;
  declare popoverThreadId: string | null;
  declare mode: Mode;
  declare draft: { position: PinPosition; x: number; y: number } | null;
  declare following: string | null;
  declare prefs: Preferences;
  declare open: boolean;
  declare lightbox: string | null;
  declare editing: string | null;
  /** The comment or thread whose Delete was pressed once: the second press deletes. */
  declare confirmingDelete: string | null;
  declare pickerFor: string | null;
  declare emojiChoice: string;
  declare drawColor: string;
  declare drawWidth: number;
  declare pinPositions: Map<string, { x: number; y: number }>;
  declare directoryVersion: number;

  client: PulseClient | undefined;
  readonly directory = new UserDirectory();
  #overlay: Overlay | undefined;
  #unsubscribe: (() => void)[] = [];
  #lastViewport = 0;
  #programmaticScrollUntil = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #stroke: { points: [number, number][]; flushed: number; timer?: ReturnType<typeof setInterval> } | undefined;
  #layoutTimer: ReturnType<typeof setTimeout> | undefined;
  #bannerTimer: ReturnType<typeof setTimeout> | undefined;
  #problemTimer: ReturnType<typeof setTimeout> | undefined;
  /** Calls of the page's tokenProvider in flight: while one is, the server is not to blame for the wait. */
  #tokenCalls = 0;
  /** What had the focus when the open panel was opened (its toolbar button), given it back on close. */
  #panelOpener: HTMLElement | undefined;
  #resizeObserver: ResizeObserver | undefined;
  #mutationObserver: MutationObserver | undefined;
  #frame = 0;
  #updatedOnce = false;

  constructor() {
    super();
    this.apiKey = null;
    this.token = null;
    this.room = null;
    this.endpoint = null;
    this.position = 'bottom-right';
    this.display = 'floating';
    this.connection = 'disconnected';
    this.queued = 0;
    this.everConnected = false;
    this.reconnectingShown = false;
    this.refusals = [];
    this.fatal = '';
    this.problem = null;
    this.problemDismissed = false;
    this.config = { ...DEFAULT_ENV_CONFIG };
    this.#emptyRoomState();
    this.openThreadId = null;
    this.popoverThreadId = null;
    this.draft = null;
    this.following = null;
    this.prefs = { ...DEFAULT_PREFERENCES };
    this.open = false;
    this.lightbox = null;
    this.editing = null;
    this.confirmingDelete = null;
    this.pickerFor = null;
    this.emojiChoice = '🎉';
    this.drawColor = '#ef4444';
    this.drawWidth = 4;
    this.pinPositions = new Map();
    this.directoryVersion = 0;
    this.directory.onChange = () => this.directoryVersion++;
  }

  // ------------------------------------------------------------------ lifecycle

  override connectedCallback(): void {
    super.connectedCallback();
    document.addEventListener('pointermove', this.#onPointerMove, { passive: true });
    document.documentElement.addEventListener('mouseleave', this.#onPointerLeave);
    document.addEventListener('click', this.#onPageClick, true);
    document.addEventListener('keydown', this.#onKeydown);
    addEventListener('scroll', this.#onScroll, { passive: true });
    addEventListener('wheel', this.#onManualScroll, { passive: true });
    addEventListener('touchmove', this.#onManualScroll, { passive: true });
    addEventListener('resize', this.#scheduleLayout);
    document.addEventListener('visibilitychange', this.#onVisibility);
    addEventListener('hashchange', this.#onHashChange);
    // A widget moved in the page (detached and attached again) does not reopen a link's thread.
    if (location.hash !== hashActedOn) this.#linkedThread = threadOfHash();
    this.#resizeObserver = new ResizeObserver(this.#scheduleLayout);
    this.#resizeObserver.observe(document.documentElement);
    this.#mutationObserver = new MutationObserver(this.#scheduleLayout);
    this.#mutationObserver.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['class', 'style', 'hidden'] });
    this.#reconnect();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('pointermove', this.#onPointerMove);
    document.documentElement.removeEventListener('mouseleave', this.#onPointerLeave);
    document.removeEventListener('click', this.#onPageClick, true);
    document.removeEventListener('keydown', this.#onKeydown);
    removeEventListener('scroll', this.#onScroll);
    removeEventListener('wheel', this.#onManualScroll);
    removeEventListener('touchmove', this.#onManualScroll);
    removeEventListener('resize', this.#scheduleLayout);
    document.removeEventListener('visibilitychange', this.#onVisibility);
    removeEventListener('hashchange', this.#onHashChange);
    this.#resizeObserver?.disconnect();
    this.#mutationObserver?.disconnect();
    this.#teardown();
    this.#overlay?.destroy();
    this.#overlay = undefined;
  }

  override firstUpdated(): void {
    this.#overlay = new Overlay(this.renderRoot as unknown as HTMLElement, (id) => {
      const u = this.userInfo(id);
      return { name: u.name, color: u.color };
    });
    this.#applyVisibility();
    this.#overlay.setStrokes(this.client?.state.drawing ?? []);
  }

  /**
   * Attributes that change the connection are acted on before rendering: what that sets (the
   * client, the connection state, an emptied room) is part of this update, not a second one
   * scheduled from `updated` (which Lit warns about in development builds).
   */
  override willUpdate(changed: PropertyValues): void {
    // The first update carries the initial values, which connectedCallback already used.
    const first = !this.#updatedOnce;
    this.#updatedOnce = true;
    if (!first || !this.client) {
      if (!this.client || changed.has('apiKey') || changed.has('endpoint')) {
        // Another environment or server: nothing of the old room is shown while the new one is reached (or refused).
        if (this.client && (changed.has('apiKey') || changed.has('endpoint'))) this.#forgetRoom();
        if (['apiKey', 'endpoint', 'token', 'room', 'tokenProvider'].some((k) => changed.has(k))) this.#reconnect();
      } else if (changed.has('room') && this.room) {
        this.#resetRoomView();
        this.client.setRoom(this.room);
      } else if ((changed.has('token') || changed.has('tokenProvider')) && this.#tokenSource()) {
        this.client.setToken(this.#watchedToken()!);
      }
    }
  }

  override updated(changed: PropertyValues): void {
    this.#placePopover();
    if (['threads', 'prefs', 'config'].some((k) => changed.has(k))) this.#scheduleLayout();
    if (['prefs', 'config'].some((k) => changed.has(k))) this.#applyVisibility();
  }

  /**
   * Places a thread popover beside its pin (after each render, and as the page scrolls), clear of
   * the dock (the toolbar and the open panel): else on the pin's other side, beside the dock, or
   * above it.
   */
  #placePopover(): void {
    const popover = this.renderRoot.querySelector<HTMLElement>('.popover');
    if (!popover) return;
    const gap = 12;
    popover.style.maxHeight = '';
    // The pin's point in the window now (a placed pin's moves with the page's scroll).
    const inPage = popover.dataset.in === 'page';
    const pinX = Number(popover.dataset.x) - (inPage ? scrollX : 0);
    const natural = popoverSpot(pinX, Number(popover.dataset.y) - (inPage ? scrollY : 0));
    // A long thread may not fit below its pin: it moves up until its reply box is on screen.
    natural.top = Math.max(gap, Math.min(natural.top, innerHeight - gap - popover.offsetHeight));
    popover.style.left = `${natural.left}px`;
    popover.style.top = `${natural.top}px`;
    const panel = this.renderRoot.querySelector<HTMLElement>('.dock');
    if (!panel || this.display === 'inline') return;
    const p = panel.getBoundingClientRect();
    const r = popover.getBoundingClientRect();
    const clear = (left: number, top: number) => left + r.width + gap <= p.left || left >= p.right + gap || top + r.height + gap <= p.top || top >= p.bottom + gap;
    if (clear(natural.left, natural.top)) return;
    const candidates = [
      { left: pinX - 18 - r.width, top: natural.top },
      { left: p.left - gap - r.width, top: natural.top },
      { left: p.right + gap, top: natural.top },
      { left: natural.left, top: p.top - gap - r.height },
    ].filter((c) => c.left >= gap && c.left + r.width <= innerWidth - gap && c.top >= gap);
    const spot = candidates.find((c) => clear(c.left, c.top));
    if (spot) {
      popover.style.left = `${spot.left}px`;
      popover.style.top = `${spot.top}px`;
      return;
    }
    // Nowhere it fits whole (a phone): above the dock, shorter, its comments scrolling inside.
    if (p.top - 2 * gap >= MIN_POPOVER_HEIGHT) {
      popover.style.maxHeight = `${p.top - 2 * gap}px`;
      popover.style.top = `${gap}px`;
    }
  }

  #tokenSource(): string | TokenProvider | undefined {
    return this.tokenProvider ?? this.token ?? undefined;
  }

  /**
   * The token source, with a provider's failures noted for the status card. A provider that
   * resolves to no token (say `(await res.json()).token` of an error answer) counts as failing.
   */
  #watchedToken(): string | TokenProvider | undefined {
    const source = this.#tokenSource();
    if (typeof source !== 'function') return source;
    return async () => {
      this.#tokenCalls++;
      try {
        const token = await source();
        if (typeof token !== 'string' || token === '') throw new Error(`the tokenProvider returned ${token === '' ? 'an empty string' : String(token)} instead of a token`);
        if (this.problem?.kind === 'token') this.problem = null;
        return token;
      } catch (err) {
        if (!this.user) this.#setProblem({ kind: 'token', detail: err instanceof Error ? err.message : String(err) });
        throw err;
      } finally {
        this.#tokenCalls--;
      }
    };
  }

  #setProblem(problem: StartupProblem | null): void {
    if (JSON.stringify(problem) !== JSON.stringify(this.problem)) this.problemDismissed = false;
    this.problem = problem;
  }

  /** Hides the status card until the next problem. */
  dismissProblem(): void {
    this.problemDismissed = true;
  }

  /** Connects again now (the status card's "Try again"). */
  retryConnection(): void {
    this.#setProblem(null);
    this.#reconnect();
  }

  #resetRoomView(): void {
    this.openThreadId = null;
    this.popoverThreadId = null;
    this.draft = null;
    this.following = null;
    this.#overlay?.clearCursors();
  }

  /** Who is signed in and what the room holds: empty at the start, and for another environment or server. */
  #emptyRoomState(): void {
    this.user = null;
    this.threads = [];
    this.presence = [];
    this.notifications = [];
    this.activity = [];
    this.typing = [];
    this.panel = null;
    this.mode = 'none';
  }

  #forgetRoom(): void {
    this.#resetRoomView();
    this.#emptyRoomState();
    this.everConnected = false;
    this.#overlay?.setStrokes([]);
    forgetEmailSetting(this);
  }

  #teardown(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
    clearTimeout(this.#bannerTimer);
    clearTimeout(this.#refusalTimer);
    this.refusals = [];
    clearTimeout(this.#problemTimer);
    this.#problemTimer = undefined;
    this.reconnectingShown = false;
    this.client?.disconnect();
    this.client = undefined;
  }

  #reconnect(): void {
    this.#teardown();
    const token = this.#watchedToken();
    if (!this.isConnected) return;
    const missing = [
      ...(this.apiKey ? [] : ['api-key']),
      ...(this.room ? [] : ['room']),
      ...(this.endpoint ? [] : ['endpoint']),
      ...(token ? [] : ['a token (token attribute or tokenProvider)']),
    ];
    if (missing.length) {
      this.#setProblem(null);
      this.#problemTimer = setTimeout(() => this.#setProblem({ kind: 'config', missing }), CONFIG_GRACE_MS);
      return;
    }
    let client: PulseClient;
    try {
      client = new PulseClient({ apiKey: this.apiKey!, token: token!, room: this.room!, endpoint: this.endpoint! });
    } catch (err) {
      this.fatal = (err as Error).message;
      this.#setProblem({ kind: 'refused', code: 'invalid_options', detail: this.fatal });
      return;
    }
    const endpoint = this.endpoint!;
    this.#setProblem(this.problem?.kind === 'token' ? this.problem : null);
    // The server is to blame only once the page has handed over a token: until then, wait on.
    const patience = () => {
      if (this.user || (this.problem && this.problem.kind !== 'token')) return;
      if (this.#tokenCalls > 0 || this.problem) this.#problemTimer = setTimeout(patience, FIRST_CONNECT_PATIENCE_MS);
      else this.#setProblem({ kind: 'unreachable', endpoint });
    };
    this.#problemTimer = setTimeout(patience, FIRST_CONNECT_PATIENCE_MS);
    this.client = client;
    this.fatal = '';
    const s = client.state;
    this.directory.setTarget({ baseUrl: httpBase(endpoint), apiKey: this.apiKey!, token: () => client.currentToken() });
    this.#unsubscribe = [
      client.on('connection', (c) => {
        this.connection = c;
        if (c === 'connected') this.everConnected = true;
        this.#updateConnectionBanner();
      }),
      client.on('queue', (n) => (this.queued = n)),
      client.on('auth:error', (e) => {
        this.fatal = `${e.message} (${e.code})`;
        if (!this.user) this.#setProblem({ kind: 'refused', code: e.code, detail: e.message });
      }),
      client.on('error', (e) => {
        if (e.requestType) this.#showRefusal(e.message, e.request && 'body' in e.request ? String(e.request.body) : undefined);
        this.dispatchEvent(new CustomEvent('pulse-error', { detail: e, bubbles: true, composed: true }));
      }),
      s.on('auth', (user) => {
        this.user = user;
        this.fatal = '';
        this.#setProblem(null);
        this.directory.add([user]);
        this.prefs = loadPreferences(user.id);
        if (this.prefs.appearOffline) client.setAppearOffline(true);
        this.dispatchEvent(new CustomEvent('pulse-ready', { detail: { user }, bubbles: true, composed: true }));
      }),
      s.on('config', (config) => (this.config = config)),
      s.on('threads', (threads) => {
        this.#keepOrphanedDrafts(threads);
        this.threads = threads;
        this.#openLinkedThread();
      }),
      s.on('presence', (presence) => {
        this.presence = presence;
        this.directory.add(presence.map((p) => p.user));
        if (this.following && !presence.some((p) => p.userId === this.following)) this.following = null;
      }),
      s.on('notifications', (n) => (this.notifications = n)),
      s.on('activity-logs', (a) => (this.activity = a)),
      s.on('typing', () => (this.typing = s.typing)),
      s.on('cursor', ({ userId, position }) => this.#overlay?.setCursor(userId, position)),
      s.on('click', ({ userId, position }) => this.#overlay?.ripple(userId, position)),
      s.on('emoji-drop', ({ emoji, position }) => this.#overlay?.emoji(emoji, position)),
      s.on('viewport', (v) => this.#followViewport(v.userId, v)),
      s.on('drawing', (strokes) => this.#overlay?.setStrokes(strokes)),
      s.on('draw-stroke', () => this.#overlay?.setStrokes(s.drawing)),
      s.on('draw-clear', () => this.#overlay?.setStrokes([])),
    ];
    client.connect();
  }

  /** 'disconnected' shows at once; 'connecting' only once it has lasted a moment. */
  #updateConnectionBanner(): void {
    if (this.connection === 'connecting') {
      if (this.reconnectingShown || this.#bannerTimer !== undefined) return;
      this.#bannerTimer = setTimeout(() => {
        this.#bannerTimer = undefined;
        if (this.connection !== 'connected') this.reconnectingShown = true;
      }, RECONNECTING_BANNER_DELAY_MS);
      return;
    }
    clearTimeout(this.#bannerTimer);
    this.#bannerTimer = undefined;
    this.reconnectingShown = this.connection === 'disconnected';
  }

  // ------------------------------------------------------------------ helpers used by views

  userInfo(id: string): PulseUser {
    void this.directoryVersion;
    const present = this.presence.find((p) => p.userId === id)?.user;
    return present ?? this.directory.get(id) ?? { id, name: id, avatar: null, color: '#9ca3af' };
  }

  get pinnedThreads(): ClientThread[] {
    return this.threads.filter((t) => t.position);
  }

  pinNumber(threadId: string): number {
    return this.pinnedThreads.findIndex((t) => t.id === threadId) + 1;
  }

  setPrefs(change: Partial<Preferences>): void {
    this.prefs = { ...this.prefs, ...change };
    if (this.user) savePreferences(this.user.id, this.prefs);
    if ('appearOffline' in change) this.client?.setAppearOffline(this.prefs.appearOffline);
    if (change.shareCursor === false) this.client?.moveCursor(null);
  }

  togglePanel(panel: Panel): void {
    const opening = this.panel !== panel;
    if (opening && !this.panel) this.#panelOpener = ((this.renderRoot as ShadowRoot).activeElement as HTMLElement | null) ?? undefined;
    this.panel = opening ? panel : null;
    this.openThreadId = null;
    if (this.panel) void this.updateComplete.then(() => (this.renderRoot.querySelector('.panel [data-autofocus]') as HTMLElement | null)?.focus());
  }

  /** Closes the open panel (its × or Escape); the focus goes back to the toolbar button that opened it. */
  closePanel(): void {
    this.panel = null;
    const opener = this.#panelOpener;
    this.#panelOpener = undefined;
    if (opener) void this.updateComplete.then(() => opener.isConnected && opener.focus());
  }

  setMode(mode: Mode): void {
    this.mode = this.mode === mode ? 'none' : mode;
    this.draft = null;
    this.popoverThreadId = null;
    if (this.mode === 'pin') this.#makeRoomForPopover();
  }

  /**
   * On a phone an open panel takes the whole width: a pin's popover would lie under it, its
   * buttons out of reach. The panel makes way (the toolbar opens it again).
   */
  #makeRoomForPopover(): void {
    if (!this.panel || this.display === 'inline' || !matchMedia(`(max-width: ${PHONE_MAX_WIDTH}px)`).matches) return;
    this.panel = null;
    this.openThreadId = null;
    this.#panelOpener = undefined;
  }

  openThread(threadId: string, where: 'panel' | 'popover' = 'panel'): void {
    if (where === 'panel') {
      this.panel = 'threads';
      this.openThreadId = threadId;
      this.popoverThreadId = null;
    } else {
      this.popoverThreadId = this.popoverThreadId === threadId ? null : threadId;
      if (this.popoverThreadId) this.#makeRoomForPopover();
    }
    this.editing = null;
    this.confirmingDelete = null;
    this.pickerFor = null;
  }

  /**
   * A link to the page that names a thread (`#thread-<id>`, as in the notification emails'
   * emailLinkTemplate) opens it once the room's threads have it; once per link.
   */
  #linkedThread: string | null = null;

  #onHashChange = () => {
    this.#linkedThread = threadOfHash();
    this.#openLinkedThread();
  };

  #openLinkedThread(): void {
    const id = this.#linkedThread;
    if (!id || !this.threads.some((t) => t.id === id)) return;
    this.#linkedThread = null;
    hashActedOn = location.hash;
    this.openThread(id, 'panel');
  }

  follow(userId: string | null): void {
    this.following = this.following === userId ? null : userId;
  }

  submitNewThread(e: CustomEvent<ComposerSubmit>, position: PinPosition | null): void {
    if (!this.client) return;
    const { body, mentions, attachmentIds } = e.detail;
    const id = this.client.createThread(body, { mentions, position, attachmentIds });
    this.draft = null;
    this.mode = 'none';
    if (position) this.popoverThreadId = id;
    else this.openThreadId = id;
    // The box that was typed in is gone with the view it was in: the keyboard goes on in the new thread's reply box.
    void this.updateComplete.then(() => {
      const composers = this.renderRoot.querySelectorAll<HTMLElement>(`${position ? '.popover' : '.panel'} pulse-composer`);
      composers[composers.length - 1]?.focus();
    });
  }

  /** Opens a comment's reaction picker (its first emoji focused, as a menu's), or closes it. */
  togglePicker(commentId: string): void {
    if (this.pickerFor === commentId) return this.closePicker();
    this.pickerFor = commentId;
    void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`.comment[data-comment="${CSS.escape(commentId)}"] .picker button`)?.focus());
  }

  /** Closes the reaction picker; the focus goes back to the button that opened it. */
  closePicker(): void {
    const commentId = this.pickerFor;
    if (!commentId) return;
    this.pickerFor = null;
    void this.updateComplete.then(() =>
      this.renderRoot.querySelector<HTMLElement>(`.comment[data-comment="${CSS.escape(commentId)}"] button[aria-label="Add a reaction"]`)?.focus(),
    );
  }

  /** Threads this user deleted (or emptied): what was left in their boxes was given up knowingly. */
  #deletedHere = new Set<string>();

  /** Deletes a thread (its trash button, confirmed). */
  deleteThread(threadId: string): void {
    this.#deletedHere.add(threadId);
    this.client?.deleteThread(threadId);
  }

  /** Deletes a comment (its Delete, confirmed): a thread's only comment takes the thread with it. */
  deleteComment(thread: ClientThread, commentId: string): void {
    if (thread.comments.length === 1) this.#deletedHere.add(thread.id);
    this.client?.deleteComment(commentId);
  }

  /**
   * Someone else deleted a thread this user was writing in (a reply, an edit): its view goes, and
   * the text with it. Before that, the text is kept in a banner to copy, as a refused change's is.
   */
  #keepOrphanedDrafts(threads: ClientThread[]): void {
    const gone = [this.openThreadId, this.popoverThreadId].filter((id): id is string => id !== null && !threads.some((t) => t.id === id));
    for (const id of new Set(gone)) {
      if (this.#deletedHere.delete(id)) continue;
      const drafts = [...this.renderRoot.querySelectorAll<PulseComposer>('pulse-composer')]
        .filter((c) => c.threadId === id && c.unsaved)
        .map((c) => c.text.trim());
      if (drafts.length) this.#showRefusal('The thread you were writing in was deleted.', [...new Set(drafts)].join('\n\n'));
    }
  }

  // ------------------------------------------------------------------ page events

  #relative(pageX: number, pageY: number): CursorPosition {
    const { width, height } = docSize();
    return { x: Math.min(1, Math.max(0, pageX / width)), y: Math.min(1, Math.max(0, pageY / height)), pageX, pageY };
  }

  #isOwnEvent(e: Event): boolean {
    return e.composedPath().includes(this);
  }

  #onPointerMove = (e: PointerEvent): void => {
    this.#markActive();
    if (!this.client || !this.prefs.shareCursor || this.prefs.appearOffline || !this.config.showCursors) return;
    this.client.moveCursor(this.#relative(e.pageX, e.pageY));
  };

  #onPointerLeave = (): void => {
    this.client?.moveCursor(null);
  };

  #onPageClick = (e: MouseEvent): void => {
    if (this.#isOwnEvent(e) || !this.client || this.mode !== 'none') return;
    if (this.prefs.shareCursor && !this.prefs.appearOffline && this.config.showCursors) this.client.sendClick(this.#relative(e.pageX, e.pageY));
  };

  #onKeydown = (e: KeyboardEvent): void => {
    this.#markActive();
    if (e.key === 'Escape') {
      if (this.lightbox) this.lightbox = null;
      else if (this.following) this.following = null;
      else if (this.draft) this.draft = null;
      else if (this.mode !== 'none') this.mode = 'none';
      else if (this.pickerFor) this.closePicker();
      else if (this.popoverThreadId) this.popoverThreadId = null;
      else if (this.openThreadId) this.openThreadId = null;
      else if (this.panel) this.closePanel();
      return;
    }
    if (this.following && ['ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End', ' '].includes(e.key) && !this.#isOwnEvent(e)) this.following = null;
  };

  #onManualScroll = (e: Event): void => {
    if (this.following && !this.#isOwnEvent(e)) this.following = null;
  };

  #onScroll = (): void => {
    this.#markActive();
    if (!this.#frame) {
      this.#frame = requestAnimationFrame(() => {
        this.#frame = 0;
        const layer = this.renderRoot.querySelector('.pins-page') as HTMLElement | null;
        if (layer) layer.style.transform = `translate(${-scrollX}px, ${-scrollY}px)`;
        // An open thread's popover is fixed to the window: placed again, it goes along with its pin.
        if (this.popoverThreadId) this.#placePopover();
      });
    }
    const now = Date.now();
    if (now < this.#programmaticScrollUntil) return;
    if (now - this.#lastViewport < VIEWPORT_THROTTLE_MS) return;
    this.#lastViewport = now;
    this.#sendViewport();
  };

  #sendViewport(): void {
    if (!this.client || this.prefs.appearOffline) return;
    const el = document.documentElement;
    const maxY = Math.max(1, el.scrollHeight - innerHeight);
    const maxX = Math.max(1, el.scrollWidth - innerWidth);
    this.client.sendViewport({
      scrollX,
      scrollY,
      width: innerWidth,
      height: innerHeight,
      ratioX: Math.min(1, Math.max(0, scrollX / maxX)),
      ratioY: Math.min(1, Math.max(0, scrollY / maxY)),
    });
  }

  #followViewport(userId: string, v: { scrollX: number; scrollY: number; ratioY?: number; ratioX?: number }): void {
    if (userId !== this.following) return;
    const el = document.documentElement;
    const top = v.ratioY !== undefined ? v.ratioY * Math.max(0, el.scrollHeight - innerHeight) : v.scrollY;
    const left = v.ratioX !== undefined ? v.ratioX * Math.max(0, el.scrollWidth - innerWidth) : v.scrollX;
    this.#programmaticScrollUntil = Date.now() + 400;
    scrollTo({ top, left, behavior: 'auto' });
  }

  #onVisibility = (): void => {
    this.client?.updatePresence(document.hidden ? 'idle' : 'online');
    if (!document.hidden) this.#markActive();
  };

  #markActive(): void {
    if (!this.client) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.client?.updatePresence('idle'), IDLE_AFTER_MS);
    if (this.presence.find((p) => p.userId === this.user?.id)?.status === 'idle') this.client.updatePresence('online');
  }

  // ------------------------------------------------------------------ layout of pins and visibility

  #scheduleLayout = (): void => {
    clearTimeout(this.#layoutTimer);
    this.#layoutTimer = setTimeout(() => {
      const size = docSize();
      const next = new Map<string, { x: number; y: number }>();
      for (const t of this.pinnedThreads) next.set(t.id, resolvePin(t.position!, size));
      const same = next.size === this.pinPositions.size && [...next].every(([id, p]) => {
        const q = this.pinPositions.get(id);
        return q && Math.abs(q.x - p.x) < 0.5 && Math.abs(q.y - p.y) < 0.5;
      });
      if (!same) this.pinPositions = next;
    }, 50);
  };

  #applyVisibility(): void {
    if (!this.#overlay) return;
    this.#overlay.cursorsVisible = this.config.showCursors && this.prefs.showCursors;
    this.#overlay.drawingVisible = this.config.allowDrawing && this.prefs.showDrawing;
    if (!this.config.allowDrawing && this.mode === 'draw') this.mode = 'none';
  }

  // ------------------------------------------------------------------ modes: pin, draw, emoji

  #catcherClick = (e: MouseEvent): void => {
    const catcher = e.currentTarget as HTMLElement;
    if (this.mode === 'pin') {
      catcher.style.pointerEvents = 'none';
      const target = document.elementFromPoint(e.clientX, e.clientY);
      catcher.style.pointerEvents = '';
      const position = pinAt(e.pageX, e.pageY, target && !this.contains(target) ? target : null);
      this.draft = { position, x: e.clientX, y: e.clientY };
      this.mode = 'none';
      this.#makeRoomForPopover();
    } else if (this.mode === 'emoji' && this.client) {
      const p = this.#relative(e.pageX, e.pageY);
      this.client.sendEmoji(this.emojiChoice, p);
      this.#overlay?.emoji(this.emojiChoice, p);
      this.mode = 'none';
    }
  };

  #drawPoint(e: PointerEvent): [number, number] {
    const { width, height } = docSize();
    return [Math.min(1, Math.max(0, e.pageX / width)), Math.min(1, Math.max(0, e.pageY / height))];
  }

  #drawStart = (e: PointerEvent): void => {
    if (this.mode !== 'draw' || !this.client) return;
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
    this.#stroke = { points: [this.#drawPoint(e)], flushed: 0 };
    // Long strokes go out in pieces, so the others see them while they are being drawn.
    this.#stroke.timer = setInterval(() => this.#flushStroke(false), STROKE_CHUNK_MS);
    this.#overlay?.setLiveStroke({ points: this.#stroke.points, color: this.drawColor, width: this.drawWidth });
  };

  #drawMove = (e: PointerEvent): void => {
    if (!this.#stroke) return;
    const p = this.#drawPoint(e);
    const last = this.#stroke.points[this.#stroke.points.length - 1]!;
    if (Math.abs(p[0] - last[0]) + Math.abs(p[1] - last[1]) < 0.0008) return;
    this.#stroke.points.push(p);
    this.#overlay?.setLiveStroke({ points: this.#stroke.points, color: this.drawColor, width: this.drawWidth });
  };

  #drawEnd = (): void => {
    if (!this.#stroke) return;
    clearInterval(this.#stroke.timer);
    this.#flushStroke(true);
    this.#stroke = undefined;
    this.#overlay?.setLiveStroke(undefined);
  };

  #flushStroke(final: boolean): void {
    const stroke = this.#stroke;
    if (!stroke || !this.client) return;
    // Each piece starts where the previous ended, so the pieces join up.
    const piece = stroke.points.slice(Math.max(0, stroke.flushed - 1));
    if (piece.length < (final ? 1 : 2) || (!final && stroke.points.length - stroke.flushed < 2)) return;
    for (let i = 0; i < piece.length; i += 2000) this.client.drawStroke(piece.slice(i, i + 2000), this.drawColor, this.drawWidth);
    stroke.flushed = stroke.points.length;
    this.#overlay?.setStrokes(this.client.state.drawing);
  }

  // ------------------------------------------------------------------ render

  override render(): TemplateResult {
    // The toolbar appears once signed in; until then nothing can be done with it.
    const ready = Boolean(this.client && this.user);
    const inlineClosed = this.display === 'inline' && !this.open;
    return html`
      ${this.display === 'inline'
        ? html`<span @click=${() => (this.open = !this.open)}><slot></slot></span>`
        : nothing}
      ${this.#renderPins()}
      ${this.mode !== 'none'
        ? html`<div
              class="catcher ${this.mode === 'draw' ? 'draw' : ''}"
              @click=${this.#catcherClick}
              @pointerdown=${this.#drawStart}
              @pointermove=${this.#drawMove}
              @pointerup=${this.#drawEnd}
              @pointercancel=${this.#drawEnd}
            ></div>
            <div class="mode-hint" role="status">
              ${this.mode === 'pin' ? 'Click anywhere to comment · Esc to cancel' : this.mode === 'draw' ? 'Draw on the page · Esc to stop' : `Click to drop ${this.emojiChoice}`}
            </div>`
        : nothing}
      ${this.draft ? renderThreadPopover(this, null) : nothing}
      ${this.popoverThreadId ? renderThreadPopover(this, this.popoverThreadId) : nothing}
      ${this.#renderBanners()}
      ${inlineClosed || !ready
        ? !ready && this.problem && !this.problemDismissed
          ? html`<div class="dock ${this.position}">${renderStartupProblem(this, this.problem)}</div>`
          : nothing
        : html`<div class="dock ${this.position}">${this.panel ? renderPanel(this) : nothing} ${renderToolbar(this)}</div>`}
      ${this.lightbox
        ? html`<div class="lightbox" role="dialog" aria-label="Image" @click=${() => (this.lightbox = null)}>
            <img src=${this.lightbox} alt="Attachment" />
            <button class="secondary" aria-label="Close image" @click=${() => (this.lightbox = null)}>Close</button>
          </div>`
        : nothing}
    `;
  }

  #renderPins() {
    if (!this.prefs.showPins || this.pinnedThreads.length === 0) return nothing;
    return html`<div class="pins">
      <div class="pins-page" style="transform: translate(${-scrollX}px, ${-scrollY}px)">
        ${this.pinnedThreads.map((t, i) => {
          const at = this.pinPositions.get(t.id);
          if (!at) return nothing;
          const author = this.userInfo(t.comments[0]?.userId ?? '');
          return html`<button
            class="pin ${t.resolved ? 'resolved' : ''} ${this.popoverThreadId === t.id ? 'active' : ''}"
            style="left:${at.x}px;top:${at.y}px;${userColorStyle(author.color)}"
            aria-label="Comment ${i + 1} by ${author.name}${t.resolved ? ' (resolved)' : ''}"
            @click=${() => this.openThread(t.id, 'popover')}
          >
            ${i + 1}
          </button>`;
        })}
      </div>
    </div>`;
  }

  #refusalTimer: ReturnType<typeof setTimeout> | undefined;
  #nextRefusal = 1;

  /**
   * Says why a change vanished. One that carried text stays, with a button to copy it, until
   * dismissed: a later refusal (a reaction on the same deleted thread) never takes it away. One
   * without text replaces the previous such one and goes by itself.
   */
  #showRefusal(message: string, body: string | undefined): void {
    const refusal: Refusal = { id: this.#nextRefusal++, message, body: body || undefined };
    if (refusal.body) {
      this.refusals = [...this.refusals, refusal];
      return;
    }
    this.refusals = [...this.refusals.filter((r) => r.body), refusal];
    clearTimeout(this.#refusalTimer);
    this.#refusalTimer = setTimeout(() => (this.refusals = this.refusals.filter((r) => r.id !== refusal.id)), 8_000);
  }

  dismissRefusal(id: number): void {
    this.refusals = this.refusals.filter((r) => r.id !== id);
  }

  #renderBanners() {
    const followed = this.following ? this.userInfo(this.following) : null;
    const reconnecting = this.everConnected && this.connection !== 'connected' && this.reconnectingShown;
    return html`
      ${followed
        ? html`<div class="follow-frame" style=${userColorStyle(followed.color)}></div>
            <div class="banner" role="status">
              <span>Following <strong>${followed.name}</strong></span>
              <button @click=${() => (this.following = null)}>Stop</button>
            </div>`
        : nothing}
      ${reconnecting
        ? html`<div class="banner warn" role="status" style=${followed ? 'top:56px' : ''}>
            ${this.connection === 'connecting' ? 'Reconnecting…' : 'Disconnected'}${this.queued
              ? ` · ${this.queued} change${this.queued === 1 ? '' : 's'} waiting to sync`
              : ''}
          </div>`
        : nothing}
      ${this.refusals.map(
        (r, i) => html`<div class="banner refusal" role="alert" style="top:${12 + 44 * (i + [followed, reconnecting].filter(Boolean).length)}px">
          <span>Not saved: ${r.message}</span>
          ${r.body ? html`<button @click=${() => void navigator.clipboard?.writeText(r.body ?? '').catch(() => undefined)}>Copy your text</button>` : nothing}
          <button aria-label="Dismiss" @click=${() => this.dismissRefusal(r.id)}>×</button>
        </div>`,
      )}
    `;
  }
}

/** The page address fragment whose thread a widget last opened (see #openLinkedThread). */
let hashActedOn: string | null = null;

/** The thread id of a `#thread-<id>` fragment in the page's address. */
function threadOfHash(): string | null {
  const match = /^#thread-(.+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return null;
  }
}

if (!customElements.get('pulse-widget')) customElements.define('pulse-widget', PulseWidget);

declare global {
  interface HTMLElementTagNameMap {
    'pulse-widget': PulseWidget;
  }
  /** The widget's events (they bubble and cross shadow roots): typed for `addEventListener`. */
  interface HTMLElementEventMap {
    'pulse-ready': CustomEvent<{ user: PulseUser }>;
    'pulse-error': CustomEvent<PulseErrorEvent>;
  }
}
