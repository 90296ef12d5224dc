/**
 * The Electron main process (bundled to out/electron/main.cjs): thin. It
 *   - keeps one instance, one window, the menu and the remembered state (state.ts);
 *   - runs the engine in a separate utility process (engine-host.ts), which serves the MeshApi over a token-gated
 *     admin API on an ephemeral loopback port; main talks to it with the same HTTP client the CLI uses;
 *   - exposes that MeshApi to the window over IPC (transports/ipc), every call checked against our page's URL.
 * A crashed engine never takes the window down: a dialog offers to restart it.
 *
 * Paths are relative to this bundle: out/electron/main.cjs → the app root is two folders up (inside app.asar when
 * packaged). `__dirname` is CommonJS's (the bundle is CJS); `import.meta.dirname` would not exist there.
 */
import {
  app,
  dialog,
  Menu,
  nativeTheme,
  screen,
  shell,
  utilityProcess,
  type BrowserWindow,
  type MessageBoxOptions,
  type MessageBoxReturnValue,
  type OpenDialogOptions
} from 'electron';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHttpMeshApi } from '../contract/http-client.js';
import { ErrorCodes, MeshError, isMeshError } from '../contract/errors.js';
import { IPC_NAVIGATE_CHANNEL } from '../transports/ipc/ipc-handlers.js';
import { forwardEvents, registerIpcHandlers } from '../transports/ipc/ipc-main.js';
import { createSwitchableApi } from './api-switch.js';
import { startEngine, type EngineHandle, type HostChild } from './engine-process.js';
import { menuTemplate, type ShellView } from './menu.js';
import { exampleMeshFile, initialProject, meshFileFor, seedFrom } from './project.js';
import { isOwnPage, isSafeExternalUrl } from './security.js';
import { addRecent, clampBounds, loadStateFile, removeRecent, saveStateFile, type AppState } from './state.js';
import { createMainWindow, hardenSession, hardenWebContents } from './window.js';

const HOMEPAGE = 'https://github.com/localmesh/localmesh';
const appRoot = path.resolve(__dirname, '..', '..');
const paths = {
  preload: path.join(appRoot, 'out', 'preload', 'index.cjs'),
  indexHtml: path.join(appRoot, 'out', 'renderer', 'index.html'),
  engineHost: path.join(appRoot, 'out', 'electron', 'engine-host.cjs')
};
const indexUrl = pathToFileURL(paths.indexHtml).href;

const log = (line: string): void => void process.stdout.write(`[localmesh] ${line}\n`);
const engineLog: string[] = [];
const logEngine = (line: string): void => {
  engineLog.push(line);
  if (engineLog.length > 40) engineLog.shift();
  process.stdout.write(`${line}\n`);
};

// Tests (and anyone who wants a throwaway profile) point userData elsewhere; must happen before 'ready'.
if (process.env.LOCALMESH_USER_DATA) app.setPath('userData', path.resolve(process.env.LOCALMESH_USER_DATA));
app.enableSandbox();

const switchable = createSwitchableApi();
let win: BrowserWindow | undefined;
let state: AppState = { version: 1, recent: [] };
let stateFile = '';
let engine: EngineHandle | undefined;
let project: string | undefined;
/** Bumped by every openProject(): a slower, older start gives way to a newer one. */
let generation = 0;
let enginesStarted = 0;
let quitReady = false;

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, indexUrl, log));
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', (event) => {
    if (quitReady) return;
    event.preventDefault();
    generation++;
    void stopEngine().finally(() => {
      quitReady = true;
      app.quit();
    });
  });
  app.whenReady().then(onReady, (e: unknown) => {
    log(`startup failed: ${String(e)}`);
    app.exit(1);
  });
}

function onReady(): void {
  stateFile = path.join(app.getPath('userData'), 'state.json');
  state = loadStateFile(stateFile, log);
  hardenSession(indexUrl, log);
  registerIpcHandlers(switchable.api, { isTrustedSender: (url) => isOwnPage(url, indexUrl), log });
  installMenu();
  win = createMainWindow({
    bounds: clampBounds(
      state.window?.bounds,
      screen.getAllDisplays().map((d) => d.workArea)
    ),
    maximized: state.window?.maximized ?? false,
    preload: paths.preload,
    indexHtml: paths.indexHtml
  });
  trackWindowState(win);
  forwardEvents(switchable.api, win.webContents);
  win.on('page-title-updated', (event) => {
    event.preventDefault();
    updateTitle();
  });
  win.on('closed', () => (win = undefined));
  const example = exampleMeshFile({ isPackaged: app.isPackaged, resourcesPath: process.resourcesPath, appRoot });
  void openProject(initialProject({ requested: process.env.LOCALMESH_PROJECT, recent: state.recent, example }));
}

// ---- engine ---------------------------------------------------------------------------------------------------

function forkEngineHost(): HostChild {
  const child = utilityProcess.fork(paths.engineHost, [], { serviceName: 'localmesh engine', stdio: 'inherit' });
  return {
    send: (message) => child.postMessage(message),
    onMessage: (listener) => void child.on('message', listener),
    onExit: (listener) => void child.on('exit', listener),
    kill: () => void child.kill()
  };
}

async function stopEngine(): Promise<void> {
  const running = engine;
  engine = undefined;
  await running?.stop();
}

/** Stop whatever runs, start the engine on `meshFile`, and point the window's api at it. */
async function openProject(meshFile: string): Promise<void> {
  const gen = ++generation;
  switchable.starting();
  await stopEngine();
  if (gen !== generation) return;
  project = meshFile;
  state.recent = addRecent(state.recent, meshFile);
  persistState();
  installMenu();
  updateTitle();
  // A fresh token per engine: only this main process can call the admin API it opens.
  const token = randomBytes(32).toString('base64url');
  let handle: EngineHandle | undefined;
  try {
    handle = await startEngine({
      fork: forkEngineHost,
      meshFile,
      seed: seedFrom(process.argv, process.env),
      token,
      log: logEngine,
      onCrash: ({ code }) => void onEngineCrash(handle, code)
    });
  } catch (e) {
    if (gen !== generation) return;
    const error = isMeshError(e) ? e : new MeshError(ErrorCodes.INTERNAL, String(e));
    switchable.down(error);
    void showStartError(meshFile, error);
    return;
  }
  if (gen !== generation) return void handle.stop();
  engine = handle;
  // The HTTP client sends `Authorization: Bearer <token>` on every call and on the event stream.
  switchable.ready(createHttpMeshApi(handle.url, { token }));
  log(`engine ready for ${meshFile}`);
  // A restart or another project: the page's data belongs to the old engine, so start the page afresh.
  if (enginesStarted++ > 0 && win && !win.isDestroyed()) win.webContents.reload();
}

async function onEngineCrash(handle: EngineHandle | undefined, code: number | null): Promise<void> {
  if (!handle || engine !== handle) return;
  engine = undefined;
  switchable.down(new MeshError(ErrorCodes.NOT_RUNNING, `the mesh engine stopped unexpectedly (exit code ${code})`));
  log(`engine exited unexpectedly (code ${code})`);
  const { response } = await messageBox({
    type: 'error',
    title: 'localmesh',
    message: 'The localmesh engine stopped unexpectedly',
    detail: `Project: ${handle.meshFile}\nExit code: ${code}\n\nLast engine output:\n${engineLog.slice(-12).join('\n') || '(none)'}`,
    buttons: ['Restart Engine', 'Close'],
    defaultId: 0,
    cancelId: 1
  });
  if (response === 0 && engine === undefined) void openProject(handle.meshFile);
}

async function showStartError(meshFile: string, error: MeshError): Promise<void> {
  const { response } = await messageBox({
    type: 'error',
    title: 'localmesh',
    message: `Cannot start the mesh for ${meshFile}`,
    detail: `${error.code}: ${error.message}`,
    buttons: ['Open Project…', 'Retry', 'Close'],
    defaultId: 1,
    cancelId: 2
  });
  if (response === 0) void chooseProject();
  else if (response === 1) void openProject(meshFile);
}

// ---- menu actions ---------------------------------------------------------------------------------------------

function installMenu(): void {
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      menuTemplate({
        platform: process.platform,
        isPackaged: app.isPackaged,
        recent: state.recent,
        actions: {
          openProject: () => void chooseProject(),
          openRecent: (file) => void openRecent(file),
          clearRecent: () => {
            state.recent = project ? [project] : [];
            persistState();
            installMenu();
          },
          reloadConfig: () => void reloadConfig(),
          navigate: (view: ShellView) => win?.webContents.send(IPC_NAVIGATE_CHANNEL, view),
          toggleDarkMode: () => {
            nativeTheme.themeSource = nativeTheme.shouldUseDarkColors ? 'light' : 'dark';
          },
          openWebsite: () => {
            if (isSafeExternalUrl(HOMEPAGE)) void shell.openExternal(HOMEPAGE);
          }
        }
      })
    )
  );
}

async function chooseProject(): Promise<void> {
  const options: OpenDialogOptions = {
    title: 'Open Project',
    buttonLabel: 'Open',
    message: 'Choose a folder with a localmesh.yaml, or the mesh file itself',
    // Windows and Linux show a folder picker for this pair; macOS lets the user pick either.
    properties: ['openFile', 'openDirectory'],
    filters: [{ name: 'Mesh file (localmesh.yaml)', extensions: ['yaml', 'yml'] }]
  };
  const result = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
  const picked = result.filePaths[0];
  if (result.canceled || picked === undefined) return;
  const meshFile = meshFileFor(picked);
  if (!meshFile) {
    await messageBox({
      type: 'warning',
      title: 'localmesh',
      message: 'No mesh file there',
      detail: `${picked} is neither a localmesh.yaml file nor a folder containing one.`
    });
    return;
  }
  await openProject(meshFile);
}

async function openRecent(file: string): Promise<void> {
  if (meshFileFor(file) === undefined) {
    state.recent = removeRecent(state.recent, file);
    persistState();
    installMenu();
    await messageBox({
      type: 'warning',
      title: 'localmesh',
      message: 'That project is gone',
      detail: `${file} no longer exists.`
    });
    return;
  }
  await openProject(file);
}

async function reloadConfig(): Promise<void> {
  try {
    const result = await switchable.api.reload();
    log(result.ok ? `config reloaded (version ${result.version})` : `config reload rejected: ${result.error ?? ''}`);
  } catch (e) {
    await messageBox({
      type: 'error',
      title: 'localmesh',
      message: 'Cannot reload the configuration',
      detail: isMeshError(e) ? `${e.code}: ${e.message}` : String(e)
    });
  }
}

// ---- window and state -----------------------------------------------------------------------------------------

function messageBox(options: MessageBoxOptions): Promise<MessageBoxReturnValue> {
  return win && !win.isDestroyed() ? dialog.showMessageBox(win, options) : dialog.showMessageBox(options);
}

function updateTitle(): void {
  if (!win || win.isDestroyed()) return;
  win.setTitle(project ? `localmesh — ${path.basename(path.dirname(project))}` : 'localmesh');
}

function trackWindowState(w: BrowserWindow): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const save = (): void => {
    clearTimeout(timer);
    if (w.isDestroyed()) return;
    state.window = { bounds: w.getNormalBounds(), maximized: w.isMaximized() };
    persistState();
  };
  const later = (): void => {
    clearTimeout(timer);
    timer = setTimeout(save, 500);
  };
  w.on('resize', later);
  w.on('move', later);
  w.on('maximize', later);
  w.on('unmaximize', later);
  w.on('close', save);
}

function persistState(): void {
  if (!stateFile) return;
  try {
    saveStateFile(stateFile, state);
  } catch (e) {
    log(`cannot save ${stateFile}: ${(e as Error).message}`);
  }
}
