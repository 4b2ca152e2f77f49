import type { PinPosition } from '@pulse/protocol/lite';

/** Document size: what relative (0–1) positions are relative to. */
export function docSize(): { width: number; height: number } {
  const el = document.documentElement;
  return { width: Math.max(el.scrollWidth, el.clientWidth, 1), height: Math.max(el.scrollHeight, el.clientHeight, 1) };
}

const clamp01 = (n: number) => Math.min(1, Math.max(0, n));

/** A short, stable CSS selector for an element: its id, or a path of tag:nth-of-type from the nearest id. */
export function selectorFor(el: Element): string | undefined {
  const parts: string[] = [];
  let node: Element | null = el;
  while (node && node !== document.documentElement && parts.length < 12) {
    if (node.id && /^[A-Za-z][\w-]*$/.test(node.id)) {
      parts.unshift(`#${node.id}`);
      break;
    }
    const tag = node.tagName.toLowerCase();
    const parent: Element | null = node.parentElement;
    if (!parent) break;
    const same = [...parent.children].filter((c) => c.tagName === node!.tagName);
    parts.unshift(same.length > 1 ? `${tag}:nth-of-type(${same.indexOf(node) + 1})` : tag);
    node = parent;
  }
  const selector = parts.join(' > ');
  return selector.length > 0 && selector.length <= 1000 ? selector : undefined;
}

/** The pin position for a click at page coordinates: relative to the page, and anchored to the element under it. */
export function pinAt(pageX: number, pageY: number, target: Element | null): PinPosition {
  const { width, height } = docSize();
  const position: PinPosition = { x: clamp01(pageX / width), y: clamp01(pageY / height), path: location.pathname.slice(0, 2000) };
  if (target && target !== document.body && target !== document.documentElement) {
    const selector = selectorFor(target);
    const rect = target.getBoundingClientRect();
    if (selector && rect.width > 0 && rect.height > 0) {
      position.selector = selector;
      position.offsetX = clamp01((pageX - (rect.left + scrollX)) / rect.width);
      position.offsetY = clamp01((pageY - (rect.top + scrollY)) / rect.height);
    }
  }
  return position;
}

/** Where a pin is now, in page coordinates: on its element if it is still there, else by percentage. */
export function resolvePin(position: PinPosition, size = docSize()): { x: number; y: number } {
  if (position.selector) {
    let el: Element | null = null;
    try {
      el = document.querySelector(position.selector);
    } catch {
      el = null;
    }
    if (el) {
      const rect = el.getBoundingClientRect();
      if (rect.width > 0 || rect.height > 0) {
        return { x: rect.left + scrollX + (position.offsetX ?? 0) * rect.width, y: rect.top + scrollY + (position.offsetY ?? 0) * rect.height };
      }
    }
  }
  return { x: position.x * size.width, y: position.y * size.height };
}
