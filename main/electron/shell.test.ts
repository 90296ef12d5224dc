// The shell's pure decisions: URL checks, picking the project, the seed, the menu's shortcuts. No Electron.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { menuTemplate, recentLabel, type MenuActions } from './menu.js';
import { exampleMeshFile, initialProject, meshFileFor, seedFrom } from './project.js';
import { isAllowedRendererRequest, isOwnPage, isSafeExternalUrl } from './security.js';
import type { MenuItemConstructorOptions } from 'electron';

const INDEX = pathToFileURL('/opt/localmesh/resources/app.asar/out/renderer/index.html').href;

describe('security', () => {
  it('trusts our index.html, whatever its hash or query, and nothing else', () => {
    expect(isOwnPage(INDEX, INDEX)).toBe(true);
    expect(isOwnPage(`${INDEX}#/traffic`, INDEX)).toBe(true);
    expect(isOwnPage(`${INDEX}?x=1`, INDEX)).toBe(true);
    for (const url of [
      'https://evil.example/',
      'http://127.0.0.1:15000/',
      'file:///opt/localmesh/resources/app.asar/out/renderer/other.html',
      'file:///tmp/index.html',
      'file://evil.example/opt/localmesh/resources/app.asar/out/renderer/index.html',
      'about:blank',
      'devtools://devtools/bundled/inspector.html',
      '',
      'not a url'
    ]) {
      expect(isOwnPage(url, INDEX), url).toBe(false);
    }
  });

  it('opens only https links externally', () => {
    expect(isSafeExternalUrl('https://istio.io/latest/docs/')).toBe(true);
    for (const url of [
      'http://example.com',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'smb://host/share',
      'https://user:pw@example.com/',
      'nonsense'
    ]) {
      expect(isSafeExternalUrl(url), url).toBe(false);
    }
  });

  it('lets the page load local files only', () => {
    expect(isAllowedRendererRequest(`${INDEX.replace('index.html', 'assets/app.js')}`)).toBe(true);
    expect(isAllowedRendererRequest('devtools://devtools/bundled/inspector.html')).toBe(true);
    expect(isAllowedRendererRequest('https://fonts.example/font.woff2')).toBe(false);
    expect(isAllowedRendererRequest('http://127.0.0.1:15000/api/v1/health')).toBe(false);
    expect(isAllowedRendererRequest('ws://127.0.0.1:1/')).toBe(false);
  });
});

describe('project', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-project-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds the mesh file in a picked folder, or takes a picked yaml file', () => {
    const withYaml = path.join(dir, 'a');
    const withYml = path.join(dir, 'b');
    const empty = path.join(dir, 'c');
    for (const d of [withYaml, withYml, empty]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(withYaml, 'localmesh.yaml'), 'x');
    fs.writeFileSync(path.join(withYml, 'localmesh.yml'), 'x');
    fs.writeFileSync(path.join(empty, 'notes.txt'), 'x');
    expect(meshFileFor(withYaml)).toBe(path.join(withYaml, 'localmesh.yaml'));
    expect(meshFileFor(withYml)).toBe(path.join(withYml, 'localmesh.yml'));
    expect(meshFileFor(path.join(withYaml, 'localmesh.yaml'))).toBe(path.join(withYaml, 'localmesh.yaml'));
    expect(meshFileFor(empty)).toBeUndefined();
    expect(meshFileFor(path.join(empty, 'notes.txt'))).toBeUndefined();
    expect(meshFileFor(path.join(dir, 'missing'))).toBeUndefined();
  });

  it('starts with the project asked for, else the newest recent one that still exists, else the example', () => {
    const exists = (p: string) => p === '/b/localmesh.yaml';
    expect(initialProject({ recent: ['/a/localmesh.yaml', '/b/localmesh.yaml'], example: '/ex' }, exists)).toBe(
      '/b/localmesh.yaml'
    );
    expect(initialProject({ recent: ['/a/localmesh.yaml'], example: '/ex' }, exists)).toBe('/ex');
    expect(initialProject({ recent: [], example: '/ex' })).toBe('/ex');
    const asked = path.join(dir, 'asked');
    fs.mkdirSync(asked);
    fs.writeFileSync(path.join(asked, 'localmesh.yaml'), 'x');
    expect(initialProject({ requested: asked, recent: ['/b/localmesh.yaml'], example: '/ex' }, exists)).toBe(
      path.join(asked, 'localmesh.yaml')
    );
    // A request that names nothing usable falls back to the usual choice.
    expect(
      initialProject({ requested: path.join(dir, 'nope'), recent: ['/b/localmesh.yaml'], example: '/ex' }, exists)
    ).toBe('/b/localmesh.yaml');
  });

  it('finds the bundled example beside app.asar when packaged, in the checkout otherwise', () => {
    expect(exampleMeshFile({ isPackaged: true, resourcesPath: '/opt/lm/resources', appRoot: '/x' })).toBe(
      path.join('/opt/lm/resources', 'examples', 'bookinfo', 'localmesh.yaml')
    );
    const repo = path.resolve(import.meta.dirname, '../..');
    const dev = exampleMeshFile({ isPackaged: false, resourcesPath: '/unused', appRoot: repo });
    expect(fs.existsSync(dev)).toBe(true);
  });

  it('reads the seed from --seed N, --seed=N or LOCALMESH_SEED', () => {
    expect(seedFrom(['electron', '.'], {})).toBeUndefined();
    expect(seedFrom(['electron', '.', '--seed', '42'], {})).toBe(42);
    expect(seedFrom(['electron', '.', '--seed=7'], { LOCALMESH_SEED: '1' })).toBe(7);
    expect(seedFrom([], { LOCALMESH_SEED: '3' })).toBe(3);
    expect(seedFrom(['--seed', 'abc'], {})).toBeUndefined();
  });
});

describe('menu', () => {
  const calls: string[] = [];
  const actions: MenuActions = {
    openProject: () => calls.push('openProject'),
    openRecent: (f) => calls.push(`openRecent ${f}`),
    clearRecent: () => calls.push('clearRecent'),
    reloadConfig: () => calls.push('reloadConfig'),
    navigate: (v) => calls.push(`navigate ${v}`),
    toggleDarkMode: () => calls.push('toggleDarkMode'),
    openWebsite: () => calls.push('openWebsite')
  };
  const flat = (items: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] =>
    items.flatMap((i) => [i, ...(Array.isArray(i.submenu) ? flat(i.submenu) : [])]);
  const byLabel = (items: MenuItemConstructorOptions[], label: string) => flat(items).find((i) => i.label === label);
  const click = (item: MenuItemConstructorOptions | undefined) => (item?.click as (() => void) | undefined)?.();

  it('has the shortcuts and wires them to the actions', () => {
    const t = menuTemplate({ platform: 'linux', isPackaged: false, recent: ['/p/shop/localmesh.yaml'], actions });
    expect(byLabel(t, 'Open Project…')?.accelerator).toBe('CmdOrCtrl+O');
    expect(byLabel(t, 'Reload Config')?.accelerator).toBe('CmdOrCtrl+R');
    expect(
      ['Services', 'Rules', 'Traffic', 'Security', 'Graph', 'Metrics'].map((l) => byLabel(t, l)?.accelerator)
    ).toEqual(['CmdOrCtrl+1', 'CmdOrCtrl+2', 'CmdOrCtrl+3', 'CmdOrCtrl+4', 'CmdOrCtrl+5', 'CmdOrCtrl+6']);
    for (const label of [
      'Open Project…',
      'Reload Config',
      'Services',
      'Rules',
      'Traffic',
      'Graph',
      'Metrics',
      'Toggle Dark Mode',
      'localmesh on the web',
      'Clear Recent'
    ]) {
      click(byLabel(t, label));
    }
    click(byLabel(t, recentLabel('/p/shop/localmesh.yaml')));
    expect(calls).toEqual([
      'openProject',
      'reloadConfig',
      'navigate services',
      'navigate rules',
      'navigate traffic',
      'navigate graph',
      'navigate metrics',
      'toggleDarkMode',
      'openWebsite',
      'clearRecent',
      'openRecent /p/shop/localmesh.yaml'
    ]);
    expect(byLabel(t, 'Quit')?.role).toBe('quit');
    expect(byLabel(t, 'Toggle DevTools')?.role).toBe('toggleDevTools');
  });

  it('offers DevTools only in development builds, and says when there is nothing recent', () => {
    const t = menuTemplate({ platform: 'linux', isPackaged: true, recent: [], actions });
    expect(byLabel(t, 'Toggle DevTools')).toBeUndefined();
    expect(byLabel(t, 'No Recent Projects')?.enabled).toBe(false);
    expect(byLabel(t, 'Clear Recent')?.enabled).toBe(false);
  });

  it('uses the app menu for Quit on macOS', () => {
    const t = menuTemplate({ platform: 'darwin', isPackaged: true, recent: [], actions });
    expect(t[0]?.role).toBe('appMenu');
    expect(byLabel(t, 'Quit')).toBeUndefined();
  });
});
