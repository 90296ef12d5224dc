/**
 * The preload: the renderer's only door to the main process. It exposes two named objects and nothing else
 * (never `ipcRenderer` itself):
 *   - `window.localmesh`: a MeshApi whose methods are generated from `MESH_API_METHODS` (one loop), each an
 *     `ipcRenderer.invoke('localmesh:<method>', ...args)`; `onEvent` listens on `localmesh:events`, where the
 *     main side sends the events of one event-loop turn as one array (main/transports/ipc/ipc-events.ts), and calls
 *     the listener once per event, in order;
 *   - `window.localmeshShell`: `{ onNavigate(cb) }`, the View menu's "go to services / rules / traffic".
 *
 * Errors: the main side resolves a failed call with `{ __meshError: { code, message, where?, details? } }`
 * (main/transports/ipc/ipc-handlers.ts says why); here it becomes a rejected Error named "MeshError" with `code`,
 * `where` and `details`. Crossing the contextBridge keeps only an Error's message, so the message carries the code
 * as a prefix: "LM202: no flow f-9". The renderer recovers the code with /^(LM\d{3}): /.
 *
 * Sandboxed (sandbox: true): bundled to CommonJS (out/preload/index.cjs) whose only `require` is 'electron'.
 * It may import the contract only (lint), and only values that need no Node: MESH_API_METHODS.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { MESH_API_METHODS, type MeshApi, type MeshEvent } from '../main/contract/api.js';
import type { MeshErrorData } from '../main/contract/errors.js';

// Channel names, as in main/transports/ipc/ipc-handlers.ts and ipc-events.ts (the preload may not import the transport layer).
const CHANNEL_PREFIX = 'localmesh:';
const EVENTS_CHANNEL = 'localmesh:events';
const EVENTS_ACK_CHANNEL = 'localmesh:events-ack';
const NAVIGATE_CHANNEL = 'localmesh:navigate';

export type ShellView = 'services' | 'rules' | 'traffic' | 'security' | 'graph' | 'metrics';
const SHELL_VIEWS: readonly string[] = [
  'services',
  'rules',
  'traffic',
  'security',
  'graph',
  'metrics'
] satisfies ShellView[];

export interface LocalmeshShell {
  /** Called when the user picks a view from the menu (Ctrl/Cmd+1/2/3). Returns an unsubscribe function. */
  onNavigate(listener: (view: ShellView) => void): () => void;
}

/** A rejected call, as the renderer sees it before the contextBridge strips the extra properties. */
export class IpcMeshError extends Error {
  readonly code: string;
  readonly where?: MeshErrorData['where'];
  readonly details?: unknown;
  constructor(data: MeshErrorData) {
    super(`${data.code}: ${data.message}`);
    this.name = 'MeshError';
    this.code = data.code;
    this.where = data.where;
    this.details = data.details;
  }
}

function errorData(value: unknown): MeshErrorData | undefined {
  const inner = (value as { __meshError?: unknown } | null | undefined)?.__meshError;
  if (typeof inner !== 'object' || inner === null) return undefined;
  const { code, message } = inner as Partial<MeshErrorData>;
  return typeof code === 'string' ? { ...(inner as MeshErrorData), message: String(message ?? '') } : undefined;
}

/** The ipcRenderers whose event batches are acknowledged already (one acknowledgement per batch, whatever listens). */
const acknowledging = new WeakSet<object>();

/**
 * Acknowledge each batch on `localmesh:events` once the page's listeners have had it (a microtask: they all run in
 * the task that delivers it, this one first). The main side sends a page a bounded number of batches it has not
 * acknowledged (ipc-events.ts): a page that stops running (hung, or paused in a debugger) stops acknowledging, and
 * the events meant for it are dropped and counted instead of piling up in the main process, then a `resync` says so.
 */
function acknowledgeBatches(ipc: Pick<typeof ipcRenderer, 'on' | 'send'>): void {
  if (acknowledging.has(ipc)) return;
  acknowledging.add(ipc);
  ipc.on(EVENTS_CHANNEL, () => void Promise.resolve().then(() => ipc.send(EVENTS_ACK_CHANNEL)));
}

/** Build the MeshApi on top of ipcRenderer's `invoke`, `on`, `off` and `send` (a fake in tests). */
export function createIpcMeshApi(ipc: Pick<typeof ipcRenderer, 'invoke' | 'on' | 'off' | 'send'>): MeshApi {
  acknowledgeBatches(ipc);
  const api: Record<string, unknown> = {
    onEvent(listener: (event: MeshEvent) => void, types?: readonly MeshEvent['type'][]): () => void {
      if (typeof listener !== 'function') throw new TypeError('onEvent needs a listener function');
      let subscribed = true;
      // Only the events cross to the page, never the IpcRendererEvent (it holds `sender`, i.e. ipcRenderer).
      // `resync` goes to every listener whatever types it asked for, as on the event stream (ResyncEvent).
      const relay = (_event: IpcRendererEvent, batch: MeshEvent[]): void => {
        if (!Array.isArray(batch)) return;
        let failure: { error: unknown } | undefined;
        for (const event of batch) {
          if (!subscribed) break; // unsubscribed by the listener itself, mid-batch
          if (types !== undefined && event.type !== 'resync' && !types.includes(event.type)) continue;
          // a listener that throws on one event still gets the rest of the batch; the first error is rethrown after
          try {
            listener(event);
          } catch (error) {
            failure ??= { error };
          }
        }
        if (failure) throw failure.error;
      };
      ipc.on(EVENTS_CHANNEL, relay);
      return () => {
        if (subscribed) ipc.off(EVENTS_CHANNEL, relay);
        subscribed = false;
      };
    }
  };
  for (const method of Object.keys(MESH_API_METHODS)) {
    const channel = CHANNEL_PREFIX + method;
    api[method] = async (...args: unknown[]): Promise<unknown> => {
      const result: unknown = await ipc.invoke(channel, ...args);
      const error = errorData(result);
      if (error) throw new IpcMeshError(error);
      return result;
    };
  }
  return api as unknown as MeshApi;
}

export function createShell(ipc: Pick<typeof ipcRenderer, 'on' | 'off'>): LocalmeshShell {
  return {
    onNavigate(listener) {
      if (typeof listener !== 'function') throw new TypeError('onNavigate needs a listener function');
      const relay = (_event: IpcRendererEvent, view: unknown): void => {
        if (typeof view === 'string' && SHELL_VIEWS.includes(view)) listener(view as ShellView);
      };
      ipc.on(NAVIGATE_CHANNEL, relay);
      return () => void ipc.off(NAVIGATE_CHANNEL, relay);
    }
  };
}

// Guarded so the module can be imported by a unit test (vitest mocks `electron`) without a renderer.
if (typeof contextBridge?.exposeInMainWorld === 'function') {
  contextBridge.exposeInMainWorld('localmesh', createIpcMeshApi(ipcRenderer));
  contextBridge.exposeInMainWorld('localmeshShell', createShell(ipcRenderer));
}
