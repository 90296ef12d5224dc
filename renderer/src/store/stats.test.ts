import { describe, expect, it } from 'vitest';
import { createMeshStore } from './index.js';
import { fakeApi, flow } from './fake-api.js';
import { selectServiceStats, selectWorkloadStats, STATS_WINDOW_MS } from './selectors.js';

const T0 = Date.parse('2026-01-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('requests/s and error rate over a sliding window', () => {
  function setup() {
    let now = T0;
    const store = createMeshStore({ api: fakeApi(), batchMs: 0, now: () => now });
    return { store, s: () => store.getState(), setNow: (t: number) => (now = T0 + t) };
  }

  it('counts flows whose destination is the workload within the window, per second', () => {
    const { s, setNow } = setup();
    s().appendFlows([
      flow({ id: 'old', destination: 'reviews-v1', startedAt: at(-11_000) }),
      flow({ id: 'a', destination: 'reviews-v1', startedAt: at(1_000) }),
      flow({ id: 'b', destination: 'reviews-v1', startedAt: at(2_000), status: 503 }),
      flow({ id: 'c', destination: 'reviews-v1', startedAt: at(3_000) }),
      flow({ id: 'd', destination: 'reviews-v1', startedAt: at(4_000), status: 500 }),
      flow({ id: 'e', destination: 'ratings-v1', startedAt: at(4_000) }),
      flow({ id: 'future', destination: 'reviews-v1', startedAt: at(60_000) })
    ]);
    setNow(5_000);
    s().tick();
    const stats = selectWorkloadStats(s());
    expect(stats['reviews-v1']).toEqual({ requests: 4, errors: 2, rps: 4 / (STATS_WINDOW_MS / 1000), errorRate: 0.5 });
    expect(stats['ratings-v1']?.requests).toBe(1);
    expect(stats['ratings-v1']?.errorRate).toBe(0);
  });

  it('slides: flows fall out of the window as the injected clock advances', () => {
    const { s, setNow } = setup();
    s().appendFlows([
      flow({ id: 'a', destination: 'reviews-v1', startedAt: at(0), status: 500 }),
      flow({ id: 'b', destination: 'reviews-v1', startedAt: at(6_000) })
    ]);
    setNow(9_000);
    s().tick();
    expect(selectWorkloadStats(s())['reviews-v1']?.requests).toBe(2);
    setNow(12_000);
    s().tick();
    expect(selectWorkloadStats(s())['reviews-v1']).toMatchObject({ requests: 1, errors: 0, errorRate: 0 });
    setNow(30_000);
    s().tick();
    expect(selectWorkloadStats(s())['reviews-v1']).toBeUndefined();
  });

  it("counts a request once when both sidecars report it (the caller's view wins)", () => {
    const { s, setNow } = setup();
    s().appendFlows([
      flow({
        id: 'd1',
        requestId: 'r1',
        reporter: 'destination',
        destination: 'reviews-v1',
        startedAt: at(1),
        status: 200
      }),
      flow({
        id: 's1',
        requestId: 'r1',
        reporter: 'source',
        destination: 'reviews-v1',
        startedAt: at(0),
        status: 504,
        flags: 'UT'
      })
    ]);
    setNow(1_000);
    s().tick();
    expect(selectWorkloadStats(s())['reviews-v1']).toMatchObject({ requests: 1, errors: 1 });
  });

  it('per service includes requests that never reached a workload (an injected abort)', () => {
    const { s, setNow } = setup();
    s().appendFlows([
      flow({
        id: 'f',
        reporter: 'source',
        destination: null,
        destinationService: 'ratings.default.svc.cluster.local',
        status: 500,
        flags: 'FI',
        startedAt: at(0)
      }),
      flow({
        id: 'g',
        destination: 'ratings-v1',
        destinationService: 'ratings.default.svc.cluster.local',
        startedAt: at(0)
      })
    ]);
    setNow(1_000);
    s().tick();
    expect(selectWorkloadStats(s())['ratings-v1']).toMatchObject({ requests: 1, errors: 0 });
    expect(selectServiceStats(s())['ratings']).toMatchObject({ requests: 2, errors: 1, errorRate: 0.5 });
  });

  it('is memoized: same inputs, same object', () => {
    const { s } = setup();
    s().appendFlows([flow({ id: 'a' })]);
    expect(selectWorkloadStats(s())).toBe(selectWorkloadStats(s()));
  });
});
