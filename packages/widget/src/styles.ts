import { css, unsafeCSS } from 'lit';

/** Up to this window width (the phone layout) an open panel spans the window. */
export const PHONE_MAX_WIDTH = 480;

/** All widget styles. Theme with the --pulse-* custom properties on the <pulse-widget> element. */
export const styles = css`
  :host {
    --_accent: var(--pulse-accent, #6366f1);
    --_bg: var(--pulse-bg, #ffffff);
    --_fg: var(--pulse-fg, #111827);
    --_muted: var(--pulse-muted, #6b7280);
    --_border: var(--pulse-border, #e5e7eb);
    --_soft: var(--pulse-soft, #f3f4f6);
    --_danger: var(--pulse-danger, #dc2626);
    --_radius: var(--pulse-radius, 12px);
    --_shadow: var(--pulse-shadow, 0 10px 30px rgba(17, 24, 39, 0.18), 0 2px 6px rgba(17, 24, 39, 0.08));
    --_font: var(--pulse-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    --_z: var(--pulse-z-index, 2147483000);
    --_panel-width: var(--pulse-panel-width, 360px);
    all: initial;
    font-family: var(--_font);
    color: var(--_fg);
    font-size: 14px;
    line-height: 1.4;
  }
  :host([display='inline']) {
    display: inline-block;
  }
  * {
    box-sizing: border-box;
  }
  button {
    font: inherit;
    color: inherit;
    cursor: pointer;
  }
  button:focus-visible,
  textarea:focus-visible,
  input:focus-visible,
  [tabindex]:focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 2px;
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }

  /* ---------------------------------------------------------------- overlay */
  .overlay {
    position: fixed;
    inset: 0;
    pointer-events: none;
    z-index: calc(var(--_z) - 2);
    overflow: hidden;
  }
  .page-layer {
    position: absolute;
    top: 0;
    left: 0;
    width: 0;
    height: 0;
    will-change: transform;
  }
  .drawing {
    position: absolute;
    inset: 0;
    width: 100%;
    height: 100%;
  }
  .cursor {
    position: absolute;
    top: 0;
    left: 0;
    transition: transform 90ms linear, opacity 400ms ease;
    will-change: transform;
  }
  .cursor svg {
    fill: var(--user-color);
    stroke: #fff;
    stroke-width: 1.2px;
    filter: drop-shadow(0 1px 1px rgba(0, 0, 0, 0.3));
  }
  .cursor-label {
    position: absolute;
    left: 14px;
    top: 16px;
    background: var(--user-color);
    color: var(--user-text, #fff);
    font-size: 12px;
    font-weight: 600;
    padding: 2px 8px;
    border-radius: 999px;
    white-space: nowrap;
    max-width: 180px;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .cursor.idle {
    opacity: 0.15;
  }
  .hide-cursors .cursor {
    display: none;
  }
  .ripple {
    position: absolute;
    top: 0;
    left: 0;
  }
  .ripple::after {
    content: '';
    position: absolute;
    left: -20px;
    top: -20px;
    width: 40px;
    height: 40px;
    border-radius: 50%;
    border: 3px solid var(--user-color);
    animation: ripple 0.8s ease-out forwards;
  }
  @keyframes ripple {
    from {
      transform: scale(0.2);
      opacity: 1;
    }
    to {
      transform: scale(1.6);
      opacity: 0;
    }
  }
  .emoji-drop {
    position: absolute;
    font-size: 40px;
    transform: translate(-50%, -50%);
    animation: emoji 2.1s ease-out forwards;
  }
  @keyframes emoji {
    0% {
      transform: translate(-50%, -50%) scale(0.3);
      opacity: 0;
    }
    15% {
      transform: translate(-50%, -60%) scale(1.2);
      opacity: 1;
    }
    100% {
      transform: translate(-50%, -180%) scale(1);
      opacity: 0;
    }
  }

  /* ---------------------------------------------------------------- pins */
  .pins {
    position: fixed;
    inset: 0;
    pointer-events: none;
    z-index: calc(var(--_z) - 1);
    overflow: hidden;
  }
  .pins-page {
    position: absolute;
    top: 0;
    left: 0;
    will-change: transform;
  }
  .pin {
    position: absolute;
    pointer-events: auto;
    width: 28px;
    height: 28px;
    margin: -28px 0 0 -2px;
    border-radius: 14px 14px 14px 2px;
    border: 2px solid #fff;
    background: var(--user-color, var(--_accent));
    color: var(--user-text, #fff);
    font-size: 12px;
    font-weight: 700;
    box-shadow: 0 2px 6px rgba(0, 0, 0, 0.25);
    display: grid;
    place-items: center;
    padding: 0;
  }
  .pin.resolved {
    opacity: 0.5;
  }
  .pin.active {
    transform: scale(1.15);
    box-shadow: 0 0 0 3px color-mix(in srgb, var(--_accent) 35%, transparent), 0 2px 6px rgba(0, 0, 0, 0.25);
  }
  .catcher {
    position: fixed;
    inset: 0;
    z-index: calc(var(--_z) - 1);
    cursor: crosshair;
    pointer-events: auto;
  }
  .catcher.draw {
    cursor: crosshair;
    touch-action: none;
  }
  .mode-hint {
    position: fixed;
    top: 12px;
    left: 50%;
    transform: translateX(-50%);
    background: var(--_fg);
    color: var(--_bg);
    padding: 6px 14px;
    border-radius: 999px;
    font-size: 13px;
    z-index: var(--_z);
    pointer-events: none;
  }

  /* ---------------------------------------------------------------- toolbar */
  .dock {
    position: fixed;
    z-index: var(--_z);
    display: flex;
    flex-direction: column;
    gap: 10px;
    align-items: flex-end;
    max-width: calc(100vw - 24px);
  }
  .dock.bottom-right {
    right: 16px;
    bottom: 16px;
  }
  .dock.bottom-left {
    left: 16px;
    bottom: 16px;
    align-items: flex-start;
  }
  .dock.top-right {
    right: 16px;
    top: 16px;
    flex-direction: column-reverse;
  }
  .dock.top-left {
    left: 16px;
    top: 16px;
    flex-direction: column-reverse;
    align-items: flex-start;
  }
  :host([display='inline']) .dock {
    position: relative;
    inset: auto;
  }
  .toolbar {
    display: flex;
    align-items: center;
    gap: 2px;
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: 999px;
    padding: 4px 6px;
    box-shadow: var(--_shadow);
    max-width: 100%;
    overflow-x: auto;
    scrollbar-width: none;
  }
  .tool {
    position: relative;
    width: 36px;
    height: 36px;
    flex: none;
    border: none;
    background: transparent;
    border-radius: 50%;
    display: grid;
    place-items: center;
    color: var(--_muted);
  }
  .tool:hover {
    background: var(--_soft);
    color: var(--_fg);
  }
  .tool[aria-pressed='true'] {
    background: color-mix(in srgb, var(--_accent) 14%, transparent);
    color: var(--_accent);
  }
  .tool svg {
    width: 20px;
    height: 20px;
    fill: none;
    stroke: currentColor;
    stroke-width: 2;
    stroke-linecap: round;
    stroke-linejoin: round;
  }
  .badge {
    position: absolute;
    top: 2px;
    right: 2px;
    min-width: 16px;
    height: 16px;
    border-radius: 8px;
    background: var(--_danger);
    color: #fff;
    font-size: 10px;
    font-weight: 700;
    display: grid;
    place-items: center;
    padding: 0 4px;
  }
  .sep {
    width: 1px;
    height: 22px;
    background: var(--_border);
    margin: 0 4px;
    flex: none;
  }
  .avatars {
    display: flex;
    align-items: center;
    padding-left: 6px;
  }
  .avatar {
    width: 30px;
    height: 30px;
    border-radius: 50%;
    border: 2px solid var(--_bg);
    background: var(--user-color, var(--_muted));
    color: var(--user-text, #fff);
    font-size: 11px;
    font-weight: 700;
    display: grid;
    place-items: center;
    margin-left: -8px;
    position: relative;
    padding: 0;
    flex: none;
    overflow: visible;
  }
  .avatar img {
    width: 100%;
    height: 100%;
    border-radius: 50%;
    object-fit: cover;
  }
  .avatar.small {
    width: 24px;
    height: 24px;
    margin: 0;
    font-size: 10px;
    border: none;
  }
  .avatar .status {
    position: absolute;
    right: -2px;
    bottom: -2px;
    width: 10px;
    height: 10px;
    border-radius: 50%;
    border: 2px solid var(--_bg);
    background: #22c55e;
  }
  .avatar .status.idle {
    background: #f59e0b;
  }
  .avatar.following {
    box-shadow: 0 0 0 2px var(--_accent);
  }
  .overflow {
    background: var(--_soft);
    color: var(--_fg);
  }

  /* ---------------------------------------------------------------- panels */
  .panel {
    width: min(var(--_panel-width), calc(100vw - 24px));
    max-height: min(640px, calc(100vh - 90px));
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    box-shadow: var(--_shadow);
    display: flex;
    flex-direction: column;
    overflow: hidden;
    animation: slide 160ms ease-out;
  }
  @keyframes slide {
    from {
      opacity: 0;
      transform: translateY(8px);
    }
  }
  .panel header {
    display: flex;
    align-items: center;
    justify-content: space-between;
    padding: 12px 14px;
    border-bottom: 1px solid var(--_border);
    gap: 8px;
  }
  .panel h2 {
    font-size: 15px;
    margin: 0;
    font-weight: 650;
  }
  .panel .body {
    overflow-y: auto;
    flex: 1;
    padding: 8px 0;
  }
  .icon-btn {
    border: none;
    background: transparent;
    border-radius: 8px;
    padding: 4px 6px;
    color: var(--_muted);
    font-size: 13px;
  }
  .icon-btn:hover {
    background: var(--_soft);
    color: var(--_fg);
  }
  .icon-btn svg {
    width: 18px;
    height: 18px;
    fill: none;
    stroke: currentColor;
    stroke-width: 2;
    stroke-linecap: round;
    stroke-linejoin: round;
    vertical-align: middle;
  }
  .confirm {
    display: inline-flex;
    align-items: center;
    flex-wrap: wrap;
    gap: 2px;
    font-size: 13px;
  }
  .confirm > span {
    padding: 0 4px;
  }
  label.icon-btn {
    display: inline-grid;
    place-items: center;
    cursor: pointer;
  }
  .empty {
    color: var(--_muted);
    text-align: center;
    padding: 28px 20px;
    font-size: 13px;
  }
  .section-title {
    font-size: 11px;
    text-transform: uppercase;
    letter-spacing: 0.06em;
    color: var(--_muted);
    padding: 10px 14px 4px;
  }
  .thread-card {
    display: block;
    width: 100%;
    text-align: left;
    border: none;
    background: transparent;
    padding: 10px 14px;
    border-bottom: 1px solid var(--_soft);
  }
  .thread-card:hover {
    background: var(--_soft);
  }
  .thread-card .meta,
  .comment .meta {
    display: flex;
    align-items: center;
    gap: 8px;
    font-size: 12px;
    color: var(--_muted);
  }
  /* A long name gives way (cut short with an ellipsis), not the time and count after it. */
  .thread-card .meta > *,
  .comment .meta > * {
    flex: none;
    white-space: nowrap;
  }
  .thread-card .meta > .name,
  .comment .meta > .name {
    flex: 0 1 auto;
    min-width: 0;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .thread-card .preview {
    margin-top: 4px;
    overflow: hidden;
    text-overflow: ellipsis;
    display: -webkit-box;
    -webkit-line-clamp: 2;
    -webkit-box-orient: vertical;
    word-break: break-word;
  }
  .num {
    display: inline-grid;
    place-items: center;
    width: 20px;
    height: 20px;
    border-radius: 10px 10px 10px 2px;
    background: var(--_accent);
    color: #fff;
    font-size: 11px;
    font-weight: 700;
  }
  .name {
    font-weight: 600;
    color: var(--_fg);
  }
  .comment {
    padding: 10px 14px;
  }
  .comment + .comment {
    border-top: 1px solid var(--_soft);
  }
  .comment .text {
    margin-top: 4px;
    white-space: pre-wrap;
    word-break: break-word;
  }
  .mention {
    color: var(--_accent);
    font-weight: 600;
  }
  .edited {
    font-style: italic;
  }
  .actions {
    display: flex;
    gap: 4px;
    margin-top: 6px;
    flex-wrap: wrap;
    align-items: center;
  }
  .chip {
    border: 1px solid var(--_border);
    background: var(--_bg);
    border-radius: 999px;
    padding: 1px 8px;
    font-size: 13px;
  }
  .chip.mine {
    border-color: var(--_accent);
    background: color-mix(in srgb, var(--_accent) 10%, transparent);
  }
  .picker {
    display: flex;
    flex-wrap: wrap;
    gap: 2px;
    padding: 6px;
    border: 1px solid var(--_border);
    border-radius: 10px;
    background: var(--_bg);
    margin-top: 6px;
  }
  .picker button {
    border: none;
    background: transparent;
    font-size: 18px;
    width: 32px;
    height: 32px;
    border-radius: 8px;
  }
  .picker button:hover {
    background: var(--_soft);
  }
  .attachments {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
    margin-top: 6px;
  }
  .thumb {
    width: 84px;
    height: 84px;
    border-radius: 8px;
    object-fit: cover;
    border: 1px solid var(--_border);
    cursor: zoom-in;
    padding: 0;
    background: var(--_soft);
  }
  .thumb img {
    width: 100%;
    height: 100%;
    object-fit: cover;
    border-radius: 8px;
  }
  audio,
  video {
    max-width: 100%;
    border-radius: 8px;
  }
  audio {
    width: 100%;
    height: 36px;
  }
  .typing {
    font-size: 12px;
    color: var(--_muted);
    padding: 0 14px 6px;
    min-height: 18px;
  }

  /* ---------------------------------------------------------------- composer */
  .composer {
    border-top: 1px solid var(--_border);
    padding: 10px 12px;
    position: relative;
    background: var(--_bg);
  }
  .composer.floating {
    border: none;
    padding: 0;
  }
  .composer textarea {
    width: 100%;
    min-height: 40px;
    max-height: 160px;
    /* Grows with its text up to max-height (where supported), rather than scrolling its first lines out of view. */
    field-sizing: content;
    resize: vertical;
    border: 1px solid var(--_border);
    border-radius: 10px;
    padding: 8px 10px;
    font: inherit;
    color: var(--_fg);
    background: var(--_bg);
  }
  .composer.dragging textarea {
    border-color: var(--_accent);
    background: color-mix(in srgb, var(--_accent) 6%, transparent);
  }
  .composer .row {
    display: flex;
    align-items: center;
    gap: 4px;
    margin-top: 6px;
  }
  .composer .row .grow {
    flex: 1;
  }
  .primary {
    border: none;
    background: var(--_accent);
    color: #fff;
    border-radius: 8px;
    padding: 6px 14px;
    font-weight: 600;
  }
  .primary:disabled {
    opacity: 0.5;
    cursor: default;
  }
  .secondary {
    border: 1px solid var(--_border);
    background: var(--_bg);
    border-radius: 8px;
    padding: 5px 12px;
  }
  .danger {
    color: var(--_danger);
  }
  .suggestions {
    position: fixed;
    box-sizing: border-box;
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: 10px;
    box-shadow: var(--_shadow);
    list-style: none;
    margin: 0;
    padding: 4px;
    overflow-y: auto;
    z-index: 2;
  }
  .suggestions li {
    display: flex;
    align-items: center;
    gap: 8px;
    padding: 6px 8px;
    border-radius: 8px;
    cursor: pointer;
  }
  .suggestions li[aria-selected='true'] {
    background: var(--_soft);
  }
  .pending-files {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
    margin-top: 6px;
  }
  .pending-file {
    position: relative;
    width: 64px;
    height: 64px;
    border-radius: 8px;
    border: 1px solid var(--_border);
    background: var(--_soft);
    display: grid;
    place-items: center;
    font-size: 11px;
    overflow: hidden;
    color: var(--_muted);
  }
  .pending-file img {
    width: 100%;
    height: 100%;
    object-fit: cover;
  }
  .pending-file .bar {
    position: absolute;
    left: 0;
    bottom: 0;
    height: 4px;
    background: var(--_accent);
  }
  .pending-file .remove {
    position: absolute;
    top: 2px;
    right: 2px;
    border: none;
    background: rgba(0, 0, 0, 0.6);
    color: #fff;
    border-radius: 50%;
    width: 18px;
    height: 18px;
    font-size: 11px;
    padding: 0;
    line-height: 18px;
  }
  .pending-file.failed {
    border-color: var(--_danger);
    color: var(--_danger);
  }
  .recording {
    color: var(--_danger);
    font-size: 12px;
    font-weight: 600;
  }
  .error-text {
    color: var(--_danger);
    font-size: 12px;
    margin-top: 4px;
  }

  /* ---------------------------------------------------------------- popover, banners, lightbox */
  .popover {
    position: fixed;
    z-index: var(--_z);
    width: min(340px, calc(100vw - 24px));
    max-height: min(520px, calc(100vh - 24px));
    display: flex;
    flex-direction: column;
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    box-shadow: var(--_shadow);
    overflow: hidden;
  }
  .popover .body {
    overflow-y: auto;
  }
  .banner {
    position: fixed;
    top: 12px;
    left: 50%;
    transform: translateX(-50%);
    z-index: var(--_z);
    display: flex;
    align-items: center;
    gap: 10px;
    padding: 6px 8px 6px 14px;
    border-radius: 999px;
    background: var(--_fg);
    color: var(--_bg);
    font-size: 13px;
    box-shadow: var(--_shadow);
    max-width: calc(100vw - 24px);
  }
  .banner.warn {
    background: #92400e;
    color: #fff;
    padding-right: 14px;
  }
  .banner.refusal {
    background: #b91c1c;
    color: #fff;
  }
  .banner button {
    flex: none;
    white-space: nowrap;
    border: none;
    border-radius: 999px;
    padding: 3px 10px;
    background: var(--_bg);
    color: var(--_fg);
    font-weight: 600;
  }
  .status-card {
    width: min(320px, calc(100vw - 24px));
    background: var(--_bg);
    color: var(--_fg);
    border: 1px solid var(--_border);
    border-left: 4px solid #d97706;
    border-radius: var(--_radius);
    box-shadow: var(--_shadow);
    padding: 12px 14px;
    font-size: 13px;
    line-height: 1.45;
  }
  .status-head {
    display: flex;
    align-items: center;
    gap: 8px;
    font-size: 14px;
  }
  .status-head strong {
    flex: 1;
  }
  .status-icon {
    display: inline-grid;
    place-items: center;
    width: 20px;
    height: 20px;
    flex: none;
    border-radius: 50%;
    background: #fef3c7;
    color: #92400e;
    font-weight: 700;
    font-size: 12px;
  }
  .status-card p {
    margin: 6px 0 0;
  }
  .status-card .status-technical {
    color: var(--_muted);
    font-size: 12px;
    overflow-wrap: anywhere;
  }
  .status-card > button {
    margin-top: 10px;
  }
  .follow-frame {
    position: fixed;
    inset: 0;
    border: 3px solid var(--user-color, var(--_accent));
    pointer-events: none;
    z-index: calc(var(--_z) - 1);
  }
  .lightbox {
    position: fixed;
    inset: 0;
    z-index: calc(var(--_z) + 1);
    background: rgba(0, 0, 0, 0.8);
    display: grid;
    place-items: center;
    padding: 24px;
  }
  .lightbox img {
    max-width: 100%;
    max-height: 100%;
    border-radius: 8px;
  }
  .lightbox button {
    position: absolute;
    top: 16px;
    right: 16px;
  }
  .list-item {
    display: flex;
    gap: 10px;
    padding: 8px 14px;
    align-items: flex-start;
    width: 100%;
    text-align: left;
    border: none;
    background: transparent;
  }
  .list-item:hover {
    background: var(--_soft);
  }
  .list-item.unread {
    background: color-mix(in srgb, var(--_accent) 7%, transparent);
  }
  /* Not the avatars (also .small): their initials keep their own size and colour. */
  .list-item .small:not(.avatar) {
    font-size: 12px;
    color: var(--_muted);
  }
  /* A line of text, not a label and its switch. */
  .setting.small {
    display: block;
    font-size: 12px;
    color: var(--_muted);
    overflow-wrap: anywhere;
  }
  /* An id reads as one token: broken where the line ends, not at its hyphens. */
  .setting.small code {
    word-break: break-all;
  }
  .setting {
    display: flex;
    justify-content: space-between;
    align-items: center;
    padding: 8px 14px;
    gap: 12px;
  }
  .setting input {
    width: 18px;
    height: 18px;
    accent-color: var(--_accent);
  }
  .draw-tools {
    display: flex;
    gap: 6px;
    align-items: center;
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: 999px;
    padding: 4px 8px;
    box-shadow: var(--_shadow);
  }
  .swatch {
    width: 22px;
    height: 22px;
    border-radius: 50%;
    border: 2px solid var(--_bg);
    box-shadow: 0 0 0 1px var(--_border);
    padding: 0;
  }
  .swatch[aria-pressed='true'] {
    box-shadow: 0 0 0 2px var(--_fg);
  }
  .tabs {
    display: flex;
    gap: 4px;
  }
  .tabs button {
    border: none;
    background: transparent;
    padding: 4px 8px;
    border-radius: 6px;
    color: var(--_muted);
    font-size: 13px;
  }
  .tabs button[aria-selected='true'] {
    background: var(--_soft);
    color: var(--_fg);
    font-weight: 600;
  }
  @media (max-width: ${unsafeCSS(PHONE_MAX_WIDTH)}px) {
    .dock.bottom-right,
    .dock.bottom-left {
      left: 8px;
      right: 8px;
      bottom: 8px;
      align-items: stretch;
    }
    .panel {
      width: 100%;
      max-height: calc(100vh - 80px);
    }
    .toolbar {
      flex-wrap: wrap;
      justify-content: center;
      border-radius: 20px;
    }
  }
`;
