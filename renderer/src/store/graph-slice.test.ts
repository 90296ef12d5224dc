import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type {
  FlowRecord,
  GraphEdge,
  GraphNode,
  GraphQuery,
  GraphView,
  MeshApi,
  MetricsQuery,
  MetricsSeries,
  WorkloadView
} from '../../../main/contract/api.js';
import { GRAPH_MIN_GAP_MS, GRAPH_REFRESH_MS, METRICS_REFRESH_MS } from './graph-slice.js';
import { createMeshStore } from './index.js';

// A MeshApi with just what these tests look at; every other method answers an empty list.
function stubApi(impl: Partial<MeshApi>): MeshApi & { calls: { method: string; args: unknown[] }[] } {
  const calls: { method: string; args: unknown[] }[] = [];
  const target = { calls } as Record<string, unknown>;
  return new Proxy(target, {
    get(_t, prop: string) {
      if (prop === 'calls') return calls;
      if (prop === 'then') return undefined;
      if (prop === 'onEvent') return () => () => {};
      const fn = (impl as Record<string, unknown>)[prop];
      return (...args: unknown[]) => {
        calls.push({ method: prop, args });
        return typeof fn === 'function' ? (fn as (...a: unknown[]) => unknown)(...args) : Promise.resolve([]);
      };
    }
  }) as unknown as MeshApi & { calls: typeof calls };
}

const node = (id: string, over: Partial<GraphNode> = {}): GraphNode => ({
  id,
  kind: 'workload',
  label: id,
  service: id.replace(/-v\d+$/, ''),
  namespace: 'default',
  requests: 10,
  errorRate: 0,
  health: 'healthy',
  ...over
});

const edge = (from: string, to: string, over: Partial<GraphEdge> = {}): GraphEdge => ({
  id: `${from}>${to}`,
  from,
  to,
  service: `${to.replace(/-v\d+$/, '')}.default.svc.cluster.local`,
  requests: 10,
  rps: 0.5,
  errorRate: 0,
  p50Ms: 3,
  p99Ms: 9,
  mtls: 'mutual_tls',
  ...over
});

function bookinfo(windowSec = 300): GraphView {
  return {
    since: '2025-01-01T00:00:00.000Z',
    until: '2025-01-01T00:05:00.000Z',
    windowSec,
    nodes: [
      node('unknown', { kind: 'unknown', service: null, namespace: null }),
      node('productpage-v1'),
      node('details-v1'),
      node('reviews-v2'),
      node('ratings-v1'),
      node('example.com:443', { kind: 'external', service: 'example.com:443', namespace: null })
    ],
    edges: [
      edge('unknown', 'productpage-v1', { mtls: 'none', service: 'productpage.default.svc.cluster.local' }),
      edge('productpage-v1', 'details-v1'),
      edge('productpage-v1', 'reviews-v2'),
      edge('reviews-v2', 'ratings-v1'),
      edge('ratings-v1', 'example.com:443', { service: 'example.com:443', mtls: 'none' })
    ]
  };
}

function series(q: MetricsQuery): MetricsSeries {
  return {
    service: q.service,
    windowSec: q.windowSec ?? 900,
    stepSec: q.stepSec ?? 10,
    points: [{ t: '2025-01-01T00:00:00.000Z', requests: 3, rps: 0.3, errorRate: 0, p50Ms: 2, p90Ms: 4, p99Ms: 5 }]
  };
}

const wl = (name: string, service: string): WorkloadView =>
  ({
    name,
    service,
    namespace: 'default',
    sidecar: true,
    labels: {},
    instances: [],
    processes: []
  }) as unknown as WorkloadView;

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(impl: Partial<MeshApi> = {}) {
  const api = stubApi({
    getGraph: async (q?: GraphQuery) => bookinfo(q?.windowSec ?? 300),
    getMetrics: async (q: MetricsQuery) => series(q),
    ...impl
  });
  const store = createMeshStore({ api, batchMs: 0, now: () => 42_000 });
  store.setState({
    workloads: [
      wl('productpage-v1', 'productpage'),
      wl('details-v1', 'details'),
      wl('reviews-v2', 'reviews'),
      wl('ratings-v1', 'ratings')
    ]
  });
  const count = (method: string) => api.calls.filter((c) => c.method === method).length;
  return { api, store, s: () => store.getState(), count };
}

const flowsOf = (n: number): FlowRecord[] => Array.from({ length: n }, (_, i) => ({ id: `f${i}` }) as FlowRecord);

describe('graph slice', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('loads nothing until the view watches; then loads the chosen window', async () => {
    const { api, s, count } = setup();
    expect(s().graphStatus).toBe('idle');
    expect(s().graphWindowSec).toBe(300);
    const stop = s().watchGraph();
    expect(s().graphStatus).toBe('loading');
    await vi.advanceTimersByTimeAsync(0);
    expect(s().graphStatus).toBe('ready');
    expect(s().graph?.edges).toHaveLength(5);
    expect(s().graphLoadedAt).toBe(42_000);
    expect(api.calls.find((c) => c.method === 'getGraph')?.args).toEqual([{ windowSec: 300 }]);
    expect(count('getGraph')).toBe(1);
    stop();
  });

  it('a double mount (StrictMode) loads once and keeps one timer', async () => {
    const { s, count } = setup();
    s().watchGraph()();
    const stop = s().watchGraph();
    await vi.advanceTimersByTimeAsync(0);
    expect(count('getGraph')).toBe(1);
    await vi.advanceTimersByTimeAsync(GRAPH_REFRESH_MS);
    expect(count('getGraph')).toBe(2);
    stop();
  });

  it('refreshes every 2 s while watched and live, and stops when the view goes away', async () => {
    const { s, count } = setup();
    const stop = s().watchGraph();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(GRAPH_REFRESH_MS * 3);
    expect(count('getGraph')).toBe(4);
    // a refresh is quiet: the graph stays on screen, no loading state
    expect(s().graphStatus).toBe('ready');

    s().setGraphLive(false);
    await vi.advanceTimersByTimeAsync(GRAPH_REFRESH_MS * 3);
    expect(count('getGraph')).toBe(4);
    s().setGraphLive(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(count('getGraph')).toBe(5);

    stop();
    await vi.advanceTimersByTimeAsync(GRAPH_REFRESH_MS * 5);
    expect(count('getGraph')).toBe(5);
  });

  it('refreshes soon after new flows, at most once per second and never two at a time', async () => {
    const { store, s, count } = setup();
    const stop = s().watchGraph();
    await vi.advanceTimersByTimeAsync(0);
    expect(count('getGraph')).toBe(1);

    // a burst of flows right after the first load: one refresh, GRAPH_MIN_GAP_MS after the last one started
    for (let i = 1; i <= 5; i++) store.setState({ flows: flowsOf(i) });
    await vi.advanceTimersByTimeAsync(GRAPH_MIN_GAP_MS - 1);
    expect(count('getGraph')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(count('getGraph')).toBe(2);

    // while a refresh is on its way, more flows queue exactly one follow-up
    stop();
    const slow = deferred<GraphView>();
    const t = setup({ getGraph: () => slow.promise });
    const stop2 = t.s().watchGraph();
    expect(t.count('getGraph')).toBe(1);
    for (let i = 1; i <= 3; i++) t.store.setState({ flows: flowsOf(i) });
    await vi.advanceTimersByTimeAsync(GRAPH_MIN_GAP_MS * 3);
    expect(t.count('getGraph')).toBe(1);
    slow.resolve(bookinfo());
    await vi.advanceTimersByTimeAsync(0);
    expect(t.count('getGraph')).toBe(2);
    stop2();
  });

  it('a new window loads at once (with a loading state) and an older answer is dropped', async () => {
    const answers: ReturnType<typeof deferred<GraphView>>[] = [];
    const { api, s } = setup({
      getGraph: () => {
        const d = deferred<GraphView>();
        answers.push(d);
        return d.promise;
      }
    });
    void s().loadGraph();
    s().setGraphWindow(60);
    expect(s().graphWindowSec).toBe(60);
    expect(api.calls.filter((c) => c.method === 'getGraph').map((c) => c.args[0])).toEqual([
      { windowSec: 300 },
      { windowSec: 60 }
    ]);
    answers[1]!.resolve(bookinfo(60));
    answers[0]!.resolve(bookinfo(300));
    await vi.advanceTimersByTimeAsync(0);
    expect(s().graph?.windowSec).toBe(60);
    // the same window again is no new request
    s().setGraphWindow(60);
    expect(answers).toHaveLength(2);
  });

  it('a failed first load is an error with its code; a failed refresh keeps the graph and says why', async () => {
    let fail = true;
    const { s } = setup({
      getGraph: async (q?: GraphQuery) => {
        if (fail) throw Object.assign(new Error('not wired yet'), { code: 'LM500' });
        return bookinfo(q?.windowSec);
      }
    });
    expect(await s().loadGraph()).toBe(false);
    expect(s().graphStatus).toBe('error');
    expect(s().graphError).toEqual({ code: 'LM500', message: 'not wired yet' });

    fail = false;
    expect(await s().loadGraph()).toBe(true);
    expect(s()).toMatchObject({ graphStatus: 'ready', graphError: null });

    fail = true;
    expect(await s().loadGraph({ quiet: true })).toBe(false);
    expect(s().graphStatus).toBe('ready');
    expect(s().graph).not.toBeNull();
    expect(s().graphError?.code).toBe('LM500');
  });

  it('while the engine keeps failing, background refreshes keep the error on screen (no loading flicker)', async () => {
    let fail = true;
    const { store, s, count } = setup({
      getGraph: async (q?: GraphQuery) => {
        if (fail) throw Object.assign(new Error('not wired yet'), { code: 'LM500' });
        return bookinfo(q?.windowSec);
      }
    });
    const stop = s().watchGraph();
    await vi.advanceTimersByTimeAsync(0);
    expect(s().graphStatus).toBe('error');
    const seen = new Set<string>();
    const unsubscribe = store.subscribe((st) => seen.add(st.graphStatus));
    await vi.advanceTimersByTimeAsync(GRAPH_REFRESH_MS * 3);
    unsubscribe();
    expect(count('getGraph')).toBe(4);
    expect([...seen]).toEqual(['error']);
    fail = false;
    await vi.advanceTimersByTimeAsync(GRAPH_REFRESH_MS);
    expect(s()).toMatchObject({ graphStatus: 'ready', graphError: null });
    stop();
  });

  it('keeps the selection while its edge is in the graph, and drops it when the edge is gone', async () => {
    let graph = bookinfo();
    const { s } = setup({ getGraph: async () => graph });
    await s().loadGraph();
    s().selectGraphItem({ kind: 'edge', id: 'productpage-v1>details-v1' });
    await s().loadGraph({ quiet: true });
    expect(s().graphSelection).toEqual({ kind: 'edge', id: 'productpage-v1>details-v1' });
    graph = { ...graph, edges: graph.edges.filter((e) => e.to !== 'details-v1') };
    await s().loadGraph({ quiet: true });
    expect(s().graphSelection).toBeNull();
  });

  it('"Show in Traffic" filters Traffic to the edge: its caller and destination service', async () => {
    const { s } = setup();
    await s().loadGraph();
    s().setFilter({ status: '5xx', text: 'old search' });
    s().showEdgeInTraffic('productpage-v1>reviews-v2');
    expect(s().view).toBe('traffic');
    expect(s().filters).toMatchObject({ caller: 'productpage-v1', service: 'reviews', status: '', text: '' });

    s().showEdgeInTraffic('unknown>productpage-v1');
    expect(s().filters).toMatchObject({ caller: 'unknown', service: 'productpage' });

    s().showNodeInTraffic('details-v1');
    expect(s().filters).toMatchObject({ caller: '', service: '', workload: 'details-v1' });
  });

  it('"Inject a fault on this edge" opens the fault form for the destination service; not outside the mesh', async () => {
    const { s } = setup();
    await s().loadGraph();
    expect(s().edgeFaultTarget('reviews-v2>ratings-v1')).toBe('ratings');
    expect(s().injectFaultOnEdge('reviews-v2>ratings-v1')).toBe(true);
    // the edge's caller is pre-selected, so the fault hits this edge only
    expect(s().quick?.draft).toMatchObject({ kind: 'fault', service: 'ratings', from: 'reviews-v2' });
    s().closeQuickAction();

    expect(s().edgeFaultTarget('ratings-v1>example.com:443')).toBeNull();
    expect(s().injectFaultOnEdge('ratings-v1>example.com:443')).toBe(false);
    expect(s().quick).toBeNull();
    expect(s().injectFaultOnEdge('no-such-edge')).toBe(false);
  });
});

describe('metrics in the graph slice', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('picks the first service when watched, loads its series, refreshes every 5 s, stops when unwatched', async () => {
    const { api, s, count } = setup();
    expect(s().metricsService).toBeNull();
    const stop = s().watchMetrics();
    expect(s().metricsService).toBe('productpage');
    await vi.advanceTimersByTimeAsync(0);
    expect(s().metricsStatus).toBe('ready');
    expect(s().metrics?.points).toHaveLength(1);
    expect(api.calls.find((c) => c.method === 'getMetrics')?.args).toEqual([
      { service: 'productpage', windowSec: 900, stepSec: 15 }
    ]);
    await vi.advanceTimersByTimeAsync(METRICS_REFRESH_MS * 2);
    expect(count('getMetrics')).toBe(3);
    stop();
    await vi.advanceTimersByTimeAsync(METRICS_REFRESH_MS * 2);
    expect(count('getMetrics')).toBe(3);
  });

  it('another service clears the old series and loads; another window reloads with a matching step', async () => {
    const { api, s } = setup();
    const stop = s().watchMetrics();
    await vi.advanceTimersByTimeAsync(0);
    s().setMetricsService('reviews');
    expect(s().metrics).toBeNull();
    expect(s().metricsStatus).toBe('loading');
    await vi.advanceTimersByTimeAsync(0);
    expect(s().metrics?.service).toBe('reviews');
    s().setMetricsWindow(60);
    await vi.advanceTimersByTimeAsync(0);
    expect(api.calls.filter((c) => c.method === 'getMetrics').at(-1)?.args).toEqual([
      { service: 'reviews', windowSec: 60, stepSec: 2 }
    ]);
    stop();
  });

  it('a failed load is an error with its code; a failed refresh keeps the chart', async () => {
    let fail = true;
    const { s } = setup({
      getMetrics: async (q: MetricsQuery) => {
        if (fail) throw Object.assign(new Error('engine gone'), { code: 'LM500' });
        return series(q);
      }
    });
    expect(await s().loadMetrics()).toBe(false);
    expect(s()).toMatchObject({ metricsStatus: 'error', metricsError: { code: 'LM500', message: 'engine gone' } });
    fail = false;
    expect(await s().loadMetrics()).toBe(true);
    fail = true;
    expect(await s().loadMetrics({ quiet: true })).toBe(false);
    expect(s().metricsStatus).toBe('ready');
    expect(s().metrics).not.toBeNull();
  });

  it('without services there is nothing to load', async () => {
    const { store, s, count } = setup();
    store.setState({ workloads: [] });
    expect(await s().loadMetrics()).toBe(false);
    expect(count('getMetrics')).toBe(0);
    expect(s().metricsStatus).toBe('idle');
  });

  it('openMetrics switches to the Metrics view for that service', () => {
    const { s } = setup();
    s().openMetrics('ratings');
    expect(s().view).toBe('metrics');
    expect(s().metricsService).toBe('ratings');
  });
});
