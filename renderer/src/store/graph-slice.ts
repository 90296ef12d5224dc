/**
 * Graph slice: the service graph (getGraph over a chosen window) and the per-service metrics series (getMetrics).
 *
 * Both are loaded while their view is on screen: the view calls `watchGraph()` / `watchMetrics()` when it mounts
 * and the returned function when it unmounts (reference counted, so React's double mount in StrictMode is fine).
 * While watched and live, the graph is refreshed every GRAPH_REFRESH_MS and soon after new flows arrive, at most
 * once per GRAPH_MIN_GAP_MS and never two refreshes at a time; the metrics every METRICS_REFRESH_MS.
 * A failed refresh keeps what is shown and says why (`graphError` with status 'ready').
 */
import type { GraphEdge, GraphView, MetricsSeries } from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import { shortService } from '../lib/format.js';
import { nodeService } from '../lib/graph-layout.js';
import { DEFAULT_GRAPH_WINDOW, DEFAULT_METRICS_WINDOW, stepFor } from '../lib/metrics.js';
import { servicesOf } from '../lib/quick.js';
import type { FlowFilters } from './traffic-slice.js';
import type { LoadStatus, MeshState, SliceCreator } from './types.js';

export const GRAPH_REFRESH_MS = 2000;
export const GRAPH_MIN_GAP_MS = 1000;
export const METRICS_REFRESH_MS = 5000;

export interface GraphSelection {
  kind: 'edge' | 'node';
  id: string;
}

export interface GraphSlice {
  graph: GraphView | null;
  graphStatus: LoadStatus;
  /** The last load error. With `graphStatus` 'ready' the graph shown is older than the last attempt. */
  graphError: ErrorInfo | null;
  graphWindowSec: number;
  /** Refresh while the view is open (the user can pause it to read a graph that stays still). */
  graphLive: boolean;
  /** Clock reading of the last successful load. */
  graphLoadedAt: number | null;
  /** The edge or node whose panel is open. */
  graphSelection: GraphSelection | null;

  /** Service short name the Metrics view shows; null before one is picked. */
  metricsService: string | null;
  metrics: MetricsSeries | null;
  metricsStatus: LoadStatus;
  metricsError: ErrorInfo | null;
  metricsWindowSec: number;
  metricsLoadedAt: number | null;

  /** Load (or, with `quiet`, refresh without a loading state) the graph. Resolves to success. */
  loadGraph(opts?: { quiet?: boolean }): Promise<boolean>;
  setGraphWindow(windowSec: number): void;
  setGraphLive(live: boolean): void;
  /** The Graph view is on screen: load now and keep it fresh. Returns the function to call when it goes away. */
  watchGraph(): () => void;
  selectGraphItem(selection: GraphSelection | null): void;
  /** Traffic, filtered to the calls of one edge (its caller and destination service). */
  showEdgeInTraffic(edgeId: string): void;
  /** Traffic, filtered to one node: a workload's calls (either end), unknown callers', or an external host's. */
  showNodeInTraffic(nodeId: string): void;
  /** The destination service of an edge if it is a service of the mesh (one a fault can be injected into). */
  edgeFaultTarget(edgeId: string): string | null;
  /** Open the quick-action fault form for the edge's destination service. False when it is not a mesh service. */
  injectFaultOnEdge(edgeId: string): boolean;

  loadMetrics(opts?: { quiet?: boolean }): Promise<boolean>;
  setMetricsService(service: string): void;
  setMetricsWindow(windowSec: number): void;
  /** The Metrics view is on screen: pick a service if none, load, and refresh. Returns the stop function. */
  watchMetrics(): () => void;
  /** Switch to the Metrics view for one service. */
  openMetrics(service: string): void;
}

/** Every Traffic filter that narrows the list, off (the session is left alone). */
const NARROWING_OFF: Partial<FlowFilters> = { service: '', caller: '', workload: '', status: '', flag: '', text: '' };

function findEdge(s: MeshState, id: string): GraphEdge | undefined {
  return s.graph?.edges.find((e) => e.id === id);
}

function selectionExists(graph: GraphView, sel: GraphSelection): boolean {
  return sel.kind === 'edge' ? graph.edges.some((e) => e.id === sel.id) : graph.nodes.some((n) => n.id === sel.id);
}

export const createGraphSlice: SliceCreator<GraphSlice> = (deps) => (set, get, store) => {
  let graphSeq = 0;
  let graphInFlight = 0;
  let lastGraphStart = Number.NEGATIVE_INFINITY;
  let refreshAgain = false;
  let graphWatchers = 0;
  let graphTimer: ReturnType<typeof setInterval> | undefined;
  let graphSoonTimer: ReturnType<typeof setTimeout> | undefined;
  let unsubscribeFlows: (() => void) | undefined;

  let metricsSeq = 0;
  let metricsInFlight = 0;
  let metricsWatchers = 0;
  let metricsTimer: ReturnType<typeof setInterval> | undefined;

  /** A quiet refresh as soon as allowed: never two at a time, never closer than GRAPH_MIN_GAP_MS. */
  function refreshSoon(): void {
    if (graphWatchers === 0 || !get().graphLive) return;
    if (graphInFlight > 0) {
      refreshAgain = true;
      return;
    }
    if (graphSoonTimer !== undefined) return;
    // Date.now, not deps.now: this paces real requests (deps.now is the stats clock tests may freeze).
    const wait = lastGraphStart + GRAPH_MIN_GAP_MS - Date.now();
    if (wait > 0) {
      graphSoonTimer = setTimeout(() => {
        graphSoonTimer = undefined;
        if (graphWatchers > 0 && get().graphLive && graphInFlight === 0) void get().loadGraph({ quiet: true });
      }, wait);
      return;
    }
    void get().loadGraph({ quiet: true });
  }

  function stopGraphTimers(): void {
    clearInterval(graphTimer);
    graphTimer = undefined;
    clearTimeout(graphSoonTimer);
    graphSoonTimer = undefined;
    unsubscribeFlows?.();
    unsubscribeFlows = undefined;
    refreshAgain = false;
  }

  function ensureMetricsService(): string | null {
    const current = get().metricsService;
    if (current !== null) return current;
    const first = servicesOf(get().workloads)[0]?.name ?? null;
    if (first !== null) set({ metricsService: first });
    return first;
  }

  return {
    graph: null,
    graphStatus: 'idle',
    graphError: null,
    graphWindowSec: DEFAULT_GRAPH_WINDOW,
    graphLive: true,
    graphLoadedAt: null,
    graphSelection: null,

    metricsService: null,
    metrics: null,
    metricsStatus: 'idle',
    metricsError: null,
    metricsWindowSec: DEFAULT_METRICS_WINDOW,
    metricsLoadedAt: null,

    async loadGraph(opts) {
      const mine = ++graphSeq;
      const windowSec = get().graphWindowSec;
      // A background refresh never shows a loading state: the graph (or the error) stays until the answer.
      const quiet = opts?.quiet === true && (get().graph !== null || get().graphStatus === 'error');
      if (!quiet) set({ graphStatus: 'loading' });
      graphInFlight++;
      lastGraphStart = Date.now();
      try {
        const graph = await deps.api.getGraph({ windowSec });
        // A newer request (another window, a later refresh) decides what is shown.
        if (mine !== graphSeq) return true;
        const sel = get().graphSelection;
        set({
          graph,
          graphStatus: 'ready',
          graphError: null,
          graphLoadedAt: deps.now(),
          graphSelection: sel && selectionExists(graph, sel) ? sel : null
        });
        return true;
      } catch (err) {
        if (mine !== graphSeq) return false;
        const error = toErrorInfo(err);
        if (quiet && get().graphStatus === 'ready') set({ graphError: error });
        else set({ graphStatus: 'error', graphError: error });
        return false;
      } finally {
        graphInFlight--;
        if (graphInFlight === 0 && refreshAgain) {
          refreshAgain = false;
          refreshSoon();
        }
      }
    },

    setGraphWindow(windowSec) {
      if (windowSec === get().graphWindowSec) return;
      set({ graphWindowSec: windowSec });
      void get().loadGraph();
    },

    setGraphLive(live) {
      set({ graphLive: live });
      if (live) refreshSoon();
    },

    watchGraph() {
      graphWatchers++;
      if (graphWatchers === 1) {
        const s = get();
        if (graphInFlight === 0) {
          void s.loadGraph({ quiet: s.graph !== null && s.graph.windowSec === s.graphWindowSec });
        }
        graphTimer = setInterval(refreshSoon, GRAPH_REFRESH_MS);
        // New flows mean new calls: refresh soon after them (throttled) rather than on the next tick only.
        unsubscribeFlows = store.subscribe((next, prev) => {
          if (next.flows !== prev.flows && next.flows.length > 0 && next.flows.length >= prev.flows.length) {
            refreshSoon();
          }
        });
      }
      let stopped = false;
      return () => {
        if (stopped) return;
        stopped = true;
        graphWatchers--;
        if (graphWatchers === 0) stopGraphTimers();
      };
    },

    selectGraphItem(selection) {
      set({ graphSelection: selection });
    },

    showEdgeInTraffic(edgeId) {
      const s = get();
      const edge = findEdge(s, edgeId);
      if (!edge) return;
      const to = s.graph?.nodes.find((n) => n.id === edge.to);
      const service = (to && nodeService(to)) ?? shortService(edge.service) ?? '';
      // One filter change (one reload of the list); the capture session stays as the user chose it.
      s.setFilter({ ...NARROWING_OFF, caller: edge.from, service });
      s.setView('traffic');
    },

    showNodeInTraffic(nodeId) {
      const s = get();
      const node = s.graph?.nodes.find((n) => n.id === nodeId);
      if (!node) return;
      const patch: Partial<FlowFilters> =
        node.kind === 'workload'
          ? { workload: node.id }
          : node.kind === 'unknown'
            ? { caller: node.id }
            : { service: nodeService(node) ?? node.label };
      s.setFilter({ ...NARROWING_OFF, ...patch });
      s.setView('traffic');
    },

    edgeFaultTarget(edgeId) {
      const s = get();
      const edge = findEdge(s, edgeId);
      if (!edge) return null;
      const to = s.graph?.nodes.find((n) => n.id === edge.to);
      const service = (to && nodeService(to)) ?? shortService(edge.service);
      if (service === null) return null;
      return servicesOf(s.workloads).some((x) => x.name === service) ? service : null;
    },

    injectFaultOnEdge(edgeId) {
      const service = get().edgeFaultTarget(edgeId);
      if (service === null) return false;
      get().openQuickAction('fault', service);
      // the edge's caller, when it is a workload with a sidecar (a VirtualService applies at the caller's sidecar)
      const from = findEdge(get(), edgeId)?.from;
      if (from && get().workloads.some((w) => w.name === from && w.sidecar)) get().updateQuickDraft({ from });
      return true;
    },

    async loadMetrics(opts) {
      const service = ensureMetricsService();
      if (service === null) return false;
      const mine = ++metricsSeq;
      const windowSec = get().metricsWindowSec;
      const quiet = opts?.quiet === true && (get().metrics !== null || get().metricsStatus === 'error');
      if (!quiet) set({ metricsStatus: 'loading' });
      metricsInFlight++;
      try {
        const metrics = await deps.api.getMetrics({ service, windowSec, stepSec: stepFor(windowSec) });
        if (mine !== metricsSeq) return true;
        set({ metrics, metricsStatus: 'ready', metricsError: null, metricsLoadedAt: deps.now() });
        return true;
      } catch (err) {
        if (mine !== metricsSeq) return false;
        const error = toErrorInfo(err);
        if (quiet && get().metricsStatus === 'ready') set({ metricsError: error });
        else set({ metricsStatus: 'error', metricsError: error });
        return false;
      } finally {
        metricsInFlight--;
      }
    },

    setMetricsService(service) {
      if (service === get().metricsService && get().metrics !== null) return;
      // Another service's chart would be misleading while the new one loads.
      set({ metricsService: service, metrics: null, metricsError: null });
      if (metricsWatchers > 0) void get().loadMetrics();
    },

    setMetricsWindow(windowSec) {
      if (windowSec === get().metricsWindowSec) return;
      set({ metricsWindowSec: windowSec });
      if (metricsWatchers > 0) void get().loadMetrics();
    },

    watchMetrics() {
      metricsWatchers++;
      if (metricsWatchers === 1) {
        const s = get();
        const fresh =
          s.metrics !== null &&
          s.metrics.windowSec === s.metricsWindowSec &&
          shortService(s.metrics.service) === s.metricsService;
        if (metricsInFlight === 0) void s.loadMetrics({ quiet: fresh });
        metricsTimer = setInterval(() => {
          if (metricsInFlight === 0) void get().loadMetrics({ quiet: true });
        }, METRICS_REFRESH_MS);
      }
      let stopped = false;
      return () => {
        if (stopped) return;
        stopped = true;
        metricsWatchers--;
        if (metricsWatchers === 0) {
          clearInterval(metricsTimer);
          metricsTimer = undefined;
        }
      };
    },

    openMetrics(service) {
      get().setMetricsService(service);
      get().setView('metrics');
    }
  };
};
