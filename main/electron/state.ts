/**
 * What the app remembers between runs: the window's bounds and maximized flag, and up to 10 recent projects.
 * Kept as JSON in `<userData>/state.json` (main.ts passes the path), written atomically (temp file + rename).
 * A corrupt file is moved aside to `state.json.bak` and the app starts fresh.
 *
 * Everything except loadStateFile/saveStateFile is a pure function of plain values; none of it imports electron.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Window bounds; x/y are absent when the window should be centred by the OS. */
export interface Bounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
}

export interface WindowState {
  bounds: Bounds;
  maximized: boolean;
}

export interface AppState {
  version: 1;
  window?: WindowState;
  /** Absolute paths of mesh files, most recent first. */
  recent: string[];
}

export const MAX_RECENT = 10;
export const DEFAULT_SIZE = { width: 1280, height: 820 };
export const MIN_SIZE = { width: 720, height: 480 };
/** How much of the title bar must stay on some screen for saved x/y to be kept. */
const MIN_VISIBLE = { width: 120, height: 40 };

export function defaultState(): AppState {
  return { version: 1, recent: [] };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * state.json text → state. `ok: false` means the text is not a state file at all (bad JSON, not an object):
 * the caller keeps a backup. Fields that are merely wrong are dropped or repaired silently.
 */
export function parseState(text: string): { state: AppState; ok: boolean } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { state: defaultState(), ok: false };
  }
  if (!isObject(raw)) return { state: defaultState(), ok: false };
  const state = defaultState();
  if (Array.isArray(raw.recent)) {
    for (const entry of raw.recent) {
      if (typeof entry === 'string' && entry !== '') state.recent = addRecentLast(state.recent, entry);
    }
  }
  const win = raw.window;
  if (isObject(win) && isObject(win.bounds)) {
    const b = win.bounds;
    if (isFiniteNumber(b.width) && isFiniteNumber(b.height) && b.width > 0 && b.height > 0) {
      const bounds: Bounds = { width: Math.round(b.width), height: Math.round(b.height) };
      if (isFiniteNumber(b.x) && isFiniteNumber(b.y)) {
        bounds.x = Math.round(b.x);
        bounds.y = Math.round(b.y);
      }
      state.window = { bounds, maximized: win.maximized === true };
    }
  }
  return { state, ok: true };
}

export function serializeState(state: AppState): string {
  const out: AppState = { version: 1, recent: state.recent.slice(0, MAX_RECENT) };
  if (state.window) out.window = state.window;
  return JSON.stringify(out, null, 2) + '\n';
}

/** Put `file` first, without duplicates, keeping at most `max` entries. */
export function addRecent(recent: readonly string[], file: string, max = MAX_RECENT): string[] {
  return [file, ...recent.filter((r) => r !== file)].slice(0, max);
}

export function removeRecent(recent: readonly string[], file: string): string[] {
  return recent.filter((r) => r !== file);
}

function addRecentLast(recent: string[], file: string): string[] {
  return recent.includes(file) || recent.length >= MAX_RECENT ? recent : [...recent, file];
}

/**
 * Saved bounds → bounds to open the window with, given the screens' work areas now (first = primary):
 * sizes are clamped to [MIN_SIZE, largest work area]; the position is kept only when the window's top strip is
 * still visible on some screen (a monitor may have been unplugged), else left out so the OS centres the window.
 */
export function clampBounds(saved: Bounds | undefined, workAreas: readonly Rect[]): Bounds {
  const maxW = Math.max(MIN_SIZE.width, ...workAreas.map((a) => a.width));
  const maxH = Math.max(MIN_SIZE.height, ...workAreas.map((a) => a.height));
  const want = saved ?? DEFAULT_SIZE;
  const bounds: Bounds = {
    width: clamp(Math.round(want.width), MIN_SIZE.width, maxW),
    height: clamp(Math.round(want.height), MIN_SIZE.height, maxH)
  };
  if (saved?.x !== undefined && saved.y !== undefined) {
    const titleBar: Rect = { x: saved.x, y: saved.y, width: bounds.width, height: MIN_VISIBLE.height };
    const visible = workAreas.some((area) => {
      const overlap = intersect(titleBar, area);
      return overlap !== undefined && overlap.width >= MIN_VISIBLE.width && overlap.height >= MIN_VISIBLE.height / 2;
    });
    if (visible) {
      bounds.x = Math.round(saved.x);
      bounds.y = Math.round(saved.y);
    }
  }
  return bounds;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(Math.max(n, min), max);
}

function intersect(a: Rect, b: Rect): Rect | undefined {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const right = Math.min(a.x + a.width, b.x + b.width);
  const bottom = Math.min(a.y + a.height, b.y + b.height);
  return right > x && bottom > y ? { x, y, width: right - x, height: bottom - y } : undefined;
}

/** Read the state file. Missing → fresh state; corrupt → moved to `<file>.bak`, fresh state. Never throws. */
export function loadStateFile(file: string, log: (line: string) => void = () => undefined): AppState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log(`cannot read ${file}: ${(e as Error).message}`);
    return defaultState();
  }
  const { state, ok } = parseState(text);
  if (!ok) {
    log(`${file} is not valid state JSON; starting fresh (the old file is kept as ${path.basename(file)}.bak)`);
    try {
      fs.renameSync(file, `${file}.bak`);
    } catch (e) {
      log(`cannot keep a backup of ${file}: ${(e as Error).message}`);
    }
  }
  return state;
}

/** Write the state file atomically: a reader sees the old file or the new one, never half of one. */
export function saveStateFile(file: string, state: AppState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, serializeState(state), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
