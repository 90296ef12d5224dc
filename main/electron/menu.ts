/**
 * The application menu, as data: `menuTemplate()` turns the shell's actions into Electron's menu template (type-only
 * electron import, so menu.test.ts checks labels and shortcuts without Electron); main.ts builds and installs it,
 * and rebuilds it when the recent list changes.
 */
import path from 'node:path';
import type { MenuItemConstructorOptions } from 'electron';

export type ShellView = 'services' | 'rules' | 'traffic' | 'security' | 'graph' | 'metrics';

export interface MenuActions {
  openProject(): void;
  openRecent(meshFile: string): void;
  clearRecent(): void;
  reloadConfig(): void;
  navigate(view: ShellView): void;
  toggleDarkMode(): void;
  openWebsite(): void;
}

export interface MenuOptions {
  platform: NodeJS.Platform;
  /** DevTools are offered only in development builds. */
  isPackaged: boolean;
  recent: readonly string[];
  actions: MenuActions;
}

export const VIEW_SHORTCUTS: readonly { view: ShellView; label: string; accelerator: string }[] = [
  { view: 'services', label: 'Services', accelerator: 'CmdOrCtrl+1' },
  { view: 'rules', label: 'Rules', accelerator: 'CmdOrCtrl+2' },
  { view: 'traffic', label: 'Traffic', accelerator: 'CmdOrCtrl+3' },
  { view: 'security', label: 'Security', accelerator: 'CmdOrCtrl+4' },
  { view: 'graph', label: 'Graph', accelerator: 'CmdOrCtrl+5' },
  { view: 'metrics', label: 'Metrics', accelerator: 'CmdOrCtrl+6' }
];

/** "bookinfo — ~/src/bookinfo" style label: the project folder's name, then where it is. */
export function recentLabel(meshFile: string): string {
  const dir = path.dirname(meshFile);
  return `${path.basename(dir)} — ${dir}`;
}

export function menuTemplate(opts: MenuOptions): MenuItemConstructorOptions[] {
  const { actions } = opts;
  const mac = opts.platform === 'darwin';
  const recentItems: MenuItemConstructorOptions[] =
    opts.recent.length === 0
      ? [{ label: 'No Recent Projects', enabled: false }]
      : opts.recent.map((file) => ({ label: recentLabel(file), click: () => actions.openRecent(file) }));

  const file: MenuItemConstructorOptions = {
    label: 'File',
    submenu: [
      { label: 'Open Project…', accelerator: 'CmdOrCtrl+O', click: () => actions.openProject() },
      {
        label: 'Open Recent',
        submenu: [
          ...recentItems,
          { type: 'separator' },
          { label: 'Clear Recent', enabled: opts.recent.length > 0, click: () => actions.clearRecent() }
        ]
      },
      { type: 'separator' },
      { label: 'Reload Config', accelerator: 'CmdOrCtrl+R', click: () => actions.reloadConfig() },
      ...(mac ? [] : [{ type: 'separator' } as const, { label: 'Quit', role: 'quit' } as const])
    ]
  };

  const view: MenuItemConstructorOptions = {
    label: 'View',
    submenu: [
      ...VIEW_SHORTCUTS.map((v): MenuItemConstructorOptions => ({
        label: v.label,
        accelerator: v.accelerator,
        click: () => actions.navigate(v.view)
      })),
      { type: 'separator' },
      { label: 'Toggle Dark Mode', accelerator: 'CmdOrCtrl+Shift+D', click: () => actions.toggleDarkMode() },
      ...(opts.isPackaged
        ? []
        : [{ type: 'separator' } as const, { label: 'Toggle DevTools', role: 'toggleDevTools' } as const]),
      { type: 'separator' },
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' }
    ]
  };

  const help: MenuItemConstructorOptions = {
    role: 'help',
    submenu: [{ label: 'localmesh on the web', click: () => actions.openWebsite() }]
  };

  return [
    ...(mac ? [{ role: 'appMenu' } as const] : []),
    file,
    // Cut/copy/paste in the editor need the Edit menu's roles on macOS.
    { role: 'editMenu' },
    view,
    { role: 'windowMenu' },
    help
  ];
}
