/**
 * The Electron adapter of the IPC transport: registers the generated handlers (ipc-handlers.ts) with
 * `ipcMain.handle` and forwards engine events to a window. Nothing else in main/ touches `ipcMain`.
 */
import { ipcMain, type WebContents } from 'electron';
import type { MeshApi, MeshEvent } from '../../contract/api.js';
import { IPC_EVENT_CHANNEL, createIpcHandlers, type IpcHandlerOptions } from './ipc-handlers.js';

/** Register one `ipcMain.handle` per MeshApi method. Returns a function that removes them again. */
export function registerIpcHandlers(api: MeshApi, opts: IpcHandlerOptions): () => void {
  const handlers = createIpcHandlers(api, opts);
  const channels = Object.keys(handlers) as (keyof typeof handlers)[];
  for (const channel of channels) ipcMain.handle(channel, handlers[channel]);
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

/** Send every engine event to the window on `localmesh:event` while it lives. Returns the unsubscribe. */
export function forwardEvents(api: MeshApi, webContents: WebContents): () => void {
  const unsubscribe = api.onEvent((event: MeshEvent) => {
    if (!webContents.isDestroyed()) webContents.send(IPC_EVENT_CHANNEL, event);
  });
  const stop = (): void => {
    webContents.off('destroyed', stop);
    unsubscribe();
  };
  webContents.once('destroyed', stop);
  return stop;
}
