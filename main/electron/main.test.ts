// The main process, end to end, without an Electron binary: main.ts runs under vitest against a fake `electron`
// module (testing/fake-electron.ts) that records windows, menus, dialogs and IPC handlers, while the engine host
// runs for real in a child process. The steps share one main process, so they run in order.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MenuItemConstructorOptions } from 'electron';
import type { HealthView, MeshEvent } from '../contract/api.js';
import type { IpcErrorEnvelope } from '../transports/ipc/ipc-handlers.js';
import { meshYaml, stub, until, viaProxy, writeProject, type Stub } from '../test/helpers/harness.js';
import { fakeEvent, type FakeElectron } from './testing/fake-electron.js';

vi.mock('electron', async () => (await import('./testing/fake-electron.js')).createFakeElectron());

const repo = path.resolve(import.meta.dirname, '../..');
const INDEX_URL = pathToFileURL(path.join(repo, 'out/renderer/index.html')).href;
const BROKEN = path.join(repo, 'main/test/fixtures/broken-mesh/localmesh.yaml');
const trusted = { senderFrame: { url: `${INDEX_URL}#/services` } };

let electron: FakeElectron;
let control: FakeElectron['control'];
let app: Stub;
let project: { dir: string; file: string };
let userData: string;

function call(method: string, ...args: unknown[]): Promise<unknown> {
  const handler = control.ipcHandlers.get(`localmesh:${method}`);
  if (!handler) throw new Error(`no IPC handler for ${method}`);
  return handler(trusted, ...args) as Promise<unknown>;
}

function menuItem(label: string): MenuItemConstructorOptions {
  const flat = (items: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] =>
    items.flatMap((i) => [i, ...(Array.isArray(i.submenu) ? flat(i.submenu) : [])]);
  const item = flat(control.menus.at(-1) as MenuItemConstructorOptions[]).find((i) => i.label?.startsWith(label));
  if (!item) throw new Error(`no menu item ${label}`);
  return item;
}

const click = (label: string) => (menuItem(label).click as () => void)();
const win = () => control.windows[0]!;
/** The events sent to the window so far: each message on localmesh:events is a batch of them. */
const sentEvents = (): MeshEvent[] =>
  win()
    .webContents.sent.filter(([channel]) => channel === 'localmesh:events')
    .flatMap(([, batch]) => batch as MeshEvent[]);

beforeAll(async () => {
  app = await stub('orders');
  project = writeProject({
    meshYaml: meshYaml({ orders: { workloads: [{ name: 'orders-v1', instances: [app.address] }] } })
  });
  userData = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-userdata-'));
  // A returning user: the last project opened is ours (not the bundled example, which binds fixed ports).
  fs.writeFileSync(path.join(userData, 'state.json'), JSON.stringify({ version: 1, recent: [project.file] }));
  process.env.LOCALMESH_USER_DATA = userData;
  delete process.env.LOCALMESH_PROJECT;
  electron = (await import('electron')) as unknown as FakeElectron;
  control = electron.control;
  await import('./main.js');
  control.resolveReady();
  await until(() => control.windows.length === 1 && control.ipcHandlers.size > 0, 'the window and the IPC handlers');
});

afterAll(async () => {
  delete process.env.LOCALMESH_USER_DATA;
  for (const f of control?.forks ?? [])
    if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill('SIGKILL');
  await app?.close();
  fs.rmSync(project.dir, { recursive: true, force: true });
  fs.rmSync(userData, { recursive: true, force: true });
});

describe('main process (fake electron, real engine host)', () => {
  it('uses the redirected userData, a single-instance lock and a locked-down window', () => {
    expect(control.userData).toBe(userData);
    const options = win().options;
    expect(options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      preload: path.join(repo, 'out/preload/index.cjs')
    });
    expect(win().loadedFile).toBe(path.join(repo, 'out/renderer/index.html'));
  });

  it('forks the engine host as a utility process and serves MeshApi over IPC once it is ready', async () => {
    expect(control.forks[0]?.modulePath).toBe(path.join(repo, 'out/electron/engine-host.cjs'));
    // The first call may arrive while the engine is starting: it waits rather than failing.
    const health = (await call('health')) as HealthView;
    expect(health).toMatchObject({ status: 'ok', workloads: 1 });
    expect(win().title).toBe(`localmesh — ${path.basename(project.dir)}`);
  });

  it('refuses other senders and bad arguments', async () => {
    const handler = control.ipcHandlers.get('localmesh:health')!;
    const refused = (await handler({ senderFrame: { url: 'https://evil.example/' } })) as IpcErrorEnvelope;
    expect(refused.__meshError.code).toBe('LM203');
    const bad = (await call('getFlow', {})) as IpcErrorEnvelope;
    expect(bad.__meshError.code).toBe('LM201');
  });

  it('forwards engine events to the window', async () => {
    const [orders] = (await call('listWorkloads')) as { outbound: { port: number } }[];
    await until(async () => {
      await viaProxy(orders!.outbound.port, 'orders:9080', '/via-electron');
      return sentEvents().some((e) => e.type === 'flow');
    }, 'a flow event on localmesh:events');
    // every message on the channel is a non-empty batch
    const batches = win().webContents.sent.filter(([channel]) => channel === 'localmesh:events');
    expect(batches.every(([, b]) => Array.isArray(b) && b.length > 0)).toBe(true);
  });

  it('guards navigation, new windows, permissions and remote requests', () => {
    const contents = win().webContents;
    const away = fakeEvent({ url: 'https://istio.io/docs' });
    contents.emit('will-navigate', away);
    expect(away.defaultPrevented).toBe(true);
    expect(control.opened).toEqual(['https://istio.io/docs']);
    const inApp = fakeEvent({ url: `${INDEX_URL}#/traffic` });
    contents.emit('will-navigate', inApp);
    expect(inApp.defaultPrevented).toBe(false);
    expect(contents.openHandler?.({ url: 'http://plain.example/' })).toEqual({ action: 'deny' });
    expect(control.opened).toEqual(['https://istio.io/docs']); // http is not handed to the browser
    const webview = fakeEvent();
    contents.emit('will-attach-webview', webview);
    expect(webview.defaultPrevented).toBe(true);

    const granted: boolean[] = [];
    for (const permission of ['media', 'geolocation', 'notifications', 'openExternal']) {
      control.permissionRequest?.(contents, permission, (ok: boolean) => granted.push(ok), {});
    }
    expect(granted).toEqual([false, false, false, false]);
    expect(control.permissionCheck?.(contents, 'media', 'file://', {})).toBe(false);

    const decide = (url: string) => {
      let cancel: boolean | undefined;
      control.beforeRequest?.({ url }, (r: { cancel: boolean }) => (cancel = r.cancel));
      return cancel;
    };
    expect(decide('https://cdn.example/x.js')).toBe(true);
    expect(decide(`${INDEX_URL.replace('index.html', 'assets/app.js')}`)).toBe(false);
  });

  it('menu: views go to the page, Reload Config calls the engine', async () => {
    click('Traffic');
    expect(win().webContents.sent.at(-1)).toEqual(['localmesh:navigate', 'traffic']);
    const before = control.messageBoxes.length;
    const out = vi.spyOn(process.stdout, 'write');
    try {
      click('Reload Config');
      await until(
        () => out.mock.calls.some(([chunk]) => String(chunk).includes('[localmesh] config reloaded (version 1)')),
        'the reload result'
      );
    } finally {
      out.mockRestore();
    }
    expect(control.messageBoxes.length).toBe(before); // no error dialog
  });

  it('offers a restart when the engine crashes, and restarts it', async () => {
    control.messageBoxAnswers.push(0); // "Restart Engine"
    const reloadsBefore = win().webContents.reloads;
    const resyncsBefore = sentEvents().filter((e) => e.type === 'resync').length;
    control.forks[0]!.child.kill('SIGKILL');
    await until(
      () => control.messageBoxes.some((m) => m.message === 'The localmesh engine stopped unexpectedly'),
      'the crash dialog'
    );
    expect(control.messageBoxes.at(-1)?.buttons).toEqual(['Restart Engine', 'Close']);
    await until(() => control.forks.length === 2, 'a second engine host');
    expect(((await call('health')) as HealthView).status).toBe('ok');
    // the window's lists belong to the old engine: it is told to read afresh
    await until(
      () => sentEvents().filter((e) => e.type === 'resync').length > resyncsBefore,
      'a resync event after the restart'
    );
    expect(
      sentEvents()
        .filter((e) => e.type === 'resync')
        .at(-1)
    ).toEqual({ type: 'resync', dropped: null });
    expect(win().webContents.reloads).toBe(reloadsBefore + 1);
  });

  it('shows why a project cannot start, and the page gets the same error', async () => {
    control.openDialogAnswers.push({ canceled: false, filePaths: [path.dirname(BROKEN)] });
    click('Open Project');
    await until(
      () => control.messageBoxes.some((m) => m.message?.startsWith('Cannot start the mesh')),
      'the start error dialog'
    );
    const failed = (await call('health')) as IpcErrorEnvelope;
    expect(failed.__meshError.code).toMatch(/^LM00\d$/);
    expect(control.messageBoxes.at(-1)?.detail).toContain(failed.__meshError.code);
    // The broken project is remembered first, ours second; reopen ours from Open Recent.
    const saved = JSON.parse(fs.readFileSync(path.join(userData, 'state.json'), 'utf8')) as { recent: string[] };
    expect(saved.recent).toEqual([BROKEN, project.file]);
    click(`${path.basename(project.dir)} — `);
    expect(((await call('health')) as HealthView).status).toBe('ok');
  });

  it('stops the engine before quitting', async () => {
    const last = control.forks.at(-1)!;
    electron.app.quit();
    await until(() => last.child.exitCode !== null || last.child.signalCode !== null, 'the engine host to end');
    await until(() => control.quits === 2, 'the second quit, after the engine stopped');
    const saved = JSON.parse(fs.readFileSync(path.join(userData, 'state.json'), 'utf8')) as { recent: string[] };
    expect(saved.recent[0]).toBe(project.file);
  });
});
