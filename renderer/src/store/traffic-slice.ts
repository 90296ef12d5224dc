/**
 * Traffic slice: the captured flows (initial page from listFlows, then live `flow` events), pause/clear, the
 * filters, the keyboard selection and the detail pane (getFlow for bodies).
 */
import type { FlowRecord } from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import { selectFilteredFlows } from './selectors.js';
import type { LoadStatus, SliceCreator } from './types.js';

/** Flows kept in the window (the engine keeps its own, larger store; the detail pane fetches bodies from it). */
export const MAX_FLOWS = 5000;
/** Flows fetched when the view starts. */
export const INITIAL_FLOWS = 1000;

export type StatusFilter = '' | '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'none';

export interface FlowFilters {
  /** Destination service short name; '' for all. */
  service: string;
  status: StatusFilter;
  /** '' all, 'any' some flag, 'none' no flag, or one Envoy flag such as 'UF'. */
  flag: string;
  text: string;
}

export const NO_FILTERS: FlowFilters = { service: '', status: '', flag: '', text: '' };

export interface FlowDetail {
  id: string;
  flow: FlowRecord | null;
  loading: boolean;
  error: ErrorInfo | null;
}

export interface TrafficSlice {
  flows: FlowRecord[];
  flowsStatus: LoadStatus;
  flowsError: ErrorInfo | null;
  paused: boolean;
  /** Flow events dropped while paused. */
  missed: number;
  filters: FlowFilters;
  selectedId: string | null;
  detail: FlowDetail | null;
  clearError: ErrorInfo | null;
  loadFlows(): Promise<void>;
  appendFlows(flows: FlowRecord[]): void;
  setPaused(paused: boolean): void;
  clearFlows(): Promise<void>;
  setFilter(patch: Partial<FlowFilters>): void;
  resetFilters(): void;
  selectFlow(id: string | null): void;
  moveSelection(delta: number): void;
  openDetail(id?: string): Promise<void>;
  closeDetail(): void;
}

/** Bodies are only needed by the detail pane, which fetches them with getFlow; keep the list light. */
function withoutBodies(f: FlowRecord): FlowRecord {
  if (f.requestBody === undefined && f.responseBody === undefined) return f;
  const light = { ...f };
  delete light.requestBody;
  delete light.responseBody;
  return light;
}

function capped(flows: FlowRecord[]): FlowRecord[] {
  return flows.length > MAX_FLOWS ? flows.slice(flows.length - MAX_FLOWS) : flows;
}

export const createTrafficSlice: SliceCreator<TrafficSlice> = (deps) => (set, get) => ({
  flows: [],
  flowsStatus: 'idle',
  flowsError: null,
  paused: false,
  missed: 0,
  filters: NO_FILTERS,
  selectedId: null,
  detail: null,
  clearError: null,

  async loadFlows() {
    set({ flowsStatus: 'loading', flowsError: null });
    try {
      const listed = (await deps.api.listFlows({ limit: INITIAL_FLOWS })).map(withoutBodies);
      set((s) => {
        // Live events may have arrived while the list was on its way: keep them after the listed ones.
        const ids = new Set(listed.map((f) => f.id));
        return { flows: capped([...listed, ...s.flows.filter((f) => !ids.has(f.id))]), flowsStatus: 'ready' };
      });
    } catch (err) {
      set({ flowsStatus: 'error', flowsError: toErrorInfo(err) });
    }
  },

  appendFlows(incoming) {
    if (incoming.length === 0) return;
    if (get().paused) {
      set((s) => ({ missed: s.missed + incoming.length }));
      return;
    }
    set((s) => {
      const ids = new Set(s.flows.map((f) => f.id));
      const fresh: FlowRecord[] = [];
      for (const f of incoming) {
        if (ids.has(f.id)) continue;
        ids.add(f.id);
        fresh.push(withoutBodies(f));
      }
      return fresh.length === 0 ? {} : { flows: capped([...s.flows, ...fresh]) };
    });
  },

  setPaused(paused) {
    set(paused ? { paused } : { paused, missed: 0 });
  },

  async clearFlows() {
    set({ clearError: null });
    try {
      await deps.api.clearFlows();
      set({ flows: [], selectedId: null, detail: null, missed: 0 });
    } catch (err) {
      set({ clearError: toErrorInfo(err) });
    }
  },

  setFilter(patch) {
    set((s) => ({ filters: { ...s.filters, ...patch } }));
  },

  resetFilters() {
    set({ filters: NO_FILTERS });
  },

  selectFlow(id) {
    set({ selectedId: id });
  },

  moveSelection(delta) {
    const list = selectFilteredFlows(get());
    if (list.length === 0) return;
    const { selectedId, detail } = get();
    const at = selectedId === null ? -1 : list.findIndex((f) => f.id === selectedId);
    // Without a selection, Down/PageDown/End count from before the first row, Up/PageUp/Home from after the last.
    const from = at >= 0 ? at : delta > 0 ? -1 : list.length;
    const next = Math.max(0, Math.min(list.length - 1, from + delta));
    const id = list[next]!.id;
    set({ selectedId: id });
    if (detail && detail.id !== id) void get().openDetail(id);
  },

  async openDetail(id) {
    const target = id ?? get().selectedId;
    if (target === null) return;
    const listed = get().flows.find((f) => f.id === target) ?? null;
    set({ selectedId: target, detail: { id: target, flow: listed, loading: true, error: null } });
    try {
      const flow = await deps.api.getFlow({ id: target });
      if (get().detail?.id === target) set({ detail: { id: target, flow, loading: false, error: null } });
    } catch (err) {
      if (get().detail?.id === target)
        set({ detail: { id: target, flow: listed, loading: false, error: toErrorInfo(err) } });
    }
  },

  closeDetail() {
    set({ detail: null });
  }
});
