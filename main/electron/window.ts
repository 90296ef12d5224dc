/**
 * The window and the guards every web contents gets. Locked down as Electron's security checklist asks:
 * context isolation, sandbox, no Node in the page, web security on, no <webview>, no new windows, no navigation away
 * from our index.html, no permissions, no network requests from the page (it talks to the engine over IPC only).
 * The CSP is the renderer's own <meta http-equiv="Content-Security-Policy"> (response headers do not exist for
 * file://).
 */
import { BrowserWindow, session, shell, type Session, type WebContents } from 'electron';
import { isAllowedRendererRequest, isOwnPage, isSafeExternalUrl } from './security.js';
import { MIN_SIZE, type Bounds } from './state.js';

export interface WindowOptions {
  bounds: Bounds;
  maximized: boolean;
  preload: string;
  indexHtml: string;
}

export function createMainWindow(opts: WindowOptions): BrowserWindow {
  const win = new BrowserWindow({
    ...opts.bounds,
    minWidth: MIN_SIZE.width,
    minHeight: MIN_SIZE.height,
    show: false,
    title: 'localmesh',
    autoHideMenuBar: false,
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false
    }
  });
  if (opts.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  void win.loadFile(opts.indexHtml);
  return win;
}

/** Guards for every web contents the app ever creates (app 'web-contents-created'). */
export function hardenWebContents(contents: WebContents, indexUrl: string, log: (line: string) => void): void {
  const leave = (url: string): void => {
    if (isSafeExternalUrl(url)) void shell.openExternal(url);
    else log(`blocked navigation to ${url}`);
  };
  contents.on('will-navigate', (event) => {
    if (!isOwnPage(event.url, indexUrl)) {
      event.preventDefault();
      leave(event.url);
    }
  });
  contents.on('will-redirect', (event) => {
    if (!isOwnPage(event.url, indexUrl)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    leave(url);
    return { action: 'deny' };
  });
}

/**
 * Session-wide rules: no permission is granted (except writing text to the clipboard from our own page, for the
 * UI's copy buttons), and the page loads nothing from the network.
 */
export function hardenSession(
  indexUrl: string,
  log: (line: string) => void,
  ses: Session = session.defaultSession
): void {
  const clipboardWriteOnly = (permission: string, webContents: WebContents | null): boolean =>
    permission === 'clipboard-sanitized-write' && webContents !== null && isOwnPage(webContents.getURL(), indexUrl);
  ses.setPermissionRequestHandler((webContents, permission, callback) =>
    callback(clipboardWriteOnly(permission, webContents))
  );
  ses.setPermissionCheckHandler((webContents, permission) => clipboardWriteOnly(permission, webContents));
  ses.webRequest.onBeforeRequest((details, callback) => {
    const allowed = isAllowedRendererRequest(details.url);
    if (!allowed) log(`blocked request from the page: ${details.url}`);
    callback({ cancel: !allowed });
  });
}
