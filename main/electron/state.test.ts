// The remembered state without Electron: pure merge/clamp/parse functions, then the file I/O on a temp folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_SIZE,
  MAX_RECENT,
  MIN_SIZE,
  addRecent,
  clampBounds,
  defaultState,
  loadStateFile,
  parseState,
  removeRecent,
  saveStateFile,
  serializeState,
  type AppState
} from './state.js';

const primary = { x: 0, y: 0, width: 1920, height: 1050 };
const right = { x: 1920, y: 0, width: 1280, height: 1000 };

describe('recent projects', () => {
  it('puts the newest first without duplicates', () => {
    expect(addRecent([], '/a/localmesh.yaml')).toEqual(['/a/localmesh.yaml']);
    expect(addRecent(['/a', '/b', '/c'], '/b')).toEqual(['/b', '/a', '/c']);
  });

  it(`keeps at most ${MAX_RECENT}`, () => {
    let list: string[] = [];
    for (let i = 0; i < 15; i++) list = addRecent(list, `/p${i}`);
    expect(list).toHaveLength(MAX_RECENT);
    expect(list[0]).toBe('/p14');
    expect(list.at(-1)).toBe('/p5');
  });

  it('removes one entry', () => {
    expect(removeRecent(['/a', '/b'], '/a')).toEqual(['/b']);
    expect(removeRecent(['/a'], '/x')).toEqual(['/a']);
  });
});

describe('clampBounds', () => {
  it('uses the default size, centred, when nothing was saved', () => {
    expect(clampBounds(undefined, [primary])).toEqual(DEFAULT_SIZE);
  });

  it('keeps saved bounds that are on a screen', () => {
    expect(clampBounds({ x: 100, y: 80, width: 1200, height: 800 }, [primary])).toEqual({
      x: 100,
      y: 80,
      width: 1200,
      height: 800
    });
    expect(clampBounds({ x: 2000, y: 50, width: 1000, height: 700 }, [primary, right])).toEqual({
      x: 2000,
      y: 50,
      width: 1000,
      height: 700
    });
  });

  it('drops the position when its monitor is gone (the OS centres the window)', () => {
    expect(clampBounds({ x: 2000, y: 50, width: 1000, height: 700 }, [primary])).toEqual({ width: 1000, height: 700 });
    expect(clampBounds({ x: 100, y: -500, width: 1000, height: 700 }, [primary])).toEqual({ width: 1000, height: 700 });
    // Only a sliver of the title bar left on screen counts as gone too.
    expect(clampBounds({ x: 1900, y: 10, width: 1000, height: 700 }, [primary])).toEqual({ width: 1000, height: 700 });
  });

  it('clamps the size between the minimum and the largest screen', () => {
    expect(clampBounds({ width: 100, height: 50 }, [primary])).toEqual(MIN_SIZE);
    expect(clampBounds({ x: 0, y: 0, width: 9000, height: 9000 }, [primary, right])).toEqual({
      x: 0,
      y: 0,
      width: 1920,
      height: 1050
    });
  });

  it('still returns sane bounds without any screen information', () => {
    expect(clampBounds({ x: 5, y: 5, width: 300, height: 200 }, [])).toEqual(MIN_SIZE);
  });
});

describe('parseState / serializeState', () => {
  it('round-trips', () => {
    const state: AppState = {
      version: 1,
      window: { bounds: { x: 10, y: 20, width: 1000, height: 700 }, maximized: true },
      recent: ['/a/localmesh.yaml', '/b/localmesh.yaml']
    };
    expect(parseState(serializeState(state))).toEqual({ state, ok: true });
  });

  it('reports text that is not a state object as not ok, with a fresh state', () => {
    for (const text of ['', '{', 'null', '[]', '"x"', '42', '{"recent": [1, 2']) {
      expect(parseState(text)).toEqual({ state: defaultState(), ok: false });
    }
  });

  it('repairs wrong fields instead of giving up', () => {
    const { state, ok } = parseState(
      JSON.stringify({
        version: 7,
        recent: ['/a', 3, '', '/a', null, '/b'],
        window: { bounds: { x: 'left', y: 2, width: 900.4, height: 600 }, maximized: 'yes' },
        extra: true
      })
    );
    expect(ok).toBe(true);
    expect(state).toEqual({
      version: 1,
      recent: ['/a', '/b'],
      window: { bounds: { width: 900, height: 600 }, maximized: false }
    });
    expect(parseState(JSON.stringify({ window: { bounds: { width: -1, height: 5 } } })).state.window).toBeUndefined();
  });

  it('never writes more than the allowed number of recent projects', () => {
    const many = Array.from({ length: 20 }, (_, i) => `/p${i}`);
    expect(JSON.parse(serializeState({ version: 1, recent: many })).recent).toHaveLength(MAX_RECENT);
    expect(parseState(JSON.stringify({ recent: many })).state.recent).toHaveLength(MAX_RECENT);
  });
});

describe('state file', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-state-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('starts fresh when there is no file, and saves into a folder that does not exist yet', () => {
    const file = path.join(tmp(), 'userData', 'state.json');
    expect(loadStateFile(file)).toEqual(defaultState());
    const state: AppState = { version: 1, recent: ['/x/localmesh.yaml'] };
    saveStateFile(file, state);
    expect(loadStateFile(file)).toEqual(state);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['state.json']); // no temp file left behind
  });

  it('replaces the file atomically (rename over the old one)', () => {
    const file = path.join(tmp(), 'state.json');
    saveStateFile(file, { version: 1, recent: ['/one'] });
    const before = fs.statSync(file).ino;
    saveStateFile(file, { version: 1, recent: ['/two', '/one'] });
    expect(fs.statSync(file).ino).not.toBe(before);
    expect(loadStateFile(file).recent).toEqual(['/two', '/one']);
  });

  it('keeps a corrupt file as .bak and starts fresh', () => {
    const file = path.join(tmp(), 'state.json');
    fs.writeFileSync(file, '{"recent": ["/a"');
    const logged: string[] = [];
    expect(loadStateFile(file, (l) => logged.push(l))).toEqual(defaultState());
    expect(fs.readFileSync(`${file}.bak`, 'utf8')).toBe('{"recent": ["/a"');
    expect(fs.existsSync(file)).toBe(false);
    expect(logged).toEqual([expect.stringContaining('starting fresh')]);
    saveStateFile(file, { version: 1, recent: ['/b'] });
    expect(loadStateFile(file).recent).toEqual(['/b']);
  });
});
