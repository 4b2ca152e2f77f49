import { CURSOR_IDLE_FADE_MS, type CursorPosition, type DrawStroke } from '@pulse/protocol/lite';
import { docSize } from './anchor.ts';
import { setUserColor } from './format.ts';

export interface UserLook {
  name: string;
  color: string;
}

interface CursorView {
  el: HTMLElement;
  fade: ReturnType<typeof setTimeout> | undefined;
  /** The look last drawn: a cursor moves 20 times a second, its colour and name seldom change. */
  shown?: UserLook;
}

type Point = [number, number];

/**
 * The layers drawn over the host page: other users' cursors, click ripples, emoji drops and the
 * drawing. Updated imperatively (cursors arrive many times a second; re-rendering a template
 * for each would be wasteful). Everything is placed in page coordinates inside a layer that
 * follows the page's scroll.
 */
export class Overlay {
  readonly root: HTMLElement;
  /** Children are placed in page coordinates. */
  readonly page: HTMLElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #cursors = new Map<string, CursorView>();
  #strokes: DrawStroke[] = [];
  #live: { points: Point[]; color: string; width: number } | undefined;
  #frame = 0;
  #look: (userId: string) => UserLook;

  constructor(host: HTMLElement, look: (userId: string) => UserLook) {
    this.#look = look;
    this.root = document.createElement('div');
    this.root.className = 'overlay';
    this.#canvas = document.createElement('canvas');
    this.#canvas.className = 'drawing';
    this.#canvas.setAttribute('aria-hidden', 'true');
    this.page = document.createElement('div');
    this.page.className = 'page-layer';
    this.root.append(this.#canvas, this.page);
    host.append(this.root);
    addEventListener('scroll', this.#schedule, { passive: true });
    addEventListener('resize', this.#schedule, { passive: true });
    this.#schedule();
  }

  destroy(): void {
    removeEventListener('scroll', this.#schedule);
    removeEventListener('resize', this.#schedule);
    cancelAnimationFrame(this.#frame);
    for (const c of this.#cursors.values()) clearTimeout(c.fade);
    this.root.remove();
  }

  #schedule = (): void => {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.page.style.transform = `translate(${-scrollX}px, ${-scrollY}px)`;
      this.#redraw();
    });
  };

  /** Page coordinates of a relative position. */
  static toPage(p: { x: number; y: number }): { x: number; y: number } {
    const { width, height } = docSize();
    return { x: p.x * width, y: p.y * height };
  }

  // ----------------------------------------------------------------- cursors

  setCursor(userId: string, position: CursorPosition | null): void {
    let view = this.#cursors.get(userId);
    if (!position) {
      if (view) {
        clearTimeout(view.fade);
        view.el.remove();
        this.#cursors.delete(userId);
      }
      return;
    }
    const look = this.#look(userId);
    if (!view) {
      const el = document.createElement('div');
      el.className = 'cursor';
      el.innerHTML = '<svg width="18" height="18" viewBox="0 0 18 18" aria-hidden="true"><path d="M2 1l13 7-6 1.6L6.4 16z"/></svg><span class="cursor-label"></span>';
      this.page.append(el);
      view = { el, fade: undefined };
      this.#cursors.set(userId, view);
    }
    if (view.shown?.color !== look.color || view.shown.name !== look.name) {
      setUserColor(view.el, look.color);
      (view.el.querySelector('.cursor-label') as HTMLElement).textContent = look.name;
      view.shown = look;
    }
    const { x, y } = Overlay.toPage(position);
    view.el.style.transform = `translate(${x}px, ${y}px)`;
    view.el.classList.remove('idle');
    clearTimeout(view.fade);
    const el = view.el;
    view.fade = setTimeout(() => el.classList.add('idle'), CURSOR_IDLE_FADE_MS);
  }

  clearCursors(): void {
    for (const id of [...this.#cursors.keys()]) this.setCursor(id, null);
  }

  set cursorsVisible(visible: boolean) {
    this.page.classList.toggle('hide-cursors', !visible);
  }

  // ----------------------------------------------------------------- one-shot effects

  ripple(userId: string, position: CursorPosition): void {
    const el = document.createElement('div');
    el.className = 'ripple';
    setUserColor(el, this.#look(userId).color);
    const { x, y } = Overlay.toPage(position);
    el.style.transform = `translate(${x}px, ${y}px)`;
    this.page.append(el);
    setTimeout(() => el.remove(), 900);
  }

  emoji(emoji: string, position: CursorPosition): void {
    const el = document.createElement('div');
    el.className = 'emoji-drop';
    el.textContent = emoji;
    const { x, y } = Overlay.toPage(position);
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
    this.page.append(el);
    setTimeout(() => el.remove(), 2200);
  }

  // ----------------------------------------------------------------- drawing

  setStrokes(strokes: DrawStroke[]): void {
    this.#strokes = strokes;
    this.#schedule();
  }

  set drawingVisible(visible: boolean) {
    this.#canvas.hidden = !visible;
  }

  /** The stroke being drawn locally (relative points), shown before it is sent. */
  setLiveStroke(stroke: { points: Point[]; color: string; width: number } | undefined): void {
    this.#live = stroke;
    this.#schedule();
  }

  #redraw(): void {
    const canvas = this.#canvas;
    const dpr = devicePixelRatio || 1;
    const w = innerWidth;
    const h = innerHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const { width, height } = docSize();
    const draw = (points: Point[], color: string, lineWidth: number) => {
      if (points.length === 0) return;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = lineWidth;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      const at = (p: Point): Point => [p[0] * width - scrollX, p[1] * height - scrollY];
      const first = at(points[0]!);
      if (points.length === 1) {
        ctx.beginPath();
        ctx.arc(first[0], first[1], lineWidth / 2, 0, Math.PI * 2);
        ctx.fill();
        return;
      }
      // Quadratic curves through the midpoints: smooth lines from sampled pointer positions.
      ctx.beginPath();
      ctx.moveTo(first[0], first[1]);
      for (let i = 1; i < points.length - 1; i++) {
        const a = at(points[i]!);
        const b = at(points[i + 1]!);
        ctx.quadraticCurveTo(a[0], a[1], (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
      }
      const last = at(points[points.length - 1]!);
      ctx.lineTo(last[0], last[1]);
      ctx.stroke();
    };
    for (const s of this.#strokes) draw(s.points, s.color, s.width);
    if (this.#live) draw(this.#live.points, this.#live.color, this.#live.width);
  }
}
