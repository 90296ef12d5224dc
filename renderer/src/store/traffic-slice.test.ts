import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FlowRecord } from '../../../main/contract/api.js';
import { connectEvents, createMeshStore } from './index.js';
import { fakeApi, flow, toHar } from './fake-api.js';
import { flowCountLabel } from '../lib/format.js';
import { selectFilteredFlows, selectFlagOptions, selectStoredCount } from './selectors.js';
import { INITIAL_FLOWS, MAX_FLOWS, OLDER_PAGE, TEXT_FILTER_DELAY_MS } from './traffic-slice.js';

function setup() {
  const api = fakeApi();
  const store = createMeshStore({ api, batchMs: 0, now: () => Date.parse('2026-01-02T03:04:05Z') });
  connectEvents(store, api);
  return { api, store, s: () => store.getState() };
}

/** Let the promise chains started by an action (a reload after setFilter…) settle. */
const settle = () => new Promise((r) => setTimeout(r, 0));

const listCalls = (api: ReturnType<typeof fakeApi>) =>
  api.calls.filter((c) => c.method === 'listFlows').map((c) => c.args[0]);

afterEach(() => {
  vi.useRealTimers();
});

describe('traffic slice', () => {
  it('appends flow events and keeps at most MAX_FLOWS, dropping the oldest', () => {
    const { store, s } = setup();
    for (let i = 0; i < MAX_FLOWS + 25; i++) s().ingest({ type: 'flow', flow: flow({ id: `f${i}` }) });
    expect(store.getState().flows).toHaveLength(MAX_FLOWS);
    expect(s().flows[0]!.id).toBe('f25');
    expect(s().flows.at(-1)!.id).toBe(`f${MAX_FLOWS + 24}`);
    expect(s().trafficFlows).toHaveLength(MAX_FLOWS);
    // the flows that left the list can be paged back in
    expect(s().hasOlder).toBe(true);
  });

  it('batches events until flushed when batchMs > 0', () => {
    const api = fakeApi();
    const store = createMeshStore({ api, batchMs: 50 });
    store.getState().ingest({ type: 'flow', flow: flow({ id: 'a' }) });
    store.getState().ingest({ type: 'flow', flow: flow({ id: 'b' }) });
    expect(store.getState().flows).toHaveLength(0);
    store.getState().flushEvents();
    expect(store.getState().flows.map((f) => f.id)).toEqual(['a', 'b']);
    expect(store.getState().trafficFlows.map((f) => f.id)).toEqual(['a', 'b']);
  });

  it('ignores a flow it already has (initial list and live events overlap)', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'a' }), flow({ id: 'b' })];
    s().ingest({ type: 'flow', flow: flow({ id: 'b' }) });
    s().ingest({ type: 'flow', flow: flow({ id: 'c' }) });
    await s().loadFlows();
    expect(s().flows.map((f) => f.id)).toEqual(['a', 'b', 'c']);
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['a', 'b', 'c']);
    s().appendFlows([flow({ id: 'c' })]);
    expect(s().flows).toHaveLength(3);
    expect(s().trafficFlows).toHaveLength(3);
    expect(listCalls(api)).toEqual([{ limit: INITIAL_FLOWS }]);
  });

  it('keeps bodies out of the lists (the detail pane fetches them)', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'a', responseBody: { encoding: 'utf8', data: 'x', size: 1, truncated: false } })];
    await s().loadFlows();
    expect(s().flows[0]).not.toHaveProperty('responseBody');
    expect(s().trafficFlows[0]).not.toHaveProperty('responseBody');
  });

  it('history from the store shows after a restart: the first load lists what the engine kept', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'yesterday-1', sessionId: 1 }), flow({ id: 'yesterday-2', sessionId: 1 })];
    await s().loadFlows();
    expect(selectFilteredFlows(s()).map((f) => f.id)).toEqual(['yesterday-1', 'yesterday-2']);
    expect(s().listStatus).toBe('ready');
    expect(s().hasOlder).toBe(false);
  });

  it('pause stops appending and counts what was missed; resume appends again', () => {
    const { s } = setup();
    s().ingest({ type: 'flow', flow: flow({ id: 'a' }) });
    s().setPaused(true);
    s().ingest({ type: 'flow', flow: flow({ id: 'b' }) });
    s().ingest({ type: 'flow', flow: flow({ id: 'c' }) });
    expect(s().flows.map((f) => f.id)).toEqual(['a']);
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['a']);
    expect(s().missed).toBe(2);
    s().setPaused(false);
    expect(s().missed).toBe(0);
    s().ingest({ type: 'flow', flow: flow({ id: 'd' }) });
    expect(s().flows.map((f) => f.id)).toEqual(['a', 'd']);
  });

  it('resume lists the requests captured while paused', async () => {
    const { api, s } = setup();
    s().appendFlows([flow({ id: 'a' })]);
    s().setPaused(true);
    const later = flow({ id: 'b', startedAt: '2026-01-02T03:04:06.000Z' });
    api.flows.push(later);
    s().ingest({ type: 'flow', flow: later });
    expect(s().trafficFlows.map((f) => f.id)).not.toContain('b');
    expect(s().missed).toBe(1);
    s().setPaused(false);
    await settle();
    expect(s().trafficFlows.map((f) => f.id)).toContain('b');
    expect(s().missed).toBe(0);
  });

  it('clear calls clearFlows and empties both lists; a failure is kept with its code', async () => {
    const { api, s } = setup();
    s().appendFlows([flow({ id: 'a' })]);
    expect(await s().clearFlows()).toBe(true);
    expect(s().flows).toEqual([]);
    expect(s().trafficFlows).toEqual([]);
    expect(api.calls.some((c) => c.method === 'clearFlows')).toBe(true);
    s().appendFlows([flow({ id: 'b' })]);
    api.fail.clearFlows = Object.assign(new Error('engine gone'), { code: 'LM500' });
    expect(await s().clearFlows()).toBe(false);
    expect(s().flows).toHaveLength(1);
    expect(s().clearError).toEqual({ code: 'LM500', message: 'engine gone' });
  });

  it('an imported session outlives clear: a filter on it stays and its flows are listed again', async () => {
    const { api, s } = setup();
    const entry = {
      startedDateTime: '2026-01-02T03:00:00.000Z',
      time: 1,
      request: { method: 'GET', url: 'http://reviews:9080/imported', httpVersion: 'HTTP/1.1', headers: [] },
      response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', headers: [], content: { size: 0 } }
    };
    await s().importHar(JSON.stringify({ log: { version: '1.2', entries: [entry] } }), 'kept.har');
    await s().loadSessions();
    const imported = s().sessions.find((x) => x.kind === 'import')!;
    s().setFilter({ session: imported.id });
    await settle();
    s().appendFlows([flow({ id: 'live' })]);
    await s().clearFlows();
    await settle();
    expect(s().filters.session).toBe(imported.id);
    expect(s().trafficFlows.map((f) => f.path)).toEqual(['/imported']);
    expect(api.sessions.some((x) => x.id === imported.id)).toBe(true);
  });
});

describe('filters are server-side queries', () => {
  const flows: FlowRecord[] = [
    flow({ id: 'ok', status: 200, destinationService: 'reviews.default.svc.cluster.local', path: '/reviews/1' }),
    flow({ id: 'redir', status: 301, destinationService: 'details.default.svc.cluster.local', path: '/old' }),
    flow({ id: 'nf', status: 404, destinationService: 'details.default.svc.cluster.local', path: '/details/9' }),
    flow({
      id: 'fi',
      status: 503,
      flags: 'FI',
      destinationService: 'ratings.default.svc.cluster.local',
      path: '/ratings/0',
      destination: null
    }),
    flow({
      id: 'uf',
      status: 503,
      flags: 'UF,URX',
      destinationService: 'ratings.default.svc.cluster.local',
      path: '/ratings/1',
      source: null,
      requestHeaders: { 'x-probe': 'needle' }
    }),
    flow({
      id: 'reset',
      status: 0,
      flags: 'UC',
      destinationService: 'reviews.default.svc.cluster.local',
      method: 'POST'
    })
  ];

  async function filtered(patch: Parameters<ReturnType<ReturnType<typeof setup>['s']>['setFilter']>[0]) {
    const { api, s } = setup();
    api.flows = flows.map((f) => ({ ...f }));
    await s().loadFlows();
    s().setFilter(patch);
    await settle();
    return { ids: selectFilteredFlows(s()).map((f) => f.id), query: listCalls(api).at(-1), api, s };
  }

  it('maps each filter to the FlowQuery field the engine applies', async () => {
    expect((await filtered({ service: 'ratings' })).query).toEqual({ service: 'ratings', limit: INITIAL_FLOWS });
    expect((await filtered({ caller: 'productpage-v1', service: 'reviews' })).query).toEqual({
      caller: 'productpage-v1',
      service: 'reviews',
      limit: INITIAL_FLOWS
    });
    expect((await filtered({ workload: 'reviews-v1' })).query).toEqual({
      workload: 'reviews-v1',
      limit: INITIAL_FLOWS
    });
    expect((await filtered({ status: '5xx' })).query).toEqual({ status: '5xx', limit: INITIAL_FLOWS });
    expect((await filtered({ flag: 'URX' })).query).toEqual({ flag: 'URX', limit: INITIAL_FLOWS });
    expect((await filtered({ session: 7 })).query).toEqual({ session: 7, limit: INITIAL_FLOWS });
  });

  it('lists what the query returns', async () => {
    expect((await filtered({ service: 'ratings' })).ids).toEqual(['fi', 'uf']);
    expect((await filtered({ service: 'details' })).ids).toEqual(['redir', 'nf']);
    expect((await filtered({ status: '4xx' })).ids).toEqual(['nf']);
    expect((await filtered({ status: '5xx' })).ids).toEqual(['fi', 'uf']);
    expect((await filtered({ flag: 'URX' })).ids).toEqual(['uf']);
    expect((await filtered({ caller: 'unknown' })).ids).toEqual(['uf']);
    expect((await filtered({ service: 'ratings', flag: 'FI', status: '5xx' })).ids).toEqual(['fi']);
    expect((await filtered({ service: 'reviews', status: '5xx' })).ids).toEqual([]);
  });

  it('status "none" and flag "any"/"none" stay client-side: no new query', async () => {
    const none = await filtered({ status: 'none' });
    expect(none.ids).toEqual(['reset']);
    expect(listCalls(none.api)).toHaveLength(1);
    expect((await filtered({ flag: 'any' })).ids).toEqual(['fi', 'uf', 'reset']);
    expect((await filtered({ flag: 'none' })).ids).toEqual(['ok', 'redir', 'nf']);
  });

  it('text goes to the server (path, header, body) and is debounced', async () => {
    vi.useFakeTimers();
    const { api, s } = setup();
    api.flows = flows.map((f) => ({ ...f }));
    await s().loadFlows();
    s().setFilter({ text: 'n' });
    s().setFilter({ text: 'ne' });
    s().setFilter({ text: 'needle' });
    expect(s().filters.text).toBe('needle');
    expect(listCalls(api)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(TEXT_FILTER_DELAY_MS - 1);
    expect(listCalls(api)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(listCalls(api)).toEqual([{ limit: INITIAL_FLOWS }, { text: 'needle', limit: INITIAL_FLOWS }]);
    expect(selectFilteredFlows(s()).map((f) => f.id)).toEqual(['uf']);
    // a non-text change while the text waits: one query with both, at once
    s().setFilter({ text: 'ratings' });
    s().setFilter({ status: '5xx' });
    await vi.advanceTimersByTimeAsync(0);
    expect(listCalls(api).at(-1)).toEqual({ status: '5xx', text: 'ratings', limit: INITIAL_FLOWS });
    await vi.advanceTimersByTimeAsync(TEXT_FILTER_DELAY_MS * 2);
    expect(listCalls(api)).toHaveLength(3);
  });

  it('a structural change narrows the shown list at once, before the answer arrives', () => {
    const { s } = setup();
    s().appendFlows(flows);
    s().setFilter({ service: 'ratings' });
    expect(selectFilteredFlows(s()).map((f) => f.id)).toEqual(['fi', 'uf']);
  });

  it('an answer for older filters is dropped', async () => {
    const { api, s } = setup();
    api.flows = flows.map((f) => ({ ...f }));
    const original = api.listFlows;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    api.listFlows = async (q) => {
      if (q?.service === 'details') await gate;
      return original(q);
    };
    s().setFilter({ service: 'details' });
    s().setFilter({ service: 'ratings' });
    await settle();
    release();
    await settle();
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['fi', 'uf']);
  });

  it('reset clears every filter and lists everything again', async () => {
    const { api, s } = await filtered({ service: 'ratings', caller: 'unknown', session: 1 });
    s().resetFilters();
    await settle();
    expect(s().filters).toEqual({
      service: '',
      caller: '',
      workload: '',
      status: '',
      flag: '',
      text: '',
      session: null
    });
    expect(listCalls(api).at(-1)).toEqual({ limit: INITIAL_FLOWS });
    expect(selectFilteredFlows(s())).toHaveLength(flows.length);
  });

  it('live flows are appended to the list only when they match; the live window takes them all', async () => {
    const { s } = setup();
    s().setFilter({ caller: 'productpage-v1', service: 'reviews' });
    await settle();
    s().ingest({ type: 'flow', flow: flow({ id: 'match' }) });
    s().ingest({ type: 'flow', flow: flow({ id: 'other-caller', source: 'reviews-v2' }) });
    s().ingest({
      type: 'flow',
      flow: flow({ id: 'other-service', destinationService: 'ratings.default.svc.cluster.local' })
    });
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['match']);
    expect(s().flows.map((f) => f.id)).toEqual(['match', 'other-caller', 'other-service']);
  });

  it('a live flow of another session is not appended while one session is shown', async () => {
    const { s } = setup();
    await s().loadSessions();
    s().setFilter({ session: 99 });
    await settle();
    s().ingest({ type: 'flow', flow: flow({ id: 'now', sessionId: 1 }) });
    s().ingest({ type: 'flow', flow: flow({ id: 'unstamped' }) }); // goes into the current session (1)
    expect(s().trafficFlows).toEqual([]);
    s().setFilter({ session: 1 });
    await settle();
    s().ingest({ type: 'flow', flow: flow({ id: 'later' }) });
    expect(s().trafficFlows.map((f) => f.id)).toContain('later');
  });

  it('flag options come from the flows', () => {
    const { s, store } = setup();
    s().appendFlows(flows);
    expect(selectFlagOptions(store.getState())).toEqual(['FI', 'UC', 'UF', 'URX']);
  });
});

describe('load older (keyset pagination)', () => {
  const many = (n: number, over: Partial<FlowRecord> = {}) =>
    Array.from({ length: n }, (_, i) => flow({ id: `f${String(i).padStart(5, '0')}`, ...over }));

  it('pages back with `before` = the oldest listed flow until the store has no more', async () => {
    const { api, s } = setup();
    api.flows = many(INITIAL_FLOWS + OLDER_PAGE + 20);
    await s().loadFlows();
    expect(s().trafficFlows).toHaveLength(INITIAL_FLOWS);
    expect(s().hasOlder).toBe(true);
    const oldest = s().trafficFlows[0]!.id;
    await s().loadOlder();
    expect(listCalls(api).at(-1)).toEqual({ before: oldest, limit: OLDER_PAGE });
    expect(s().trafficFlows).toHaveLength(INITIAL_FLOWS + OLDER_PAGE);
    expect(s().hasOlder).toBe(true);
    await s().loadOlder();
    expect(s().trafficFlows).toHaveLength(INITIAL_FLOWS + OLDER_PAGE + 20);
    expect(s().trafficFlows[0]!.id).toBe('f00000');
    expect(s().hasOlder).toBe(false);
    const calls = listCalls(api).length;
    await s().loadOlder();
    expect(listCalls(api)).toHaveLength(calls);
    // newest last, no duplicates
    const ids = s().trafficFlows.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('pages with the filters of the list', async () => {
    const { api, s } = setup();
    api.flows = [
      ...many(INITIAL_FLOWS + 5, { status: 503 }),
      flow({ id: 'z-ok', status: 200 }) // newer, filtered out
    ];
    s().setFilter({ status: '5xx' });
    await settle();
    expect(s().hasOlder).toBe(true);
    await s().loadOlder();
    expect(listCalls(api).at(-1)).toMatchObject({ status: '5xx', before: 'f00005' });
    expect(s().trafficFlows).toHaveLength(INITIAL_FLOWS + 5);
    expect(s().hasOlder).toBe(false);
  });

  it('keeps the error with its code; the list stays', async () => {
    const { api, s } = setup();
    api.flows = many(INITIAL_FLOWS + 1);
    await s().loadFlows();
    api.fail.listFlows = Object.assign(new Error('store locked'), { code: 'LM500' });
    await s().loadOlder();
    expect(s().olderStatus).toBe('error');
    expect(s().olderError?.code).toBe('LM500');
    expect(s().trafficFlows).toHaveLength(INITIAL_FLOWS);
  });
});

describe('sessions', () => {
  it('loads the sessions; recording starts a user session and shows it', async () => {
    const { api, s } = setup();
    await s().loadSessions();
    expect(s().sessions.map((x) => [x.id, x.kind, x.current])).toEqual([[1, 'up', true]]);
    const rec = await s().startRecording('  checkout bug  ');
    expect(api.calls.find((c) => c.method === 'startSession')?.args).toEqual([{ label: 'checkout bug' }]);
    expect(rec?.kind).toBe('user');
    expect(s().filters.session).toBe(rec!.id);
    await settle();
    expect(listCalls(api).at(-1)).toEqual({ session: rec!.id, limit: INITIAL_FLOWS });
    expect(s().sessions.find((x) => x.current)?.id).toBe(rec!.id);
    // new flows go into the recording, and its count follows the live flows
    api.record(flow({ id: 'in-rec' }));
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['in-rec']);
    expect(s().sessions.find((x) => x.id === rec!.id)?.flows).toBe(1);

    const ended = await s().stopRecording();
    expect(ended?.id).toBe(rec!.id);
    expect(s().sessions.find((x) => x.current)?.kind).toBe('up');
    expect(s().sessions.find((x) => x.id === rec!.id)?.endedAt).not.toBeNull();
  });

  it('without a label the session has none (the UI calls it "Run <start>")', async () => {
    const { api, s } = setup();
    await s().startRecording('   ');
    expect(api.calls.find((c) => c.method === 'startSession')?.args).toEqual([{}]);
  });

  it('stop without a recording and deleting the current session fail with their code', async () => {
    const { s } = setup();
    await s().loadSessions();
    expect(await s().stopRecording()).toBeNull();
    expect(s().sessionOp.error?.code).toBe('LM104');
    expect(await s().deleteSession(1)).toBe(false);
    expect(s().sessionOp).toMatchObject({ id: 1, error: { code: 'LM201' } });
    s().clearSessionError();
    expect(s().sessionOp.error).toBeNull();
  });

  it('deleting the shown session drops it and lists every session again', async () => {
    const { api, s } = setup();
    const rec = await s().startRecording('old');
    api.record(flow({ id: 'r1' }));
    await s().stopRecording();
    s().selectSession(rec!.id);
    await settle();
    expect(await s().deleteSession(rec!.id)).toBe(true);
    expect(s().sessions.some((x) => x.id === rec!.id)).toBe(false);
    expect(s().filters.session).toBeNull();
    await settle();
    expect(listCalls(api).at(-1)).toEqual({ limit: INITIAL_FLOWS });
    expect(api.flows.some((f) => f.id === 'r1')).toBe(false);
  });

  it('deleting another session drops its requests from the list shown', async () => {
    const { api, s } = setup();
    const rec = await s().startRecording('old');
    api.record(flow({ id: 'r1' }));
    await s().stopRecording();
    api.record(flow({ id: 'u1' }));
    s().selectSession(null);
    await settle();
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['r1', 'u1']);
    await s().deleteSession(rec!.id);
    await settle();
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['u1']);
    expect(s().flows.map((f) => f.id)).toEqual(['u1']);
  });

  it('opening the panel loads the sessions', async () => {
    const { api, s } = setup();
    s().toggleSessions();
    expect(s().sessionsOpen).toBe(true);
    await settle();
    expect(api.calls.some((c) => c.method === 'listSessions')).toBe(true);
    expect(s().sessionsStatus).toBe('ready');
    api.fail.listSessions = Object.assign(new Error('no store'), { code: 'LM500' });
    await s().loadSessions();
    expect(s().sessionsError?.code).toBe('LM500');
  });
});

describe("the status bar's request count", () => {
  /** What the status bar says, from the state. */
  const shown = (st: ReturnType<ReturnType<typeof createMeshStore>['getState']>) =>
    flowCountLabel(selectStoredCount(st), st.flows.length).text;

  it("counts the engine's store, not the flows loaded into the window", async () => {
    const api = fakeApi();
    // ~4000 requests in the store before the window opened
    for (let i = 0; i < 4000; i++)
      api.flows.push(
        flow({ id: `f${i}`, sessionId: 1, startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString() })
      );
    const store = createMeshStore({ api, batchMs: 0, now: () => Date.parse('2026-01-02T03:04:05Z') });
    connectEvents(store, api);
    const s = () => store.getState();
    await s().init();
    // the window holds the newest INITIAL_FLOWS (the list says "1,000+ requests"): the bar said "1,000 flows"
    expect(s().flows).toHaveLength(INITIAL_FLOWS);
    expect(s().hasOlder).toBe(true);
    expect(selectStoredCount(s())).toBe(4000);
    expect(shown(s())).toBe(`${(4000).toLocaleString()} requests stored`);

    // live requests add to it; an imported HAR's flows are in the store too
    api.record(flow({ id: 'live-1' }));
    expect(selectStoredCount(s())).toBe(4001);
    await s().importHar(JSON.stringify(toHar([flow({ id: 'h1' }), flow({ id: 'h2' })])), 'two.har');
    await settle();
    expect(selectStoredCount(s())).toBe(4003);

    // Clear empties the captured part; the import stays
    await s().clearFlows();
    await settle();
    expect(selectStoredCount(s())).toBe(2);
    expect(shown(s())).toBe('2 requests stored');
  });

  it("follows the store's retention: the flows it deleted come off, and the sessions are listed again", async () => {
    const api = fakeApi();
    api.maxFlows = 5;
    for (let i = 0; i < 5; i++)
      api.flows.push(
        flow({ id: `f${i}`, sessionId: 1, startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString() })
      );
    const store = createMeshStore({ api, batchMs: 0 });
    connectEvents(store, api);
    const s = () => store.getState();
    await s().init();
    s().toggleSessions(true); // the panel that shows the sessions' counts
    await settle();
    expect(selectStoredCount(s())).toBe(5);
    const listed = api.calls.filter((c) => c.method === 'listSessions').length;

    // three more requests: the store keeps five, the oldest three went
    for (let i = 0; i < 3; i++) api.record(flow({ id: `live-${i}` }));
    expect(api.flows.map((f) => f.id)).toEqual(['f3', 'f4', 'live-0', 'live-1', 'live-2']);
    expect(selectStoredCount(s())).toBe(5);
    expect(shown(s())).toBe('5 requests stored');

    // the captured session's count (Sessions panel) came down too: it only went up, to 8, until a reload
    await settle();
    expect(s().sessions.map((x) => x.flows)).toEqual([5]);
    // one listing for the three totals that came at once, not three
    expect(api.calls.filter((c) => c.method === 'listSessions').length - listed).toBe(1);
  });

  it('lists the sessions for totals only while the panel shows them, and at most once per sessionsRefreshMs', async () => {
    const api = fakeApi();
    api.maxFlows = 2;
    let now = 1_000_000;
    api.record(flow({ id: 'first' })); // the session the store records into, listed at start
    const every = 200; // ms between two listings (SESSIONS_REFRESH_MS in the app)
    const store = createMeshStore({ api, batchMs: 0, now: () => now, sessionsRefreshMs: every });
    connectEvents(store, api);
    const s = () => store.getState();
    await s().init();
    await settle();
    expect(s().sessions.length).toBeGreaterThan(0);
    const listings = () => api.calls.filter((c) => c.method === 'listSessions').length;

    // panel closed: retention's totals list nothing (each listing scans the engine's store)
    let before = listings();
    for (let i = 0; i < 6; i++) {
      api.record(flow({ id: `closed-${i}` }));
      await settle();
    }
    expect(listings()).toBe(before);

    // panel open (opening lists them): totals that disagree list them once, then not again within the interval
    s().toggleSessions(true);
    await settle();
    before = listings();
    for (let i = 0; i < 6; i++) {
      api.record(flow({ id: `open-${i}` }));
      await settle();
    }
    expect(listings() - before).toBe(1);
    expect(s().sessions.reduce((n, x) => n + x.flows, 0)).not.toBe(2); // stale until the interval is up

    // once it is up, the totals that waited are checked and the sessions listed again
    now += every;
    await new Promise((r) => setTimeout(r, every + 50));
    await settle();
    expect(listings() - before).toBe(2);
    expect(s().sessions.reduce((n, x) => n + x.flows, 0)).toBe(2);
  });

  it('a flow and the totals after it in one batch of events: the totals are checked against the counted flow', async () => {
    const api = fakeApi();
    api.maxFlows = 2;
    api.record(flow({ id: 'first' }));
    api.record(flow({ id: 'second' }));
    // events applied in batches, as in the app: a flow and the store's totals that follow it come in one
    const store = createMeshStore({ api, batchMs: 20, sessionsRefreshMs: 0 });
    connectEvents(store, api);
    const s = () => store.getState();
    await s().init();
    s().toggleSessions(true);
    await settle();
    const count = () => s().sessions.reduce((n, x) => n + x.flows, 0);
    expect(count()).toBe(2);

    // the store keeps two: a third request, and the oldest goes (its totals say 2 again)
    api.record(flow({ id: 'third' }));
    await new Promise((r) => setTimeout(r, 60)); // the batch is applied
    await settle();
    // counted from the flow it would be 3; checked against the totals, the sessions are listed again
    for (let i = 0; i < 50 && count() !== 2; i++) await settle();
    expect(count()).toBe(2);
  });

  it('totals that agree with the sessions list nothing again', async () => {
    const { api, s } = setup();
    await s().init();
    await settle();
    const listings = () => api.calls.filter((c) => c.method === 'listSessions').length;
    const before = listings();
    for (let i = 0; i < 3; i++) api.record(flow({ id: `live-${i}` }));
    await settle();
    expect(s().sessions.reduce((n, x) => n + x.flows, 0)).toBe(3);
    expect(listings()).toBe(before);
  });

  it('without the sessions (not loaded, or failed) it says the flows are those loaded here', async () => {
    const api = fakeApi();
    for (let i = 0; i < 1500; i++) api.flows.push(flow({ id: `f${i}`, sessionId: 1 }));
    api.fail.listSessions = Object.assign(new Error('no store'), { code: 'LM500' });
    const store = createMeshStore({ api, batchMs: 0 });
    await store.getState().init();
    expect(selectStoredCount(store.getState())).toBeNull();
    expect(shown(store.getState())).toBe(`${(1000).toLocaleString()} loaded`);
    expect(flowCountLabel(null, 1).title).toMatch(/^1 request loaded in this window; the engine's store may hold more/);
  });
});

describe('HAR export and import', () => {
  it('exports the current filters (or the shown session) and names the file after the session', async () => {
    const { api, s } = setup();
    const rec = await s().startRecording('Checkout bug');
    api.record(flow({ id: 'a', reporter: 'source' }));
    s().setFilter({ status: '2xx', flag: 'any' });
    const out = await s().exportHar();
    expect(api.calls.find((c) => c.method === 'exportHar')?.args).toEqual([{ session: rec!.id, status: '2xx' }]);
    expect(out?.fileName).toMatch(/^localmesh-checkout-bug-\d{8}-\d{6}\.har$/);
    expect(out?.har.log.entries).toHaveLength(1);
    expect(s().har).toEqual({ op: 'idle', error: null });
  });

  it('an export failure is kept with its code', async () => {
    const { api, s } = setup();
    api.fail.exportHar = Object.assign(new Error('not wired yet'), { code: 'LM500' });
    expect(await s().exportHar()).toBeNull();
    expect(s().har.error).toEqual({ code: 'LM500', message: 'not wired yet' });
  });

  it('imports a file as a new read-only session and switches to it', async () => {
    const { api, s } = setup();
    const text = JSON.stringify(toHar([flow({ id: 'x', path: '/imported' })]));
    const view = await s().importHar(text, 'yesterday.har');
    expect(api.calls.find((c) => c.method === 'importHar')?.args[0]).toMatchObject({ label: 'yesterday.har' });
    expect(view).toMatchObject({ kind: 'import', readOnly: true, flows: 1 });
    expect(s().filters.session).toBe(view!.id);
    expect(s().sessionsOpen).toBe(true);
    await settle();
    expect(selectFilteredFlows(s()).map((f) => f.path)).toEqual(['/imported']);
    expect(s().notice?.text).toContain('yesterday.har');
  });

  it('refuses a file that is not HAR, or holds no requests, without calling the engine', async () => {
    const { api, s } = setup();
    expect(await s().importHar('{"log":{"entries":[]}}', 'empty.har')).toBeNull();
    expect(s().har.error?.code).toBe('LM201');
    expect(s().har.error?.message).toContain('no requests');
    expect(await s().importHar('<html>', 'page.html')).toBeNull();
    expect(s().har.error?.message).toContain('not JSON');
    expect(api.calls.some((c) => c.method === 'importHar')).toBe(false);
    s().clearHarError();
    expect(s().har.error).toBeNull();
  });
});

describe('replay', () => {
  it('resends, then selects and opens the new flow, which says what it replays', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'orig', reporter: 'source', requestHeaders: { 'x-user': 'a' } })];
    await s().loadFlows();
    const replayed = await s().replayFlow({ id: 'orig', edit: { headers: { 'x-user': 'b' } } });
    expect(replayed?.replayOf).toBe('orig');
    expect(s().selectedId).toBe(replayed!.id);
    expect(s().detail?.id).toBe(replayed!.id);
    expect(s().detail?.flow?.replayOf).toBe('orig');
    expect(s().detail?.flow?.requestHeaders['x-user']).toBe('b');
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['orig', replayed!.id]);
    expect(s().replay).toEqual({ sending: false, forId: 'orig', error: null });
  });

  it('keeps the error with its code and the selection where it was', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'orig' })];
    await s().loadFlows();
    s().selectFlow('orig');
    api.fail.replayFlow = Object.assign(new Error('workload "x" has no sidecar'), { code: 'LM201' });
    expect(await s().replayFlow({ id: 'orig', as: 'x' })).toBeNull();
    expect(s().replay.error?.code).toBe('LM201');
    expect(s().selectedId).toBe('orig');
    s().clearReplayError();
    expect(s().replay.error).toBeNull();
  });
});

describe('compare', () => {
  it('marks at most two flows (A then B) and compares them', async () => {
    const { api, s } = setup();
    api.flows = [
      flow({ id: 'a', status: 200, responseBody: { encoding: 'utf8', data: 'x\ny', size: 3, truncated: false } }),
      flow({ id: 'b', status: 503, responseBody: { encoding: 'utf8', data: 'x\nz', size: 3, truncated: false } }),
      flow({ id: 'c' })
    ];
    s().markForCompare('a');
    s().markForCompare('b');
    s().markForCompare('c');
    expect(s().compare.ids).toEqual(['b', 'c']);
    s().markForCompare('c');
    expect(s().compare.ids).toEqual(['b']);
    s().markForCompare('a');
    await s().compareMarked();
    expect(s().compare).toMatchObject({ ids: ['b', 'a'], open: true, status: 'ready' });
    s().clearCompareMarks();
    await s().compareFlows('a', 'b');
    const r = s().compare.result!;
    expect(r.changes).toContainEqual({ field: 'status', a: '200', b: '503' });
    expect(r.responseBody.lines).toEqual([
      { op: '=', text: 'x' },
      { op: '-', text: 'y' },
      { op: '+', text: 'z' }
    ]);
    s().closeCompare();
    expect(s().compare.open).toBe(false);
    expect(s().compare.ids).toEqual(['a', 'b']);
  });

  it('a comparison failure is kept with its code', async () => {
    const { s } = setup();
    await s().compareFlows('gone', 'also-gone');
    expect(s().compare).toMatchObject({ open: true, status: 'error', error: { code: 'LM202' } });
  });

  it('compares two sessions: added, missing and changed calls', async () => {
    const { api, s } = setup();
    api.record(flow({ id: 'u1', path: '/reviews/1' }));
    api.record(flow({ id: 'u2', path: '/gone' }));
    const rec = await s().startRecording('after');
    api.record(flow({ id: 'r1', path: '/reviews/1', status: 503, requestId: 'x1' }));
    api.record(flow({ id: 'r2', path: '/new', requestId: 'x2' }));
    s().pickSessionForCompare(1);
    s().pickSessionForCompare(rec!.id);
    await s().compareSessions();
    const r = s().sessionCompare.result!;
    expect(r.added.map((c) => c.path)).toEqual(['/new']);
    expect(r.missing.map((c) => c.path)).toEqual(['/gone']);
    expect(r.changed.map((c) => c.a.path)).toEqual(['/reviews/1']);
    s().closeSessionCompare();
    expect(s().sessionCompare.open).toBe(false);
  });
});

describe('trace', () => {
  it('loads the trace of a flow once; a missing trace is an error with its code', async () => {
    const { api, s } = setup();
    api.flows = [
      flow({ id: 'root', traceId: 't1', spanId: 's1', parentSpanId: null, reporter: 'destination' }),
      flow({ id: 'child', traceId: 't1', spanId: 's2', parentSpanId: 's1', reporter: 'source' })
    ];
    await s().loadTrace('t1');
    expect(s().trace?.status).toBe('ready');
    expect(
      s()
        .trace?.view?.spans.map((x) => x.flowId)
        .sort()
    ).toEqual(['child', 'root']);
    await s().loadTrace('t1');
    expect(api.calls.filter((c) => c.method === 'getTrace')).toHaveLength(1);
    await s().loadTrace('nope');
    expect(s().trace).toMatchObject({ traceId: 'nope', status: 'error', error: { code: 'LM202' } });
  });
});

describe('selection and detail', () => {
  it('moves through the shown list and clamps at both ends', async () => {
    const { s } = setup();
    s().appendFlows([
      flow({ id: 'a' }),
      flow({ id: 'b', status: 500 }),
      flow({ id: 'c' }),
      flow({ id: 'd', status: 503 })
    ]);
    s().setFilter({ status: '5xx' });
    s().moveSelection(1);
    expect(s().selectedId).toBe('b');
    s().moveSelection(1);
    expect(s().selectedId).toBe('d');
    s().moveSelection(1);
    expect(s().selectedId).toBe('d');
    s().moveSelection(-5);
    expect(s().selectedId).toBe('b');
  });

  it('opens the detail with getFlow (bodies) and follows the selection while open', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'a' }), flow({ id: 'b' })];
    await s().loadFlows();
    s().selectFlow('a');
    await s().openDetail();
    expect(s().detail?.flow?.responseBody?.data).toBe('{"ok":true}');
    s().moveSelection(1);
    expect(s().detail?.id).toBe('b');
    s().closeDetail();
    expect(s().detail).toBeNull();
    expect(s().selectedId).toBe('b');
  });

  it('closes the detail when a filter or a deleted session takes its request off the list', async () => {
    const { api, s } = setup();
    api.flows = [
      flow({ id: 'a', path: '/reviews/1' }),
      flow({ id: 'b', path: '/reviews/2', status: 503 }),
      flow({ id: 'c', path: '/ratings/3' })
    ];
    await s().loadFlows();

    // a structural filter hides the row at once: the pane goes with it (it stayed open on a request not listed)
    await s().openDetail('a');
    s().setFilter({ status: '5xx' });
    expect(s().detail).toBeNull();
    expect(s().selectedId).toBeNull();

    // the text is matched by the engine: the pane goes when the answer no longer lists the request
    s().resetFilters();
    await settle();
    await s().openDetail('c');
    s().setFilter({ text: '/reviews' });
    expect(s().detail?.id).toBe('c');
    await s().reloadList();
    expect(s().detail).toBeNull();

    // a request still listed keeps its pane
    await s().openDetail('b');
    s().setFilter({ status: '5xx' });
    await settle();
    expect(s().detail?.id).toBe('b');

    // a request opened from elsewhere (a hop of its trace) was not listed: a filter change leaves it open
    await s().openDetail('c');
    s().setFilter({ flag: 'none' });
    await settle();
    expect(s().detail?.id).toBe('c');

    // the session of the open request is deleted: its flows leave the store and the list, and the pane closes
    s().resetFilters();
    await settle();
    const rec = await s().startRecording('old');
    api.record(flow({ id: 'r1', path: '/reviews/9' }));
    await s().stopRecording();
    s().selectSession(null);
    await settle();
    await s().openDetail('r1');
    await s().deleteSession(rec!.id);
    await settle();
    expect(s().trafficFlows.some((f) => f.id === 'r1')).toBe(false);
    expect(s().detail).toBeNull();
  });

  it('keeps the listed flow and shows the error when getFlow fails', async () => {
    const { api, s } = setup();
    s().appendFlows([flow({ id: 'gone' })]);
    await s().openDetail('gone');
    expect(s().detail?.flow?.id).toBe('gone');
    expect(s().detail?.error?.code).toBe('LM202');
    expect(api.calls.some((c) => c.method === 'getFlow')).toBe(false);
  });
});

describe('keyboard selection without a selection', () => {
  it('Home/Down start at the first row, End/Up at the last', () => {
    const api = fakeApi();
    const store = createMeshStore({ api, batchMs: 0 });
    const s = () => store.getState();
    s().appendFlows([flow({ id: 'a' }), flow({ id: 'b' }), flow({ id: 'c' })]);
    s().moveSelection(-3);
    expect(s().selectedId).toBe('a');
    s().selectFlow(null);
    s().moveSelection(1);
    expect(s().selectedId).toBe('a');
    s().selectFlow(null);
    s().moveSelection(-1);
    expect(s().selectedId).toBe('c');
    s().selectFlow(null);
    s().moveSelection(3);
    expect(s().selectedId).toBe('c');
  });
});
