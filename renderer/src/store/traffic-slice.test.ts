import { describe, expect, it } from 'vitest';
import { createMeshStore } from './index.js';
import { fakeApi, flow } from './fake-api.js';
import { selectFilteredFlows, selectFlagOptions } from './selectors.js';
import { MAX_FLOWS } from './traffic-slice.js';

function setup() {
  const api = fakeApi();
  const store = createMeshStore({ api, batchMs: 0 });
  return { api, store, s: () => store.getState() };
}

describe('traffic slice', () => {
  it('appends flow events and keeps at most MAX_FLOWS, dropping the oldest', () => {
    const { store, s } = setup();
    for (let i = 0; i < MAX_FLOWS + 25; i++) s().ingest({ type: 'flow', flow: flow({ id: `f${i}` }) });
    expect(store.getState().flows).toHaveLength(MAX_FLOWS);
    expect(s().flows[0]!.id).toBe('f25');
    expect(s().flows.at(-1)!.id).toBe(`f${MAX_FLOWS + 24}`);
  });

  it('batches events until flushed when batchMs > 0', () => {
    const api = fakeApi();
    const store = createMeshStore({ api, batchMs: 50 });
    api.emit({ type: 'flow', flow: flow({ id: 'a' }) });
    store.getState().ingest({ type: 'flow', flow: flow({ id: 'a' }) });
    store.getState().ingest({ type: 'flow', flow: flow({ id: 'b' }) });
    expect(store.getState().flows).toHaveLength(0);
    store.getState().flushEvents();
    expect(store.getState().flows.map((f) => f.id)).toEqual(['a', 'b']);
  });

  it('ignores a flow it already has (initial list and live events overlap)', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'a' }), flow({ id: 'b' })];
    s().ingest({ type: 'flow', flow: flow({ id: 'b' }) });
    s().ingest({ type: 'flow', flow: flow({ id: 'c' }) });
    await s().loadFlows();
    expect(s().flows.map((f) => f.id)).toEqual(['a', 'b', 'c']);
    s().appendFlows([flow({ id: 'c' })]);
    expect(s().flows).toHaveLength(3);
    expect(api.calls.find((c) => c.method === 'listFlows')?.args).toEqual([{ limit: 1000 }]);
  });

  it('keeps bodies out of the list (the detail pane fetches them)', async () => {
    const { api, s } = setup();
    api.flows = [flow({ id: 'a', responseBody: { encoding: 'utf8', data: 'x', size: 1, truncated: false } })];
    await s().loadFlows();
    expect(s().flows[0]).not.toHaveProperty('responseBody');
  });

  it('pause stops appending and counts what was missed; resume appends again', () => {
    const { s } = setup();
    s().ingest({ type: 'flow', flow: flow({ id: 'a' }) });
    s().setPaused(true);
    s().ingest({ type: 'flow', flow: flow({ id: 'b' }) });
    s().ingest({ type: 'flow', flow: flow({ id: 'c' }) });
    expect(s().flows.map((f) => f.id)).toEqual(['a']);
    expect(s().missed).toBe(2);
    s().setPaused(false);
    expect(s().missed).toBe(0);
    s().ingest({ type: 'flow', flow: flow({ id: 'd' }) });
    expect(s().flows.map((f) => f.id)).toEqual(['a', 'd']);
  });

  it('clear calls clearFlows and empties the list; a failure is kept with its code', async () => {
    const { api, s } = setup();
    s().appendFlows([flow({ id: 'a' })]);
    await s().clearFlows();
    expect(s().flows).toEqual([]);
    expect(api.calls.some((c) => c.method === 'clearFlows')).toBe(true);
    s().appendFlows([flow({ id: 'b' })]);
    api.fail.clearFlows = Object.assign(new Error('engine gone'), { code: 'LM500' });
    await s().clearFlows();
    expect(s().flows).toHaveLength(1);
    expect(s().clearError).toEqual({ code: 'LM500', message: 'engine gone' });
  });

  describe('filters', () => {
    const flows = [
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
        source: null
      }),
      flow({
        id: 'reset',
        status: 0,
        flags: 'UC',
        destinationService: 'reviews.default.svc.cluster.local',
        method: 'POST'
      })
    ];
    function filtered(patch: Record<string, string>): string[] {
      const { s, store } = setup();
      s().appendFlows(flows);
      s().setFilter(patch);
      return selectFilteredFlows(store.getState()).map((f) => f.id);
    }

    it('no filter returns every flow (same array)', () => {
      const { s, store } = setup();
      s().appendFlows(flows);
      expect(selectFilteredFlows(store.getState())).toBe(store.getState().flows);
    });
    it('by destination service', () => {
      expect(filtered({ service: 'ratings' })).toEqual(['fi', 'uf']);
      expect(filtered({ service: 'details' })).toEqual(['redir', 'nf']);
    });
    it('by status class', () => {
      expect(filtered({ status: '2xx' })).toEqual(['ok']);
      expect(filtered({ status: '3xx' })).toEqual(['redir']);
      expect(filtered({ status: '4xx' })).toEqual(['nf']);
      expect(filtered({ status: '5xx' })).toEqual(['fi', 'uf']);
      expect(filtered({ status: 'none' })).toEqual(['reset']);
    });
    it('by flag: one flag, any flag, no flag', () => {
      expect(filtered({ flag: 'URX' })).toEqual(['uf']);
      expect(filtered({ flag: 'FI' })).toEqual(['fi']);
      expect(filtered({ flag: 'any' })).toEqual(['fi', 'uf', 'reset']);
      expect(filtered({ flag: 'none' })).toEqual(['ok', 'redir', 'nf']);
    });
    it('by free text: every word must match, case-insensitive', () => {
      expect(filtered({ text: 'RATINGS' })).toEqual(['fi', 'uf']);
      expect(filtered({ text: 'ratings /ratings/1' })).toEqual(['uf']);
      expect(filtered({ text: 'unknown' })).toEqual(['uf']);
      expect(filtered({ text: 'post' })).toEqual(['reset']);
      expect(filtered({ text: '404' })).toEqual(['nf']);
    });
    it('filters combine', () => {
      expect(filtered({ service: 'ratings', flag: 'FI', status: '5xx' })).toEqual(['fi']);
      expect(filtered({ service: 'reviews', status: '5xx' })).toEqual([]);
    });
    it('flag options come from the flows', () => {
      const { s, store } = setup();
      s().appendFlows(flows);
      expect(selectFlagOptions(store.getState())).toEqual(['FI', 'UC', 'UF', 'URX']);
    });
  });

  describe('selection and detail', () => {
    it('moves through the filtered list and clamps at both ends', () => {
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

    it('keeps the listed flow and shows the error when getFlow fails', async () => {
      const { api, s } = setup();
      s().appendFlows([flow({ id: 'gone' })]);
      await s().openDetail('gone');
      expect(s().detail?.flow?.id).toBe('gone');
      expect(s().detail?.error?.code).toBe('LM202');
      expect(api.calls.some((c) => c.method === 'getFlow')).toBe(false);
    });
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
