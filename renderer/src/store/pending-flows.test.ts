// Requests in flight in the Traffic list: `flow-start` makes a pending row, the `flow` with the same id replaces it
// in place; filters, selection, the detail pane and a lost connection; the list in start order (the Time column).
import { describe, expect, it } from 'vitest';
import type { FlowStart, MeshEvent } from '../../../main/contract/api.js';
import { connectEvents, createMeshStore } from './index.js';
import { fakeApi, flow } from './fake-api.js';
import { selectFilteredFlows } from './selectors.js';
import { INITIAL_FLOWS } from './traffic-slice.js';
import { isPending } from '../lib/live-flows.js';

function setup(batchMs = 0) {
  const api = fakeApi();
  const store = createMeshStore({ api, batchMs, now: () => Date.parse('2026-01-02T03:04:05Z') });
  connectEvents(store, api);
  return { api, store, s: () => store.getState() };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

const at = (sec: number): string => new Date(Date.UTC(2026, 0, 2, 3, 4, sec)).toISOString();

function start(over: Partial<FlowStart> & { id: string }): FlowStart {
  return {
    requestId: `req-${over.id}`,
    reporter: 'source',
    source: 'productpage-v1',
    destination: null,
    destinationService: 'reviews.default.svc.cluster.local',
    method: 'GET',
    authority: 'reviews:9080',
    path: '/reviews/0',
    startedAt: at(0),
    requestHeaders: { 'x-request-id': `req-${over.id}` },
    replayOf: null,
    ...over
  };
}

const started = (over: Partial<FlowStart> & { id: string }): MeshEvent => ({ type: 'flow-start', flow: start(over) });
const shown = (s: ReturnType<typeof setup>['s']) =>
  selectFilteredFlows(s()).map((f) => (isPending(f) ? `${f.id}…` : f.id));

describe('pending requests', () => {
  it('a started request is listed at once, pending, where it started; its flow replaces it in place', () => {
    const { api, s } = setup();
    api.emit({ type: 'flow', flow: flow({ id: 'a', startedAt: at(1) }) });
    api.emit(started({ id: 'slow', startedAt: at(2) }));
    api.emit({ type: 'flow', flow: flow({ id: 'b', startedAt: at(3) }) });
    expect(shown(s)).toEqual(['a', 'slow…', 'b']);
    const row = selectFilteredFlows(s())[1]!;
    expect(row).toMatchObject({ method: 'GET', path: '/reviews/0', status: 0, pending: true });
    // the finished flow takes the pending row's place (start order), not the end of the list
    api.emit({ type: 'flow', flow: flow({ id: 'slow', startedAt: at(2), durationMs: 10_000, status: 504 }) });
    expect(shown(s)).toEqual(['a', 'slow', 'b']);
    expect(s().pendingFlows).toEqual([]);
    expect(s().trafficFlows.map((f) => f.id)).toEqual(['a', 'slow', 'b']);
  });

  it('a request that starts and ends within one batch of events is never shown pending', () => {
    const { api, store, s } = setup(50);
    let everPending = 0;
    store.subscribe((st) => (everPending = Math.max(everPending, st.pendingFlows.length)));
    api.emit(started({ id: 'fast' }));
    api.emit({ type: 'flow', flow: flow({ id: 'fast' }) });
    s().flushEvents();
    expect(everPending).toBe(0);
    expect(shown(s)).toEqual(['fast']);
  });

  it('filters apply to pending rows as far as a start tells; status and flag filters wait for the end', async () => {
    const { api, s } = setup();
    api.emit(started({ id: 'r', path: '/reviews/1' }));
    api.emit(
      started({
        id: 'd',
        destinationService: 'details.default.svc.cluster.local',
        authority: 'details:9080',
        path: '/details/1',
        requestHeaders: { 'x-debug': 'yes' },
        startedAt: at(1)
      })
    );
    s().setFilter({ service: 'details' });
    await settle();
    expect(shown(s)).toEqual(['d…']);
    s().setFilter({ service: '', caller: 'ratings-v1' });
    await settle();
    expect(shown(s)).toEqual([]);
    s().setFilter({ caller: '', text: 'x-debug' });
    await settle();
    expect(shown(s)).toEqual(['d…']);
    s().setFilter({ text: 'reviews/1' });
    await settle();
    expect(shown(s)).toEqual(['r…']);
    s().setFilter({ text: '', status: '5xx' });
    await settle();
    expect(shown(s)).toEqual([]);
    s().setFilter({ status: '', flag: 'UF' });
    await settle();
    expect(shown(s)).toEqual([]);
    s().resetFilters();
    await settle();
    expect(shown(s)).toEqual(['r…', 'd…']);
  });

  it('keyboard selection reaches a pending row; its detail shows the start, then the flow once it ends', async () => {
    const { api, s } = setup();
    api.emit({ type: 'flow', flow: flow({ id: 'a', startedAt: at(1) }) });
    api.emit(started({ id: 'slow', startedAt: at(2) }));
    s().moveSelection(1);
    s().moveSelection(1);
    expect(s().selectedId).toBe('slow');
    await s().openDetail();
    // nothing to fetch yet: the engine's store has no flow for a request in flight
    expect(api.calls.filter((c) => c.method === 'getFlow')).toEqual([]);
    expect(s().detail).toMatchObject({ id: 'slow', flow: null, loading: false, error: null });
    const done = flow({ id: 'slow', startedAt: at(2), status: 200 });
    api.flows.push(done);
    api.emit({ type: 'flow', flow: done });
    await settle();
    await settle();
    expect(api.calls.filter((c) => c.method === 'getFlow').map((c) => c.args[0])).toEqual([{ id: 'slow' }]);
    expect(s().detail).toMatchObject({ id: 'slow', loading: false, flow: { id: 'slow', status: 200 } });
  });

  it('a pending row cannot be marked for comparison (there is no flow to compare yet)', () => {
    const { api, s } = setup();
    api.emit(started({ id: 'slow' }));
    s().markForCompare('slow');
    expect(s().compare.ids).toEqual([]);
  });

  it('forgets pending rows when the connection to the engine is lost (their ends may be missed)', async () => {
    const { api, s } = setup();
    await s().checkHealth();
    api.emit(started({ id: 'slow' }));
    expect(shown(s)).toEqual(['slow…']);
    api.fail.health = Object.assign(new Error('refused'), { code: 'LM501' });
    await s().checkHealth();
    expect(s().connection).toBe('disconnected');
    expect(shown(s)).toEqual([]);
  });

  it('paused: no new pending rows; a request that ends still leaves', () => {
    const { api, s } = setup();
    api.emit(started({ id: 'before' }));
    s().setPaused(true);
    api.emit(started({ id: 'during' }));
    expect(shown(s)).toEqual(['before…']);
    api.emit({ type: 'flow', flow: flow({ id: 'before' }) });
    expect(shown(s)).toEqual([]);
    expect(s().missed).toBe(1);
  });
});

describe('the Traffic list is in start order (the Time column)', () => {
  it('a flow that ends after later ones is listed where it started', () => {
    const { api, s } = setup();
    api.emit({ type: 'flow', flow: flow({ id: 'b', startedAt: at(2) }) });
    api.emit({ type: 'flow', flow: flow({ id: 'c', startedAt: at(3) }) });
    api.emit({ type: 'flow', flow: flow({ id: 'a', startedAt: at(1), durationMs: 2500 }) });
    expect(shown(s)).toEqual(['a', 'b', 'c']);
  });

  it('a listed page (recorded order) is shown in start order, and older pages continue from the oldest recorded', async () => {
    const { api, s } = setup();
    // recorded (finished) order: old-0 .. old-(N-1), then "long", which started before all of them
    api.flows = [
      ...Array.from({ length: INITIAL_FLOWS + 2 }, (_, i) =>
        flow({
          id: `old-${String(i).padStart(5, '0')}`,
          startedAt: new Date(Date.UTC(2026, 0, 2, 3, 5, 0, i)).toISOString()
        })
      ),
      flow({ id: 'long', startedAt: at(0), durationMs: 70_000 })
    ];
    await s().loadFlows();
    expect(s().trafficFlows[0]!.id).toBe('long');
    expect(s().hasOlder).toBe(true);
    await s().loadOlder();
    // the page before the oldest recorded flow of the list ("old-00003"), not before the first row ("long")
    const calls = api.calls.filter((c) => c.method === 'listFlows').map((c) => c.args[0]);
    expect(calls.at(-1)).toMatchObject({ before: 'old-00003' });
    expect(
      s()
        .trafficFlows.slice(0, 4)
        .map((f) => f.id)
    ).toEqual(['long', 'old-00000', 'old-00001', 'old-00002']);
  });
});
