import type { PulseClient } from '@pulse/core';
import { isBlankText, mentionCandidates, splitMentions, type Attachment, type EnvConfig, type PulseUser } from '@pulse/protocol/lite';
import { html, LitElement, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { formatDuration, initials, userColorStyle } from './format.ts';
import { icons } from './icons.ts';
import { storedMentions } from './mention-labels.ts';
import { rankMentions } from './mention-rank.ts';
import { styles } from './styles.ts';

/** The @mention list's size in px (the CSS of `.suggestions li` gives a row this height). */
const SUGGESTIONS_MAX_HEIGHT = 200;
const SUGGESTION_ROW_HEIGHT = 34;
/** Between the text and the list. */
const GAP = 4;

interface PendingFile {
  key: number;
  name: string;
  preview?: string;
  progress: number;
  attachment?: Attachment;
  error?: string;
}

export interface ComposerSubmit {
  body: string;
  mentions: string[];
  attachmentIds: string[];
}

let nextKey = 1;

/**
 * The comment composer: text with @mention autocomplete, attachments (pick, drop, paste,
 * record) with previews and upload progress. Emits `submit` with the body, the mentioned
 * user ids and the uploaded attachment ids.
 */
export class PulseComposer extends LitElement {
  static override styles = styles;
  static override properties = {
    client: { attribute: false },
    users: { attribute: false },
    config: { attribute: false },
    threadId: { attribute: false },
    placeholder: {},
    submitLabel: {},
    initial: {},
    floating: { type: Boolean },
    text: { state: true },
    files: { state: true },
    query: { state: true },
    selected: { state: true },
    recording: { state: true },
    elapsed: { state: true },
    error: { state: true },
    dragging: { state: true },
  };

  declare client: PulseClient;
  declare users: PulseUser[];
  declare config: EnvConfig;
  declare threadId: string | undefined;
  declare placeholder: string;
  declare submitLabel: string;
  declare initial: string;
  declare floating: boolean;
  declare text: string;
  declare files: PendingFile[];
  declare query: string | null;
  declare selected: number;
  declare recording: 'audio' | 'video' | null;
  declare elapsed: number;
  declare error: string;
  declare dragging: boolean;
  #recorder: MediaRecorder | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** A picked mention as the box shows it ("@Bob Smith") → the user id the comment stores ("@bob"). */
  readonly #labels = new Map<string, string>();
  /** `initial` as the box showed it. */
  #shownInitial = '';

  constructor() {
    super();
    this.users = [];
    this.placeholder = 'Write a comment…';
    this.submitLabel = 'Send';
    this.initial = '';
    this.floating = false;
    this.text = '';
    this.files = [];
    this.query = null;
    this.selected = 0;
    this.recording = null;
    this.elapsed = 0;
    this.error = '';
    this.dragging = false;
  }

  override willUpdate(changed: PropertyValues): void {
    if (changed.has('initial') && this.initial) this.text = this.#shownInitial = this.#shown(this.initial);
  }

  /** Whether the box holds text of its own (not empty, not the comment being edited as it was). */
  get unsaved(): boolean {
    return this.text.trim() !== '' && this.text !== this.#shownInitial;
  }

  /** A stored body as the box shows it: each @id of a known user as @Name. */
  #shown(body: string): string {
    const names = new Map(this.users.map((u) => [u.id, u.name]));
    let shown = '';
    for (const p of splitMentions(body, names)) shown += p.mention ? (this.#label(p.mention, p.text.slice(1), shown) ?? `@${p.mention}`) : p.text;
    return shown;
  }

  /**
   * "@name", now standing for `id` in `text`; undefined (the id is written instead) when it stands
   * for someone else there already, or reads as another user's id ("@alex" for a user named alex
   * whose id is sam, beside a user whose id is alex).
   */
  #label(id: string, name: string, text: string): string | undefined {
    const label = `@${name}`;
    const taken = this.#labels.get(label);
    if (taken !== undefined && taken !== id && text.includes(label)) return undefined;
    if (name !== id && this.users.some((u) => u.id === name)) return undefined;
    this.#labels.set(label, id);
    return label;
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#stopRecording(true);
    if (this.threadId) this.client?.stopTyping(this.threadId);
  }

  /** With the standard `autofocus` attribute (a new comment, an edit), typing goes here at once, not to the page. */
  override firstUpdated(): void {
    if (this.autofocus) this.renderRoot.querySelector('textarea')?.focus({ preventScroll: true });
  }

  override focus(): void {
    void this.updateComplete.then(() => this.renderRoot.querySelector('textarea')?.focus());
  }

  get #suggestions(): PulseUser[] {
    if (this.query === null || !this.config?.allowMentions) return [];
    return rankMentions(this.users, this.query, this.client.state.user?.id, 6);
  }

  /**
   * Where the suggestions go: fixed to the viewport, so the popover or panel around the composer
   * cannot clip them, below the text when they fit there (the header and its close button stay
   * visible), else above it, where there is more room.
   */
  #suggestionsPlace(count: number): string {
    const area = this.renderRoot.querySelector('textarea');
    if (!area) return '';
    const r = area.getBoundingClientRect();
    const wanted = Math.min(SUGGESTIONS_MAX_HEIGHT, count * SUGGESTION_ROW_HEIGHT + 10);
    const below = window.innerHeight - r.bottom - GAP;
    const above = r.top - GAP;
    const side = below >= wanted || below >= above ? `top:${r.bottom + GAP}px;max-height:${Math.min(SUGGESTIONS_MAX_HEIGHT, below)}px` : `bottom:${window.innerHeight - r.top + GAP}px;max-height:${Math.min(SUGGESTIONS_MAX_HEIGHT, above)}px`;
    return `left:${r.left}px;width:${r.width}px;${side}`;
  }

  #onInput(e: Event): void {
    const area = e.target as HTMLTextAreaElement;
    this.text = area.value;
    this.error = '';
    const before = area.value.slice(0, area.selectionStart);
    const m = /(^|\s)@([\w.\-:|]*)$/.exec(before);
    this.query = m ? m[2]! : null;
    this.selected = 0;
    if (this.query !== null) this.dispatchEvent(new CustomEvent('mention-query', { detail: this.query, bubbles: true, composed: true }));
    if (this.threadId && !isBlankText(this.text)) this.client.startTyping(this.threadId);
  }

  #insertMention(user: PulseUser): void {
    const area = this.renderRoot.querySelector('textarea')!;
    const before = this.text.slice(0, area.selectionStart).replace(/@([\w.\-:|]*)$/, `${this.#label(user.id, user.name, this.text) ?? `@${user.id}`} `);
    const after = this.text.slice(area.selectionStart);
    this.text = before + after;
    this.query = null;
    void this.updateComplete.then(() => {
      area.focus();
      area.setSelectionRange(before.length, before.length);
    });
  }

  #onKeydown(e: KeyboardEvent): void {
    const list = this.#suggestions;
    if (list.length > 0) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        this.selected = (this.selected + (e.key === 'ArrowDown' ? 1 : list.length - 1)) % list.length;
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        this.#insertMention(list[this.selected]!);
        return;
      }
      if (e.key === 'Escape') {
        e.stopPropagation();
        this.query = null;
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.#submit();
    }
    if (e.key === 'Escape') this.dispatchEvent(new CustomEvent('cancel', { bubbles: true, composed: true }));
  }

  #submit(): void {
    const body = storedMentions(this.text, this.#labels).trim();
    const uploading = this.files.some((f) => !f.attachment && !f.error);
    if (uploading) {
      this.error = 'Wait for the uploads to finish.';
      return;
    }
    const attachmentIds = this.files.filter((f) => f.attachment).map((f) => f.attachment!.id);
    if (this.files.some((f) => f.error)) {
      this.error = 'Remove the failed upload first.';
      return;
    }
    if (isBlankText(body) && attachmentIds.length === 0) return;
    // "@bob." mentions bob: the candidates include each token without its trailing punctuation.
    const mentions = this.config?.allowMentions ? [...mentionCandidates(body)].filter((id) => this.users.some((u) => u.id === id)) : [];
    this.dispatchEvent(new CustomEvent<ComposerSubmit>('submit', { detail: { body, mentions, attachmentIds }, bubbles: true, composed: true }));
    if (this.threadId) this.client.stopTyping(this.threadId);
    this.text = '';
    this.#labels.clear();
    this.files = [];
    this.error = '';
  }

  #allowed(file: Blob): string | null {
    const c = this.config;
    const type = file.type.split('/')[0];
    if (type === 'image' && !c.allowImages) return 'Images are turned off here.';
    if (type === 'audio' && !c.allowAudio) return 'Audio is turned off here.';
    if (type === 'video' && !c.allowVideo) return 'Video is turned off here.';
    if (file.size > c.maxFileSizeMb * 1024 * 1024) return `Files are limited to ${c.maxFileSizeMb} MB.`;
    if (this.files.filter((f) => !f.error).length >= c.maxAttachmentsPerComment) return `At most ${c.maxAttachmentsPerComment} attachments per comment.`;
    return null;
  }

  get #canAttach(): boolean {
    const c = this.config;
    return Boolean(c && c.maxAttachmentsPerComment > 0 && (c.allowImages || c.allowAudio || c.allowVideo));
  }

  addFiles(list: Iterable<File>): void {
    for (const file of list) {
      const problem = this.#allowed(file);
      if (problem) {
        this.error = problem;
        continue;
      }
      const pending: PendingFile = {
        key: nextKey++,
        name: file.name || file.type,
        progress: 0,
        ...(file.type.startsWith('image/') ? { preview: URL.createObjectURL(file) } : {}),
      };
      this.files = [...this.files, pending];
      const update = (change: Partial<PendingFile>) => {
        this.files = this.files.map((f) => (f.key === pending.key ? { ...f, ...change } : f));
      };
      this.client
        .upload(file, { onProgress: ({ loaded, total }) => update({ progress: total ? loaded / total : 0 }) })
        .then((attachment) => update({ attachment, progress: 1 }))
        .catch((err: Error & { code?: string }) => update({ error: err.message || 'Upload failed' }));
    }
  }

  #remove(key: number): void {
    const f = this.files.find((x) => x.key === key);
    if (f?.preview) URL.revokeObjectURL(f.preview);
    // Uploaded already: deleted on the server too, where it would count towards the user's waiting uploads.
    if (f?.attachment) this.client.deleteUpload(f.attachment.id).catch(() => {});
    this.files = this.files.filter((x) => x.key !== key);
  }

  #onPick(e: Event): void {
    const input = e.target as HTMLInputElement;
    if (input.files) this.addFiles(input.files);
    input.value = '';
  }

  #onPaste(e: ClipboardEvent): void {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length && this.#canAttach) {
      e.preventDefault();
      this.addFiles(files);
    }
  }

  #onDrop(e: DragEvent): void {
    e.preventDefault();
    this.dragging = false;
    if (e.dataTransfer?.files.length && this.#canAttach) this.addFiles(e.dataTransfer.files);
  }

  async #record(kind: 'audio' | 'video'): Promise<void> {
    if (this.recording) return this.#stopRecording(false);
    try {
      const stream = await navigator.mediaDevices.getUserMedia(kind === 'video' ? { audio: true, video: { width: 640, height: 480 } } : { audio: true });
      const mimeType = kind === 'video' ? 'video/webm' : 'audio/webm';
      const recorder = new MediaRecorder(stream, MediaRecorder.isTypeSupported(mimeType) ? { mimeType } : {});
      const chunks: Blob[] = [];
      recorder.ondataavailable = (ev) => ev.data.size && chunks.push(ev.data);
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        if ((recorder as MediaRecorder & { discard?: boolean }).discard) return;
        const blob = new Blob(chunks, { type: recorder.mimeType || mimeType });
        const name = `${kind === 'video' ? 'video' : 'voice'}-${new Date().toISOString().slice(11, 19).replace(/:/g, '')}.webm`;
        this.addFiles([new File([blob], name, { type: blob.type })]);
      };
      recorder.start(250);
      this.#recorder = recorder;
      this.recording = kind;
      this.elapsed = 0;
      const started = Date.now();
      this.#timer = setInterval(() => (this.elapsed = Date.now() - started), 250);
    } catch (err) {
      this.error = `Could not record: ${(err as Error).message}`;
    }
  }

  #stopRecording(discard: boolean): void {
    clearInterval(this.#timer);
    if (this.#recorder && this.#recorder.state !== 'inactive') {
      (this.#recorder as MediaRecorder & { discard?: boolean }).discard = discard;
      this.#recorder.stop();
    }
    this.#recorder = undefined;
    this.recording = null;
  }

  override render(): TemplateResult {
    const c = this.config;
    const suggestions = this.#suggestions;
    const busy = this.files.some((f) => !f.attachment && !f.error);
    return html`<div
      class="composer ${this.floating ? 'floating' : ''} ${this.dragging ? 'dragging' : ''}"
      @dragover=${(e: DragEvent) => {
        if (!this.#canAttach) return;
        e.preventDefault();
        this.dragging = true;
      }}
      @dragleave=${() => (this.dragging = false)}
      @drop=${this.#onDrop}
    >
      ${suggestions.length
        ? html`<ul class="suggestions" role="listbox" aria-label="Mention someone" style=${this.#suggestionsPlace(suggestions.length)}>
            ${suggestions.map(
              (u, i) =>
                html`<li role="option" aria-selected=${i === this.selected} @mousedown=${(e: Event) => (e.preventDefault(), this.#insertMention(u))}>
                  <span class="avatar small" style=${userColorStyle(u.color)}>${initials(u.name)}</span><span class="name">${u.name}</span
                  ><span class="small">@${u.id}</span>
                </li>`,
            )}
          </ul>`
        : nothing}
      <label class="sr-only" for="text">${this.placeholder}</label>
      <textarea
        id="text"
        dir="auto"
        .value=${this.text}
        placeholder=${this.placeholder}
        @input=${this.#onInput}
        @keydown=${this.#onKeydown}
        @paste=${this.#onPaste}
        @blur=${() => setTimeout(() => (this.query = null), 150)}
      ></textarea>
      ${this.files.length
        ? html`<div class="pending-files">
            ${this.files.map(
              (f) => html`<div class="pending-file ${f.error ? 'failed' : ''}" title=${f.error ?? f.name}>
                ${f.preview ? html`<img src=${f.preview} alt=${f.name} />` : html`<span>${f.error ? '!' : f.name.split('.').pop()}</span>`}
                ${!f.attachment && !f.error ? html`<div class="bar" style="width:${Math.round(f.progress * 100)}%"></div>` : nothing}
                <button class="remove" aria-label="Remove ${f.name}" @click=${() => this.#remove(f.key)}>×</button>
              </div>`,
            )}
          </div>`
        : nothing}
      ${this.files.map((f) => (f.error ? html`<div class="error-text upload-error" role="alert">Couldn't attach ${f.name}: ${f.error}</div>` : nothing))}
      ${this.error ? html`<div class="error-text" role="alert">${this.error}</div>` : nothing}
      <div class="row">
        ${this.#canAttach
          ? html`<label class="icon-btn" title="Attach a file" aria-label="Attach a file" tabindex="0" @keydown=${(e: KeyboardEvent) =>
                e.key === 'Enter' && (e.currentTarget as HTMLElement).querySelector('input')?.click()}>
                ${icons.attach}<input type="file" hidden multiple accept=${[c.allowImages ? 'image/*' : '', c.allowAudio ? 'audio/*' : '', c.allowVideo ? 'video/*' : ''].filter(Boolean).join(',')} @change=${this.#onPick}
              /></label>
              ${c.allowAudio && typeof MediaRecorder !== 'undefined'
                ? html`<button class="icon-btn" aria-label=${this.recording === 'audio' ? 'Stop recording' : 'Record audio'} @click=${() => this.#record('audio')} ?disabled=${this.recording === 'video'}>
                    ${this.recording === 'audio' ? icons.stop : icons.mic}
                  </button>`
                : nothing}
              ${c.allowVideo && typeof MediaRecorder !== 'undefined'
                ? html`<button class="icon-btn" aria-label=${this.recording === 'video' ? 'Stop recording' : 'Record video'} @click=${() => this.#record('video')} ?disabled=${this.recording === 'audio'}>
                    ${this.recording === 'video' ? icons.stop : icons.video}
                  </button>`
                : nothing}`
          : nothing}
        ${this.recording ? html`<span class="recording" role="status">● Recording ${formatDuration(this.elapsed)}</span>` : nothing}
        <span class="grow"></span>
        <slot name="extra"></slot>
        <button class="primary" ?disabled=${busy || (isBlankText(this.text) && !this.files.some((f) => f.attachment))} @click=${this.#submit}>${this.submitLabel}</button>
      </div>
    </div>`;
  }
}

if (!customElements.get('pulse-composer')) customElements.define('pulse-composer', PulseComposer);
