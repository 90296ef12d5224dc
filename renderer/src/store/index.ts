/**
 * The renderer's one store: zustand/vanilla `createStore` over six slices. React binds to it with `useMesh`
 * (see ../hooks.ts); tests drive it directly, without React.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MeshApi } from '../../../main/contract/api.js';
import { createGraphSlice } from './graph-slice.js';
import { createRulesSlice } from './rules-slice.js';
import { createSecuritySlice } from './security-slice.js';
import { createServicesSlice } from './services-slice.js';
import { createTrafficSlice, SESSIONS_REFRESH_MS } from './traffic-slice.js';
import type { Deps, MeshState, StoreDeps } from './types.js';
import { createUiSlice } from './ui-slice.js';

export type { MeshState, StoreDeps };
export type MeshStore = StoreApi<MeshState>;

export function createMeshStore(opts: StoreDeps): MeshStore {
  const deps: Deps = {
    api: opts.api,
    now: opts.now ?? (() => Date.now()),
    storage: opts.storage ?? null,
    prefersDark: opts.prefersDark ?? false,
    batchMs: opts.batchMs ?? 100,
    validateDelayMs: opts.validateDelayMs ?? 300,
    sessionsRefreshMs: opts.sessionsRefreshMs ?? SESSIONS_REFRESH_MS
  };
  return createStore<MeshState>()((...a) => ({
    ...createServicesSlice(deps)(...a),
    ...createRulesSlice(deps)(...a),
    ...createTrafficSlice(deps)(...a),
    ...createSecuritySlice(deps)(...a),
    ...createGraphSlice(deps)(...a),
    ...createUiSlice(deps)(...a)
  }));
}

/** Feed the engine's events into the store; returns the unsubscribe function. */
export function connectEvents(store: MeshStore, api: MeshApi): () => void {
  return api.onEvent((event) => store.getState().ingest(event));
}
