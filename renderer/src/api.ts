/**
 * Which MeshApi the renderer talks to: `window.localmesh` (the Electron preload, over IPC) when present, else the
 * HTTP+SSE client against the page's own origin (`localmesh up --ui`; the auth cookie goes along with same-origin
 * fetch). One code path, two transports.
 */
import type { MeshApi } from '../../main/contract/api.js';
import { createHttpMeshApi } from '../../main/contract/http-client.js';

/** What the Electron shell may add next to the API (menu shortcuts). */
export interface LocalmeshShell {
  onNavigate?(listener: (view: string) => void): (() => void) | void;
}

declare global {
  interface Window {
    localmesh?: MeshApi;
    localmeshShell?: LocalmeshShell;
  }
}

export function selectApi(win: Window): MeshApi {
  return win.localmesh ?? createHttpMeshApi(win.location.origin);
}
