/** Per-user widget preferences, remembered in localStorage. */
export interface Preferences {
  showCursors: boolean;
  showPins: boolean;
  showDrawing: boolean;
  shareCursor: boolean;
  appearOffline: boolean;
}

export const DEFAULT_PREFERENCES: Preferences = {
  showCursors: true,
  showPins: true,
  showDrawing: true,
  shareCursor: true,
  appearOffline: false,
};

const key = (userId: string) => `pulse:prefs:${userId}`;

export function loadPreferences(userId: string): Preferences {
  try {
    const raw = localStorage.getItem(key(userId));
    return raw ? { ...DEFAULT_PREFERENCES, ...(JSON.parse(raw) as Partial<Preferences>) } : { ...DEFAULT_PREFERENCES };
  } catch {
    return { ...DEFAULT_PREFERENCES };
  }
}

export function savePreferences(userId: string, prefs: Preferences): void {
  try {
    localStorage.setItem(key(userId), JSON.stringify(prefs));
  } catch {
    // private mode or storage full: preferences last for this page only
  }
}
