import { describe, expect, it } from 'vitest';
import type { SpanView } from '../../../main/contract/api.js';
import { layoutWaterfall, MIN_BAR, ticks, timingPhases } from './waterfall.js';

const span = (over: Partial<SpanView> & { spanId: string }): SpanView => ({
  traceId: 't',
  parentSpanId: null,
  flowId: `flow-${over.spanId}`,
  kind: 'server',
  name: 'x',
  workload: 'w',
  startedAt: '2026-01-01T00:00:00.000Z',
  offsetMs: 0,
  durationMs: 10,
  status: 200,
  flags: '-',
  ...over
});

describe('trace waterfall', () => {
  it('nests children under their parent, in start order, and scales to the trace', () => {
    const w = layoutWaterfall([
      span({ spanId: 'c2', parentSpanId: 's1', kind: 'client', offsetMs: 30, durationMs: 50 }),
      span({ spanId: 's1', offsetMs: 0, durationMs: 100 }),
      span({ spanId: 'c1', parentSpanId: 's1', kind: 'client', offsetMs: 10, durationMs: 20 }),
      span({ spanId: 's2', parentSpanId: 'c1', offsetMs: 11, durationMs: 18 })
    ]);
    expect(w.totalMs).toBe(100);
    expect(w.rows.map((r) => [r.span.spanId, r.depth])).toEqual([
      ['s1', 0],
      ['c1', 1],
      ['s2', 2],
      ['c2', 1]
    ]);
    expect(w.rows[1]).toMatchObject({ left: 0.1, width: 0.2, orphan: false });
  });

  it('a span whose parent is missing is a root marked orphan; a tiny span stays visible', () => {
    const w = layoutWaterfall([
      span({ spanId: 'a', parentSpanId: 'outside', durationMs: 1000 }),
      span({ spanId: 'b', parentSpanId: 'a', offsetMs: 1000, durationMs: 0 })
    ]);
    expect(w.rows[0]).toMatchObject({ depth: 0, orphan: true });
    expect(w.rows[1]!.width).toBe(0); // at the very end: no room left
    const tiny = layoutWaterfall([
      span({ spanId: 'a', durationMs: 1000 }),
      span({ spanId: 'b', parentSpanId: 'a', durationMs: 0.01 })
    ]);
    expect(tiny.rows[1]!.width).toBe(MIN_BAR);
  });

  it('survives a parent cycle and an empty trace', () => {
    const w = layoutWaterfall([span({ spanId: 'a', parentSpanId: 'b' }), span({ spanId: 'b', parentSpanId: 'a' })]);
    expect(w.rows.map((r) => r.span.spanId).sort()).toEqual(['a', 'b']);
    expect(layoutWaterfall([])).toEqual({ rows: [], totalMs: 0 });
  });

  it('client before server at the same offset', () => {
    const w = layoutWaterfall([span({ spanId: 's', kind: 'server' }), span({ spanId: 'c', kind: 'client' })]);
    expect(w.rows.map((r) => r.span.kind)).toEqual(['client', 'server']);
  });
});

describe('timing phases', () => {
  it('consecutive segments ending at each mark, as fractions of the request', () => {
    const p = timingPhases({ requestEnd: 1, upstreamConnected: 2, responseStart: 8, responseEnd: 10 }, 10);
    expect(p.map((x) => [x.name, x.fromMs, x.toMs])).toEqual([
      ['request', 0, 1],
      ['connect', 1, 2],
      ['wait', 2, 8],
      ['response', 8, 10]
    ]);
    expect(p[2]).toMatchObject({ left: 0.2, width: 0.6 });
  });

  it('skips phases that never happened and sorts out-of-order marks', () => {
    const p = timingPhases({ requestEnd: 3, upstreamConnected: null, responseStart: 2, responseEnd: 4 }, 4);
    expect(p.map((x) => [x.name, x.fromMs, x.toMs])).toEqual([
      ['wait', 0, 2],
      ['request', 2, 3],
      ['response', 3, 4]
    ]);
    expect(timingPhases(undefined, 3)).toEqual([]);
  });

  it('axis ticks are round numbers', () => {
    expect(ticks(100)).toEqual([0, 50, 100]);
    expect(ticks(1000, 5)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(ticks(9)).toEqual([0, 5]);
    expect(ticks(0)).toEqual([0]);
  });
});
