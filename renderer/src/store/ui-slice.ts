/**
 * UI slice: the current view, theme, connection state, the first-load `ready` flag, the clock tick for sliding
 * windows, and the engine event router (`ingest`) that feeds the other slices' actions in batches.
 */
import type { FlowStart, MeshEvent, StoreTotals } from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import type { LogEvent } from './services-slice.js';
import type { SliceCreator } from './types.js';

export type View = 'services' | 'rules' | 'traffic' | 'security' | 'graph' | 'metrics';
export const VIEWS: View[] = ['services', 'rules', 'traffic', 'security', 'graph', 'metrics'];
export type Theme = 'light' | 'dark';
export type Connection = 'connecting' | 'connected' | 'disconnected';

export const THEME_KEY = 'localmesh.theme';

export interface Banner extends ErrorInfo {
  source: 'load' | 'connection';
}

export interface UiSlice {
  view: View;
  theme: Theme;
  /** True once the user picked a theme (then the system setting no longer changes it). */
  themeFromUser: boolean;
  connection: Connection;
  /** The first load of workloads and config succeeded. */
  ready: boolean;
  banner: Banner | null;
  /** Clock reading used by the sliding-window selectors; advanced by `tick`. */
  now: number;
  setView(view: View): void;
  toggleTheme(): void;
  setSystemTheme(dark: boolean): void;
  tick(): void;
  init(): Promise<void>;
  checkHealth(): Promise<void>;
  dismissBanner(): void;
  ingest(event: MeshEvent): void;
  /** Read everything afresh after events were missed (a `resync` event), leaving the connection state as it is. */
  resync(): Promise<void>;
  flushEvents(): void;
}

export function isView(v: unknown): v is View {
  return typeof v === 'string' && (VIEWS as string[]).includes(v);
}

export const createUiSlice: SliceCreator<UiSlice> = (deps) => (set, get) => {
  let pending: MeshEvent[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;

  const stored = deps.storage?.getItem(THEME_KEY);
  const storedTheme = stored === 'light' || stored === 'dark' ? stored : null;

  async function loadAll(): Promise<boolean> {
    const s = get();
    const [workloadsOk, configOk] = await Promise.all([
      s.loadWorkloads(),
      s.loadConfig(),
      s.loadFiles(),
      s.loadFlows(),
      // the status bar counts the store's flows from the sessions' counts
      s.loadSessions(),
      // The security view loads when it is first opened; after a reconnect it is refreshed with the rest.
      s.securityStatus === 'idle' ? Promise.resolve(true) : s.loadSecurity({ quiet: true }),
      // the logs opened before: what the engine printed while the connection was down
      s.reloadLogs()
    ]);
    return workloadsOk && configOk;
  }

  return {
    view: 'services',
    theme: storedTheme ?? (deps.prefersDark ? 'dark' : 'light'),
    themeFromUser: storedTheme !== null,
    connection: 'connecting',
    ready: false,
    banner: null,
    now: deps.now(),

    setView(view) {
      set({ view });
      // Certificates rotate without a config event: fetch the security view each time it is opened.
      if (view === 'security') void get().loadSecurity({ quiet: true });
    },

    toggleTheme() {
      const theme: Theme = get().theme === 'dark' ? 'light' : 'dark';
      try {
        deps.storage?.setItem(THEME_KEY, theme);
      } catch {
        // Storage may be unavailable (private mode); the choice then lasts for this window only.
      }
      set({ theme, themeFromUser: true });
    },

    setSystemTheme(dark) {
      if (!get().themeFromUser) set({ theme: dark ? 'dark' : 'light' });
    },

    tick() {
      set({ now: deps.now() });
    },

    async init() {
      set({ connection: 'connecting' });
      const ok = await loadAll();
      if (ok) {
        set({ ready: true, connection: 'connected', banner: null });
      } else {
        const s = get();
        const err = s.workloadsError ?? s.configError ?? { code: 'LM500', message: 'The mesh did not answer.' };
        set({ connection: 'disconnected', banner: { ...err, source: 'load' } });
      }
    },

    async checkHealth() {
      try {
        await deps.api.health();
        const was = get().connection;
        if (was === 'connected') return;
        set({ connection: 'connected' });
        if (get().banner?.source === 'connection') set({ banner: null });
        // Back after a drop (or the first load failed): load everything again.
        if (was === 'disconnected') await get().init();
      } catch (err) {
        const e = toErrorInfo(err);
        // the same trouble as already shown stays as it is; another one (an engine back with a new token) replaces it
        if (get().connection === 'disconnected' && get().banner && get().banner?.code === e.code) return;
        // the end of a request in flight may come while the events cannot reach this window: forget them
        get().dropPendingFlows();
        set({
          connection: 'disconnected',
          banner: {
            code: e.code,
            message:
              e.code === 'LM204'
                ? `The mesh engine answers again but not to this window: a new run has a new token. ${e.message}`
                : `Lost the connection to the mesh engine: ${e.message}`,
            source: 'connection'
          }
        });
      }
    },

    async resync() {
      get().dropPendingFlows();
      await loadAll();
    },

    dismissBanner() {
      set({ banner: null });
    },

    ingest(event) {
      pending.push(event);
      if (deps.batchMs <= 0) {
        get().flushEvents();
        return;
      }
      if (flushTimer === undefined) {
        flushTimer = setTimeout(() => get().flushEvents(), deps.batchMs);
      }
    },

    flushEvents() {
      clearTimeout(flushTimer);
      flushTimer = undefined;
      const events = pending;
      pending = [];
      if (events.length === 0) return;
      const s = get();
      const flows = [];
      const starts: FlowStart[] = [];
      const logs: LogEvent[] = [];
      let resync = false;
      let totals: StoreTotals | null = null;
      for (const e of events) {
        if (e.type === 'flow') flows.push(e.flow);
        else if (e.type === 'flow-start') starts.push(e.flow);
        else if (e.type === 'log') logs.push(e);
        else if (e.type === 'process') s.applyProcess(e.workload, e.process);
        else if (e.type === 'config') s.applyReload(e.reload);
        else if (e.type === 'store') totals = e.store;
        else if (e.type === 'resync') resync = true;
      }
      // a request that started and ended within the batch is never shown pending (its flow follows its start)
      const ended = flows.length > 0 && starts.length > 0 ? new Set(flows.map((f) => f.id)) : null;
      s.startFlows(ended ? starts.filter((x) => !ended.has(x.id)) : starts);
      s.appendFlows(flows);
      // the store's totals after the flows the batch counted into the sessions, so that they are checked against them
      // (a `store` event comes after the flows its commit held: applied before them, the sessions' counts agreed, and
      // the flows then counted left them off with nothing to check them again)
      if (totals !== null) s.applyStoreTotals(totals);
      s.appendLogs(logs);
      // events were missed (the window fell behind, or its stream was opened again): what was built from them may be
      // wrong, so read everything afresh; requests shown in flight may have ended unseen
      if (resync) void s.resync();
    }
  };
};
