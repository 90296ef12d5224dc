/**
 * A stand-in for the `electron` module, for main.test.ts: this machine has no Electron binary, so the main process
 * is run under vitest with this fake (vi.mock('electron')). It records what main.ts asks of Electron (windows,
 * menus, dialogs, IPC handlers, session rules) and runs the engine host for real: `utilityProcess.fork` becomes a
 * plain Node `child_process.fork` of engine-host.ts through tsx, which is what a utility process runs.
 * Test-only code; nothing here is bundled.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const HOST_SOURCE = path.resolve(import.meta.dirname, '..', 'engine-host.ts');

type Fn = (...args: unknown[]) => unknown;

export interface FakeEvent {
  url?: string;
  defaultPrevented: boolean;
  preventDefault(): void;
}

export function fakeEvent(fields: { url?: string } = {}): FakeEvent {
  return {
    ...fields,
    defaultPrevented: false,
    preventDefault() {
      this.defaultPrevented = true;
    }
  };
}

export class FakeWebContents extends EventEmitter {
  readonly sent: unknown[][] = [];
  reloads = 0;
  url = '';
  openHandler: ((details: { url: string }) => { action: string }) | undefined;
  /** This page's messages (webContents.ipc). */
  readonly ipc = new EventEmitter();
  send(channel: string, ...args: unknown[]): void {
    this.sent.push([channel, ...args]);
    // the page's preload acknowledges each event batch once its listeners had it (ipc-events.ts)
    if (channel === 'localmesh:events') setImmediate(() => this.ipc.emit('localmesh:events-ack', { sender: this }));
  }
  isDestroyed(): boolean {
    return false;
  }
  reload(): void {
    this.reloads++;
  }
  getURL(): string {
    return this.url;
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.openHandler = handler;
  }
}

export class FakeUtilityProcess extends EventEmitter {
  readonly child: ChildProcess;
  readonly stderr: string[] = [];
  constructor(
    readonly modulePath: string,
    readonly options: unknown
  ) {
    super();
    this.child = fork(HOST_SOURCE, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr?.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.child.on('message', (m) => this.emit('message', m));
    this.child.on('exit', (code) => this.emit('exit', code));
  }
  postMessage(message: unknown): void {
    if (this.child.connected) this.child.send(message as never);
  }
  kill(): boolean {
    return this.child.kill();
  }
}

export class FakeBrowserWindow extends EventEmitter {
  /** Set by createFakeElectron: where new windows are announced. */
  static created: (w: FakeBrowserWindow) => void = () => undefined;
  readonly webContents = new FakeWebContents();
  loadedFile = '';
  title = '';
  constructor(readonly options: { webPreferences?: Record<string, unknown> } & Record<string, unknown>) {
    super();
    FakeBrowserWindow.created(this);
  }
  loadFile(file: string): Promise<void> {
    this.loadedFile = file;
    this.webContents.url = pathToFileURL(file).href;
    return Promise.resolve();
  }
  maximize(): void {}
  show(): void {}
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  focus(): void {}
  setTitle(title: string): void {
    this.title = title;
  }
  isDestroyed(): boolean {
    return false;
  }
  getNormalBounds() {
    return { x: 10, y: 20, width: 1100, height: 760 };
  }
  isMaximized(): boolean {
    return false;
  }
}

export function createFakeElectron() {
  const control = {
    userData: '',
    windows: [] as FakeBrowserWindow[],
    ipcHandlers: new Map<string, Fn>(),
    menus: [] as unknown[],
    forks: [] as FakeUtilityProcess[],
    messageBoxes: [] as { message?: string; detail?: string; buttons?: string[] }[],
    /** Answers for the next showMessageBox calls (button index); default: the cancel button. */
    messageBoxAnswers: [] as number[],
    openDialogAnswers: [] as { canceled: boolean; filePaths: string[] }[],
    opened: [] as string[],
    permissionRequest: undefined as Fn | undefined,
    permissionCheck: undefined as Fn | undefined,
    beforeRequest: undefined as Fn | undefined,
    quits: 0,
    exits: [] as number[],
    resolveReady: () => undefined as void
  };

  class FakeApp extends EventEmitter {
    isPackaged = false;
    private readonly ready = new Promise<void>((r) => (control.resolveReady = r));
    whenReady(): Promise<void> {
      return this.ready;
    }
    requestSingleInstanceLock(): boolean {
      return true;
    }
    getPath(name: string): string {
      if (name !== 'userData') throw new Error(`fake app.getPath(${name})`);
      return control.userData;
    }
    setPath(name: string, value: string): void {
      if (name === 'userData') control.userData = value;
    }
    enableSandbox(): void {}
    quit(): void {
      control.quits++;
      const event = fakeEvent();
      this.emit('before-quit', event);
      if (!event.defaultPrevented) this.emit('will-quit', fakeEvent());
    }
    exit(code: number): void {
      control.exits.push(code);
    }
  }
  const app = new FakeApp();
  FakeBrowserWindow.created = (w) => {
    control.windows.push(w);
    app.emit('web-contents-created', fakeEvent(), w.webContents);
  };

  const answer = <T>(queue: T[], fallback: T): Promise<T> =>
    Promise.resolve(queue.length > 0 ? queue.shift()! : fallback);
  const lastArg = (args: unknown[]) =>
    args[args.length - 1] as { message?: string; detail?: string; buttons?: string[]; cancelId?: number };

  return {
    control,
    app,
    BrowserWindow: FakeBrowserWindow,
    Menu: {
      buildFromTemplate: (template: unknown) => template,
      setApplicationMenu: (menu: unknown) => void control.menus.push(menu)
    },
    dialog: {
      showMessageBox: (...args: unknown[]) => {
        const options = lastArg(args);
        control.messageBoxes.push({ message: options.message, detail: options.detail, buttons: options.buttons });
        return answer(control.messageBoxAnswers, options.cancelId ?? 0).then((response) => ({
          response,
          checkboxChecked: false
        }));
      },
      showOpenDialog: () => answer(control.openDialogAnswers, { canceled: true, filePaths: [] })
    },
    nativeTheme: { shouldUseDarkColors: false, themeSource: 'system' },
    screen: { getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }] },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (h: Fn) => void (control.permissionRequest = h),
        setPermissionCheckHandler: (h: Fn) => void (control.permissionCheck = h),
        webRequest: { onBeforeRequest: (h: Fn) => void (control.beforeRequest = h) }
      }
    },
    shell: { openExternal: (url: string) => Promise.resolve(void control.opened.push(url)) },
    utilityProcess: {
      fork: (modulePath: string, _args: string[], options: unknown) => {
        const child = new FakeUtilityProcess(modulePath, options);
        control.forks.push(child);
        return child;
      }
    },
    ipcMain: {
      handle: (channel: string, fn: Fn) => {
        if (control.ipcHandlers.has(channel)) throw new Error(`second handler for ${channel}`);
        control.ipcHandlers.set(channel, fn);
      },
      removeHandler: (channel: string) => void control.ipcHandlers.delete(channel)
    }
  };
}

export type FakeElectron = ReturnType<typeof createFakeElectron>;
