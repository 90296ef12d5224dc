/**
 * The Electron adapter of the IPC transport: registers the generated handlers (ipc-handlers.ts) with
 * `ipcMain.handle` and forwards engine events to a window. Nothing else in main/ touches `ipcMain`.
 */
import { ipcMain, type WebContents } from 'electron';
import type { MeshApi } from '../../contract/api.js';
import { forwardEventBatches, type ForwardEventsOptions } from './ipc-events.js';
import { createIpcHandlers, type IpcHandlerOptions } from './ipc-handlers.js';

/** Register one `ipcMain.handle` per MeshApi method. Returns a function that removes them again. */
export function registerIpcHandlers(api: MeshApi, opts: IpcHandlerOptions): () => void {
  const handlers = createIpcHandlers(api, opts);
  const channels = Object.keys(handlers) as (keyof typeof handlers)[];
  for (const channel of channels) ipcMain.handle(channel, handlers[channel]);
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

/**
 * Send every engine event to the window while it lives, batched per event-loop turn on `localmesh:events`
 * (ipc-events.ts says why and how it is bounded). Returns the unsubscribe.
 */
export function forwardEvents(api: MeshApi, webContents: WebContents, opts?: ForwardEventsOptions): () => void {
  return forwardEventBatches(api, webContents, opts);
}
