// A `resync` event (the event stream dropped events for a window that fell behind, or was opened again): the window
// reads its lists afresh instead of trusting what it built from the events, without showing a connection change.
import { describe, expect, it } from 'vitest';
import { connectEvents, createMeshStore } from './index.js';
import { fakeApi, flow } from './fake-api.js';
import { selectFilteredFlows } from './selectors.js';
import { isPending } from '../lib/live-flows.js';

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('resync', () => {
  it('reloads the flows and sessions and forgets requests shown in flight, keeping the connection state', async () => {
    const api = fakeApi();
    const store = createMeshStore({ api, batchMs: 0, now: () => Date.parse('2026-01-02T03:04:05Z') });
    connectEvents(store, api);
    api.flows = [flow({ id: 'a' })];
    await store.getState().init();
    expect(store.getState().connection).toBe('connected');
    const reads = () => api.calls.filter((c) => c.method === 'listFlows' || c.method === 'listSessions').length;
    const before = reads();

    // a request shown in flight whose end the window will never see, and a flow stored while events were dropped
    api.emit({
      type: 'flow-start',
      flow: {
        id: 'lost',
        requestId: 'r',
        reporter: 'source',
        source: 'productpage-v1',
        destination: null,
        destinationService: 'reviews.default.svc.cluster.local',
        method: 'GET',
        authority: 'reviews:9080',
        path: '/reviews/0',
        startedAt: '2026-01-02T03:04:00.000Z',
        requestHeaders: {},
        replayOf: null
      }
    });
    expect(selectFilteredFlows(store.getState()).some((f) => isPending(f) && f.id === 'lost')).toBe(true);
    api.flows = [...api.flows, flow({ id: 'unseen', startedAt: '2026-01-02T03:04:01.000Z' })];
    const states: string[] = [];
    const unsubscribe = store.subscribe((s) => states.push(s.connection));

    api.emit({ type: 'resync', dropped: 12 });
    await settle();
    await settle();
    unsubscribe();

    expect(reads() - before).toBe(2); // listFlows and listSessions again
    const ids = selectFilteredFlows(store.getState()).map((f) => (isPending(f) ? `${f.id}…` : f.id));
    expect(ids).toContain('unseen');
    expect(ids).not.toContain('lost…');
    expect(new Set(states)).toEqual(new Set(['connected']));
  });
});
