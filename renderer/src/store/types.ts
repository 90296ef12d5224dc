/**
 * The store's shape: one zustand store built from six slices (services, rules, traffic, security, graph, ui), each a
 * `StateCreator<MeshState, [], [], Slice>` made by a factory that receives the injected dependencies.
 */
import type { StateCreator } from 'zustand/vanilla';
import type { MeshApi } from '../../../main/contract/api.js';
import type { ErrorInfo } from '../lib/errors.js';
import type { GraphSlice } from './graph-slice.js';
import type { ServicesSlice } from './services-slice.js';
import type { RulesSlice } from './rules-slice.js';
import type { SecuritySlice } from './security-slice.js';
import type { TrafficSlice } from './traffic-slice.js';
import type { UiSlice } from './ui-slice.js';

export type { ErrorInfo };

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface StoreDeps {
  api: MeshApi;
  /** Wall clock in ms (sliding-window stats); injected so tests control time. */
  now?: () => number;
  /** Where the theme choice is persisted (localStorage in the app); null for none. */
  storage?: KeyValueStorage | null;
  /** The system colour scheme when the store is created. */
  prefersDark?: boolean;
  /** Stream events are applied in batches every `batchMs` (default 100); 0 applies each event at once. */
  batchMs?: number;
  /** Debounce of live validation while typing (default 300 ms). */
  validateDelayMs?: number;
  /** The shortest time between two listings of the sessions the store's totals ask for (SESSIONS_REFRESH_MS). */
  sessionsRefreshMs?: number;
}

export type Deps = Required<StoreDeps>;

export type MeshState = ServicesSlice & RulesSlice & TrafficSlice & SecuritySlice & GraphSlice & UiSlice;

export type SliceCreator<T> = (deps: Deps) => StateCreator<MeshState, [], [], T>;
