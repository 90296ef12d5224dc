/**
 * Traffic slice: captured flows and everything the Traffic view does with them.
 *
 * Two lists:
 *  - `flows`: the live window (the newest INITIAL_FLOWS from listFlows, then every live `flow` event), unfiltered.
 *    The Services stats, the Security overlay and the status bar read it.
 *  - `trafficFlows`: the Traffic list, in start order (lib/live-flows.ts). Filters are server-side queries: a filter
 *    change reloads it from `listFlows(query)` (text input debounced), live events are put in where they started
 *    when they match (`matchesFilter`), and "load older" pages back with `before` (the oldest recorded flow held:
 *    the store pages in recorded order). History comes from the engine's store, so it survives restarts.
 *  - `pendingFlows`: requests in flight (`flow-start` events), shown among the flows until their `flow` arrives.
 *
 * Plus capture sessions (list, record, stop, delete), HAR export/import, replay, flow and session comparison, and
 * the trace of the open flow.
 */
import type {
  FlowComparison,
  FlowRecord,
  FlowStart,
  Har,
  ReplayRequest,
  SessionComparison,
  SessionView,
  StoreTotals,
  TraceView
} from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import { filtersToQuery, matchesFilter, NO_FILTERS, sameFilters, type FlowFilters } from '../lib/flow-query.js';
import { harFileName, parseHar } from '../lib/har.js';
import { addInStartOrder, inStartOrder, pendingRecord, type ListedFlow } from '../lib/live-flows.js';
import { sessionTitle } from '../lib/sessions.js';
import { selectFilteredFlows } from './selectors.js';
import type { LoadStatus, SliceCreator } from './types.js';

export type { FlowFilters, StatusFilter } from '../lib/flow-query.js';
export { NO_FILTERS } from '../lib/flow-query.js';

/** Flows kept in each list (the engine keeps its own, larger store; the detail pane fetches bodies from it). */
export const MAX_FLOWS = 5000;
/**
 * The shortest time between two listings of the sessions that the store's totals ask for (refreshSessions). The
 * engine answers one by reading a row per session once its writer thread committed what it holds, holding neither
 * the thread that forwards requests (it was a scan of every stored flow, 63-68 ms of that thread at the default 100k
 * flows, when this was 10 s), but each listing makes the writer commit early: at most one every 2 s while the
 * Sessions panel is open.
 */
export const SESSIONS_REFRESH_MS = 2_000;

/** Flows fetched when the view starts and when the filters change. */
export const INITIAL_FLOWS = 1000;
/** Flows fetched per "load older". */
export const OLDER_PAGE = 500;
/** Debounce of the text filter before the list is queried again. */
export const TEXT_FILTER_DELAY_MS = 200;
/** Requests in flight shown at most (the oldest give way; their flows still show when they end). */
export const MAX_PENDING = 1000;

export interface FlowDetail {
  id: string;
  flow: FlowRecord | null;
  loading: boolean;
  error: ErrorInfo | null;
}

export interface SessionOp {
  pending: 'start' | 'stop' | 'delete' | null;
  /** The session being deleted. */
  id: number | null;
  error: ErrorInfo | null;
}

export interface HarState {
  op: 'idle' | 'exporting' | 'importing';
  error: ErrorInfo | null;
}

export interface ReplayState {
  sending: boolean;
  /** The flow being (or last) replayed. */
  forId: string | null;
  error: ErrorInfo | null;
}

export interface CompareState {
  /** Flows marked for comparison, in order: [A] or [A, B]. */
  ids: string[];
  /** The comparison is shown. */
  open: boolean;
  status: LoadStatus;
  error: ErrorInfo | null;
  result: FlowComparison | null;
}

export interface SessionCompareState {
  /** Sessions picked for comparison, in order: [A] or [A, B]. */
  ids: number[];
  open: boolean;
  status: LoadStatus;
  error: ErrorInfo | null;
  result: SessionComparison | null;
}

export interface TraceState {
  traceId: string;
  status: LoadStatus;
  error: ErrorInfo | null;
  view: TraceView | null;
}

export interface TrafficSlice {
  /** The live window: every flow (unfiltered), newest last. */
  flows: FlowRecord[];
  flowsStatus: LoadStatus;
  flowsError: ErrorInfo | null;
  /**
   * The Traffic list: the flows the filters' query returned, plus matching live flows; in start order (the Time
   * column), the latest start last.
   */
  trafficFlows: FlowRecord[];
  /**
   * Requests in flight (announced by `flow-start`, not ended yet), unfiltered, in start order: the list shows those
   * that match the filters among the flows (selectFilteredFlows). Each goes when its `flow` arrives; all go when
   * the connection to the engine is lost (an end may have been missed meanwhile).
   */
  pendingFlows: ListedFlow[];
  listStatus: LoadStatus;
  listError: ErrorInfo | null;
  /** The store may hold older flows for the query ("load older"). */
  hasOlder: boolean;
  olderStatus: LoadStatus;
  olderError: ErrorInfo | null;
  paused: boolean;
  /** Flow events dropped while paused. */
  missed: number;
  filters: FlowFilters;
  selectedId: string | null;
  detail: FlowDetail | null;
  clearError: ErrorInfo | null;
  sessions: SessionView[];
  sessionsStatus: LoadStatus;
  sessionsError: ErrorInfo | null;
  /**
   * What the engine's store holds, as its last `store` event said (null until one came: an engine without them).
   * It follows the store's content, retention's deletions included, which the sessions' counts here do not (they
   * only add the flows that arrive, until the sessions are listed again).
   */
  storeTotals: StoreTotals | null;
  sessionOp: SessionOp;
  /** The sessions panel is open. */
  sessionsOpen: boolean;
  har: HarState;
  replay: ReplayState;
  compare: CompareState;
  sessionCompare: SessionCompareState;
  trace: TraceState | null;

  loadFlows(): Promise<void>;
  /** Query the Traffic list again for the current filters. */
  reloadList(): Promise<void>;
  loadOlder(): Promise<void>;
  appendFlows(flows: FlowRecord[]): void;
  /** Requests a sidecar started (`flow-start` events): pending rows until their flows arrive. */
  startFlows(starts: FlowStart[]): void;
  /** Forget every pending row (the connection to the engine was lost: their ends may never be seen). */
  dropPendingFlows(): void;
  /** What the engine's store holds now (a `store` event). */
  applyStoreTotals(totals: StoreTotals): void;
  setPaused(paused: boolean): void;
  /** Clear the captured flows (in the engine too); false when it failed (see `clearError`). */
  clearFlows(): Promise<boolean>;
  setFilter(patch: Partial<FlowFilters>): void;
  resetFilters(): void;
  selectFlow(id: string | null): void;
  moveSelection(delta: number): void;
  openDetail(id?: string): Promise<void>;
  closeDetail(): void;

  loadSessions(): Promise<void>;
  toggleSessions(open?: boolean): void;
  /** Show one session's flows (null: all sessions). */
  selectSession(id: number | null): void;
  startRecording(label?: string): Promise<SessionView | null>;
  stopRecording(): Promise<SessionView | null>;
  deleteSession(id: number): Promise<boolean>;
  clearSessionError(): void;

  /** HAR of the current filters (or the selected session); null when it failed (see `har.error`). */
  exportHar(): Promise<{ har: Har; fileName: string } | null>;
  /** Import a HAR file's text as a new read-only session and show it. */
  importHar(text: string, fileName: string): Promise<SessionView | null>;
  clearHarError(): void;

  /** Resend a flow (optionally edited); on success the new flow is selected and opened. */
  replayFlow(req: ReplayRequest): Promise<FlowRecord | null>;
  clearReplayError(): void;

  /** Mark or unmark a flow for comparison (at most two: a third mark drops the oldest). */
  markForCompare(id: string): void;
  clearCompareMarks(): void;
  /** Compare the two marked flows. */
  compareMarked(): Promise<void>;
  compareFlows(a: string, b: string): Promise<void>;
  closeCompare(): void;
  /** Pick or unpick a session for comparison (at most two). */
  pickSessionForCompare(id: number): void;
  compareSessions(a?: number, b?: number): Promise<void>;
  closeSessionCompare(): void;

  loadTrace(traceId: string, opts?: { force?: boolean }): Promise<void>;
}

/** Bodies are only needed by the detail pane, which fetches them with getFlow; keep the lists light. */
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

/**
 * A freshly listed page merged with what the list held. With `snapshot` (the ids held when the request was sent),
 * only flows that arrived live meanwhile stay, after the page: the page is the truth for everything else (a
 * deleted session, a changed filter). Without it (the first load, a reconnect), held flows not older than the
 * page's newest one stay: live events may have been shown before the store had them.
 */
function mergeListed(
  listed: FlowRecord[],
  held: FlowRecord[],
  keep: (f: FlowRecord) => boolean,
  snapshot?: Set<string>
): FlowRecord[] {
  const ids = new Set(listed.map((f) => f.id));
  const newest = listed.at(-1)?.startedAt;
  const live = held.filter(
    (f) => !ids.has(f.id) && keep(f) && (snapshot ? !snapshot.has(f.id) : newest === undefined || f.startedAt >= newest)
  );
  return capped(live.length === 0 ? listed : [...listed, ...live]);
}

const queryKey = (filters: FlowFilters): string => JSON.stringify(filtersToQuery(filters));

const NO_SESSION_OP: SessionOp = { pending: null, id: null, error: null };
const NO_COMPARE: CompareState = { ids: [], open: false, status: 'idle', error: null, result: null };
const NO_SESSION_COMPARE: SessionCompareState = { ids: [], open: false, status: 'idle', error: null, result: null };

export const createTrafficSlice: SliceCreator<TrafficSlice> = (deps) => (set, get) => {
  /** Bumped by every list (re)load; an answer for an older number is stale. */
  let listSeq = 0;
  /**
   * The oldest flow the list's pages hold, by when it was recorded: the `before` of the next older page (the store
   * pages in that order, while the list is in start order).
   */
  let olderCursor: string | undefined;
  let textTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The request open in the detail pane, when it was listed before a change that may take it off the list (the
   * filters, a deleted session): checked once the list is what the change made it.
   */
  let detailWatch: string | null = null;

  const isListed = (id: string): boolean => selectFilteredFlows(get()).some((f) => f.id === id);

  function watchDetail(): void {
    const d = get().detail;
    // a request opened from elsewhere (a hop of its trace, a replay the filters hide) was not listed: it stays
    if (d !== null && detailWatch === null && isListed(d.id)) detailWatch = d.id;
  }

  /** The watched request left the list: close its detail rather than show a request the list no longer has. */
  function dropLeftDetail(settled: boolean): void {
    const id = detailWatch;
    if (id === null) return;
    if (get().detail?.id !== id) detailWatch = null;
    else if (!isListed(id)) {
      detailWatch = null;
      set((s) => ({ detail: null, selectedId: s.selectedId === id ? null : s.selectedId }));
    } else if (settled) detailWatch = null;
  }

  const currentSession = (): number | null => get().sessions.find((s) => s.current)?.id ?? null;
  const matchesNow = (f: FlowRecord): boolean => matchesFilter(f, get().filters, { currentSession: currentSession() });

  /** Put a flow the user caused (a replay) into the lists, whatever pause says. */
  function insertFlow(f: FlowRecord): void {
    const light = withoutBodies(f);
    const matches = matchesNow(light);
    set((s) => ({
      flows: s.flows.some((x) => x.id === f.id) ? s.flows : capped([...s.flows, light]),
      trafficFlows:
        !matches || s.trafficFlows.some((x) => x.id === f.id)
          ? s.trafficFlows
          : capped(addInStartOrder(s.trafficFlows, [light]))
    }));
  }

  /** The sessions are listed and their counts do not add up to what the store says it holds. */
  function sessionsDisagree(): boolean {
    const { sessions, sessionsStatus, storeTotals } = get();
    if (storeTotals === null || sessionsStatus !== 'ready' || sessions.length === 0) return false;
    return sessions.reduce((n, x) => n + x.flows, 0) !== storeTotals.flows;
  }

  /**
   * One listing of the sessions at a time; when it ends, the latest totals are checked against it again. Listing them
   * makes the engine's writer thread commit what it holds, and with retention deleting a `store` event comes with
   * every commit (about 4 a second under load): so a listing for totals happens only while the Sessions panel shows
   * the counts (opening it lists them) and at most once per `sessionsRefreshMs` (SESSIONS_REFRESH_MS), the last
   * totals checked when that time is up.
   */
  let refreshing = false;
  let lastRefresh = -Infinity;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  function refreshSessions(): void {
    if (!get().sessionsOpen || refreshing) return; // a listing in flight is checked against the totals when it ends
    const wait = lastRefresh + deps.sessionsRefreshMs - deps.now();
    if (wait > 0) {
      // a disagreement was seen: list when the time is up, whatever else is loading then (no totals may come again)
      refreshTimer ??= setTimeout(() => {
        refreshTimer = undefined;
        refreshSessions();
      }, wait);
      return;
    }
    lastRefresh = deps.now();
    refreshing = true;
    void get()
      .loadSessions()
      .finally(() => {
        refreshing = false;
        // totals that came while it ran (or flows counted since) may disagree with what it listed: again, in time
        if (sessionsDisagree()) refreshSessions();
      });
  }

  function bumpSessionCounts(incoming: FlowRecord[]): void {
    const sessions = get().sessions;
    if (sessions.length === 0) return;
    const current = sessions.find((s) => s.current)?.id;
    const counts = new Map<number, number>();
    for (const f of incoming) {
      const id = f.sessionId ?? current;
      if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    if (counts.size === 0) return;
    set({ sessions: sessions.map((s) => (counts.has(s.id) ? { ...s, flows: s.flows + counts.get(s.id)! } : s)) });
  }

  return {
    flows: [],
    flowsStatus: 'idle',
    flowsError: null,
    trafficFlows: [],
    pendingFlows: [],
    listStatus: 'idle',
    listError: null,
    hasOlder: false,
    olderStatus: 'idle',
    olderError: null,
    paused: false,
    missed: 0,
    filters: NO_FILTERS,
    selectedId: null,
    detail: null,
    clearError: null,
    sessions: [],
    sessionsStatus: 'idle',
    sessionsError: null,
    storeTotals: null,
    sessionOp: NO_SESSION_OP,
    sessionsOpen: false,
    har: { op: 'idle', error: null },
    replay: { sending: false, forId: null, error: null },
    compare: NO_COMPARE,
    sessionCompare: NO_SESSION_COMPARE,
    trace: null,

    async loadFlows() {
      const filters = get().filters;
      const query = filtersToQuery(filters);
      const separate = Object.keys(query).length > 0;
      const token = ++listSeq;
      set({ flowsStatus: 'loading', flowsError: null, listStatus: 'loading', listError: null });
      let listed: FlowRecord[];
      try {
        listed = (await deps.api.listFlows({ limit: INITIAL_FLOWS })).map(withoutBodies);
      } catch (err) {
        const e = toErrorInfo(err);
        set({ flowsStatus: 'error', flowsError: e });
        if (token === listSeq) set({ listStatus: 'error', listError: e });
        return;
      }
      // Live events may have arrived while the list was on its way: keep them after the listed ones.
      set((s) => ({ flows: mergeListed(listed, s.flows, () => true), flowsStatus: 'ready' }));
      if (token !== listSeq) return; // the filters changed meanwhile: that reload fills the list
      if (separate) {
        await get().reloadList();
        return;
      }
      olderCursor = listed[0]?.id;
      set((s) => ({
        trafficFlows: inStartOrder(mergeListed(listed, s.trafficFlows, matchesNow)),
        hasOlder: listed.length >= INITIAL_FLOWS,
        listStatus: 'ready',
        olderStatus: 'idle',
        olderError: null
      }));
    },

    async reloadList() {
      clearTimeout(textTimer);
      textTimer = undefined;
      const token = ++listSeq;
      const filters = get().filters;
      const snapshot = new Set(get().trafficFlows.map((f) => f.id));
      set({ listStatus: 'loading', listError: null, olderStatus: 'idle', olderError: null });
      try {
        const listed = (await deps.api.listFlows({ ...filtersToQuery(filters), limit: INITIAL_FLOWS })).map(
          withoutBodies
        );
        if (token !== listSeq) return;
        olderCursor = listed[0]?.id;
        set((s) => ({
          trafficFlows: inStartOrder(mergeListed(listed, s.trafficFlows, matchesNow, snapshot)),
          hasOlder: listed.length >= INITIAL_FLOWS,
          listStatus: 'ready'
        }));
        dropLeftDetail(true);
      } catch (err) {
        if (token === listSeq) set({ listStatus: 'error', listError: toErrorInfo(err) });
      }
    },

    async loadOlder() {
      const s = get();
      const before = olderCursor ?? s.trafficFlows[0]?.id;
      if (!s.hasOlder || !before || s.olderStatus === 'loading' || s.listStatus === 'loading') return;
      const room = MAX_FLOWS - s.trafficFlows.length;
      if (room <= 0) return;
      const limit = Math.min(OLDER_PAGE, room);
      const token = listSeq;
      set({ olderStatus: 'loading', olderError: null });
      try {
        const older = (await deps.api.listFlows({ ...filtersToQuery(s.filters), before, limit })).map(withoutBodies);
        if (token !== listSeq) {
          set({ olderStatus: 'idle' });
          return;
        }
        if (older[0]) olderCursor = older[0].id;
        set((st) => {
          const ids = new Set(st.trafficFlows.map((f) => f.id));
          const fresh = older.filter((f) => !ids.has(f.id));
          return {
            trafficFlows: fresh.length === 0 ? st.trafficFlows : inStartOrder([...fresh, ...st.trafficFlows]),
            hasOlder: older.length >= limit,
            olderStatus: 'ready'
          };
        });
      } catch (err) {
        if (token === listSeq) set({ olderStatus: 'error', olderError: toErrorInfo(err) });
      }
    },

    appendFlows(incoming) {
      if (incoming.length === 0) return;
      // their requests ended: the pending rows go (paused or not), replaced in place by the flows when they match
      const pending = get().pendingFlows;
      if (pending.length > 0) {
        const ended = new Set(incoming.map((f) => f.id));
        const left = pending.filter((p) => !ended.has(p.id));
        if (left.length !== pending.length) {
          set({ pendingFlows: left });
          const open = get().detail;
          // the request open in the detail pane ended: show its flow (once it is in the lists, below)
          if (open && open.flow === null && ended.has(open.id)) queueMicrotask(() => void get().openDetail(open.id));
        }
      }
      bumpSessionCounts(incoming);
      if (get().paused) {
        set((s) => ({ missed: s.missed + incoming.length }));
        return;
      }
      const opts = { currentSession: currentSession() };
      set((s) => {
        const ids = new Set(s.flows.map((f) => f.id));
        const listIds = new Set(s.trafficFlows.map((f) => f.id));
        const fresh: FlowRecord[] = [];
        const listFresh: FlowRecord[] = [];
        for (const f of incoming) {
          const light = withoutBodies(f);
          if (!ids.has(f.id)) {
            ids.add(f.id);
            fresh.push(light);
          }
          if (!listIds.has(f.id) && matchesFilter(light, s.filters, opts)) {
            listIds.add(f.id);
            listFresh.push(light);
          }
        }
        const out: Partial<TrafficSlice> = {};
        if (fresh.length > 0) out.flows = capped([...s.flows, ...fresh]);
        if (listFresh.length > 0) {
          const next = addInStartOrder(s.trafficFlows, listFresh);
          out.trafficFlows = capped(next);
          // The oldest flows left the window: they can be paged back in.
          if (next.length > MAX_FLOWS) out.hasOlder = true;
        }
        return out;
      });
    },

    startFlows(starts) {
      // a paused list takes no new rows (the requests are listed with their flows on resume)
      if (starts.length === 0 || get().paused) return;
      set((s) => {
        const known = new Set(s.pendingFlows.map((p) => p.id));
        const fresh: ListedFlow[] = [];
        for (const st of starts) {
          if (known.has(st.id)) continue;
          known.add(st.id);
          fresh.push(pendingRecord(st));
        }
        if (fresh.length === 0) return {};
        const next = addInStartOrder(s.pendingFlows, fresh);
        return { pendingFlows: next.length > MAX_PENDING ? next.slice(next.length - MAX_PENDING) : next };
      });
    },

    dropPendingFlows() {
      if (get().pendingFlows.length > 0) set({ pendingFlows: [] });
    },

    applyStoreTotals(totals) {
      set({ storeTotals: totals });
      // The sessions' counts only add the flows that arrive; retention's deletions (and a clear, a deleted session)
      // show in the totals: when they disagree, list the sessions again.
      if (sessionsDisagree()) refreshSessions();
    },

    setPaused(paused) {
      const missed = get().missed;
      set(paused ? { paused } : { paused, missed: 0 });
      // the requests captured while paused are in the engine: list them now
      if (!paused && missed > 0) void get().reloadList();
    },

    async clearFlows() {
      set({ clearError: null });
      try {
        await deps.api.clearFlows();
        ++listSeq;
        olderCursor = undefined;
        const current = currentSession();
        // imported sessions outlive a clear (the engine keeps them): a filter on one stays, and they are listed again
        const imports = new Set(
          get()
            .sessions.filter((x) => x.kind === 'import')
            .map((x) => x.id)
        );
        set((s) => ({
          flows: [],
          trafficFlows: [],
          hasOlder: false,
          selectedId: null,
          detail: null,
          missed: 0,
          compare: NO_COMPARE,
          // Ended captured sessions are gone with their flows: stop showing one.
          filters:
            s.filters.session !== null && s.filters.session !== current && !imports.has(s.filters.session)
              ? { ...s.filters, session: null }
              : s.filters
        }));
        if (get().sessionsStatus !== 'idle') void get().loadSessions();
        if (imports.size > 0) void get().reloadList();
        return true;
      } catch (err) {
        set({ clearError: toErrorInfo(err) });
        return false;
      }
    },

    setFilter(patch) {
      const prev = get().filters;
      const next = { ...prev, ...patch };
      if (sameFilters(prev, next) && prev.text === next.text) return;
      watchDetail();
      set({ filters: next });
      const local = queryKey(prev) === queryKey(next);
      // the structured filters narrow the list at once (the selector); the text waits for the query's answer
      dropLeftDetail(local);
      if (local) return; // client-side only (or whitespace): the selector handles it
      const onlyText = sameFilters({ ...prev, text: next.text }, next);
      clearTimeout(textTimer);
      textTimer = undefined;
      if (onlyText) {
        textTimer = setTimeout(() => {
          textTimer = undefined;
          void get().reloadList();
        }, TEXT_FILTER_DELAY_MS);
      } else {
        void get().reloadList();
      }
    },

    resetFilters() {
      get().setFilter(NO_FILTERS);
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
      const s = get();
      const listed = s.trafficFlows.find((f) => f.id === target) ?? s.flows.find((f) => f.id === target) ?? null;
      if (listed === null && s.pendingFlows.some((p) => p.id === target)) {
        // in flight: the store has no flow yet; the pane shows what the start told (PendingDetail) until it ends
        set({ selectedId: target, detail: { id: target, flow: null, loading: false, error: null } });
        return;
      }
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
    },

    /* ---------- sessions ---------- */

    async loadSessions() {
      set((s) => ({ sessionsStatus: s.sessionsStatus === 'ready' ? 'ready' : 'loading', sessionsError: null }));
      try {
        const sessions = await deps.api.listSessions();
        set({ sessions, sessionsStatus: 'ready' });
      } catch (err) {
        set({ sessionsStatus: 'error', sessionsError: toErrorInfo(err) });
      }
    },

    toggleSessions(open) {
      const next = open ?? !get().sessionsOpen;
      set({ sessionsOpen: next });
      if (next && get().sessionsStatus !== 'loading') void get().loadSessions();
    },

    selectSession(id) {
      get().setFilter({ session: id });
    },

    async startRecording(label) {
      const text = label?.trim() ?? '';
      set({ sessionOp: { pending: 'start', id: null, error: null } });
      try {
        const view = await deps.api.startSession(text === '' ? {} : { label: text });
        set({ sessionOp: NO_SESSION_OP });
        set((s) => ({ sessions: [...s.sessions.map((x) => ({ ...x, current: false })), view] }));
        void get().loadSessions();
        // Show the new recording (empty until requests arrive).
        get().setFilter({ session: view.id });
        return view;
      } catch (err) {
        set({ sessionOp: { pending: null, id: null, error: toErrorInfo(err) } });
        return null;
      }
    },

    async stopRecording() {
      set({ sessionOp: { pending: 'stop', id: null, error: null } });
      try {
        const ended = await deps.api.stopSession();
        set({ sessionOp: NO_SESSION_OP });
        await get().loadSessions();
        return ended;
      } catch (err) {
        set({ sessionOp: { pending: null, id: null, error: toErrorInfo(err) } });
        return null;
      }
    },

    async deleteSession(id) {
      set({ sessionOp: { pending: 'delete', id, error: null } });
      try {
        await deps.api.deleteSession({ id });
        watchDetail();
        set((s) => ({
          sessionOp: NO_SESSION_OP,
          sessions: s.sessions.filter((x) => x.id !== id),
          sessionCompare: s.sessionCompare.ids.includes(id) ? NO_SESSION_COMPARE : s.sessionCompare,
          // Its flows are gone from the store: drop them here too.
          flows: s.flows.some((f) => f.sessionId === id) ? s.flows.filter((f) => f.sessionId !== id) : s.flows
        }));
        if (get().filters.session === id) get().setFilter({ session: null });
        else void get().reloadList();
        void get().loadSessions();
        return true;
      } catch (err) {
        set({ sessionOp: { pending: null, id, error: toErrorInfo(err) } });
        return false;
      }
    },

    clearSessionError() {
      set({ sessionOp: NO_SESSION_OP });
    },

    /* ---------- HAR ---------- */

    async exportHar() {
      const s = get();
      set({ har: { op: 'exporting', error: null } });
      try {
        const har = await deps.api.exportHar(filtersToQuery(s.filters));
        const session = s.filters.session === null ? null : s.sessions.find((x) => x.id === s.filters.session);
        const fileName = harFileName(session, new Date(deps.now()));
        const n = har.log.entries.length;
        set({
          har: { op: 'idle', error: null },
          notice: { kind: 'ok', text: `Exported ${n.toLocaleString()} request${n === 1 ? '' : 's'} to ${fileName}.` }
        });
        return { har, fileName };
      } catch (err) {
        set({ har: { op: 'idle', error: toErrorInfo(err) } });
        return null;
      }
    },

    async importHar(text, fileName) {
      set({ har: { op: 'importing', error: null } });
      try {
        const har = parseHar(text, fileName);
        const view = await deps.api.importHar({ har, label: fileName });
        set((s) => ({
          har: { op: 'idle', error: null },
          sessions: s.sessions.some((x) => x.id === view.id) ? s.sessions : [...s.sessions, view],
          sessionsOpen: true,
          notice: {
            kind: 'ok',
            text: `Imported ${view.flows.toLocaleString()} request${view.flows === 1 ? '' : 's'} from ${fileName} as “${sessionTitle(view)}”.`
          }
        }));
        get().setFilter({ session: view.id });
        void get().loadSessions();
        return view;
      } catch (err) {
        set({ har: { op: 'idle', error: toErrorInfo(err) } });
        return null;
      }
    },

    clearHarError() {
      set((s) => ({ har: { ...s.har, error: null } }));
    },

    /* ---------- replay ---------- */

    async replayFlow(req) {
      set({ replay: { sending: true, forId: req.id, error: null } });
      try {
        const flow = await deps.api.replayFlow(req);
        set({ replay: { sending: false, forId: req.id, error: null } });
        insertFlow(flow);
        set({ selectedId: flow.id });
        await get().openDetail(flow.id);
        return flow;
      } catch (err) {
        set({ replay: { sending: false, forId: req.id, error: toErrorInfo(err) } });
        return null;
      }
    },

    clearReplayError() {
      set((s) => ({ replay: { ...s.replay, error: null } }));
    },

    /* ---------- compare ---------- */

    markForCompare(id) {
      // a request in flight has no flow to compare yet
      if (get().pendingFlows.some((p) => p.id === id)) return;
      set((s) => {
        const ids = s.compare.ids.includes(id) ? s.compare.ids.filter((x) => x !== id) : [...s.compare.ids, id];
        return { compare: { ...s.compare, ids: ids.slice(-2) } };
      });
    },

    clearCompareMarks() {
      set({ compare: NO_COMPARE });
    },

    async compareMarked() {
      const [a, b] = get().compare.ids;
      if (a !== undefined && b !== undefined) await get().compareFlows(a, b);
    },

    async compareFlows(a, b) {
      set({ compare: { ids: [a, b], open: true, status: 'loading', error: null, result: null } });
      const still = (): boolean => {
        const c = get().compare;
        return c.ids[0] === a && c.ids[1] === b && c.status === 'loading';
      };
      try {
        const result = await deps.api.compareFlows({ a, b });
        if (still()) set((s) => ({ compare: { ...s.compare, status: 'ready', result } }));
      } catch (err) {
        if (still()) set((s) => ({ compare: { ...s.compare, status: 'error', error: toErrorInfo(err) } }));
      }
    },

    closeCompare() {
      set((s) => ({ compare: { ...s.compare, open: false } }));
    },

    pickSessionForCompare(id) {
      set((s) => {
        const ids = s.sessionCompare.ids.includes(id)
          ? s.sessionCompare.ids.filter((x) => x !== id)
          : [...s.sessionCompare.ids, id];
        return { sessionCompare: { ...s.sessionCompare, ids: ids.slice(-2) } };
      });
    },

    async compareSessions(a, b) {
      const [pa, pb] = get().sessionCompare.ids;
      const x = a ?? pa;
      const y = b ?? pb;
      if (x === undefined || y === undefined) return;
      set({ sessionCompare: { ids: [x, y], open: true, status: 'loading', error: null, result: null } });
      const still = (): boolean => {
        const c = get().sessionCompare;
        return c.ids[0] === x && c.ids[1] === y && c.status === 'loading';
      };
      try {
        const result = await deps.api.compareSessions({ a: x, b: y });
        if (still()) set((s) => ({ sessionCompare: { ...s.sessionCompare, status: 'ready', result } }));
      } catch (err) {
        if (still())
          set((s) => ({ sessionCompare: { ...s.sessionCompare, status: 'error', error: toErrorInfo(err) } }));
      }
    },

    closeSessionCompare() {
      set((s) => ({ sessionCompare: { ...s.sessionCompare, open: false } }));
    },

    /* ---------- trace ---------- */

    async loadTrace(traceId, opts) {
      const t = get().trace;
      if (!opts?.force && t?.traceId === traceId && (t.status === 'loading' || t.status === 'ready')) return;
      set({ trace: { traceId, status: 'loading', error: null, view: null } });
      try {
        const view = await deps.api.getTrace({ traceId });
        if (get().trace?.traceId === traceId) set({ trace: { traceId, status: 'ready', error: null, view } });
      } catch (err) {
        if (get().trace?.traceId === traceId)
          set({ trace: { traceId, status: 'error', error: toErrorInfo(err), view: null } });
      }
    }
  };
};
