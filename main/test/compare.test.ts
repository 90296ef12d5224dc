import { describe, expect, it } from 'vitest';
import type { FlowRecord, SessionView } from '../contract/api.js';
import { bodyDiff, callStats, compareFlows, compareSessions, headerChanges } from '../engine/capture/compare.js';
import { binaryBody, flow, serverHalf, textBody } from './helpers/flow.js';

describe('compareFlows', () => {
  it('lists only the fields that differ, durations to a tenth of a millisecond', () => {
    const a = flow(1, { durationMs: 12.34 });
    const b = flow(1, {
      id: 'f-b',
      status: 503,
      flags: 'UF,URX',
      durationMs: 12.31,
      subset: 'v2',
      attempts: 3,
      configVersion: 2,
      endpoint: null
    });
    expect(compareFlows(a, b).changes).toEqual([
      { field: 'status', a: '200', b: '503' },
      { field: 'flags', a: '-', b: 'UF,URX' },
      { field: 'subset', a: null, b: 'v2' },
      { field: 'endpoint', a: '127.0.0.1:19081', b: null },
      { field: 'attempts', a: '1', b: '3' },
      { field: 'configVersion', a: '1', b: '2' }
    ]);
    expect(compareFlows(a, flow(1, { durationMs: 19.96, path: '/other', method: 'PUT' })).changes).toEqual([
      { field: 'method', a: 'GET', b: 'PUT' },
      { field: 'path', a: '/reviews/1', b: '/other' },
      { field: 'durationMs', a: '12.3', b: '20.0' }
    ]);
    const same = compareFlows(a, { ...a });
    expect(same.changes).toEqual([]);
    expect(same.a).toBe(a);
  });

  it('compares headers by case-insensitive name, multiple values joined, sorted by name', () => {
    const changes = headerChanges(
      { Host: 'reviews:9080', 'x-b': ['1', '2'], 'x-same': 'v', 'x-gone': 'g', accept: '*/*' },
      { host: 'reviews:9080', 'X-B': '1, 3', 'x-same': 'v', 'x-new': 'n', Accept: 'application/json' }
    );
    expect(changes).toEqual([
      { field: 'accept', a: '*/*', b: 'application/json' },
      { field: 'x-b', a: '1, 2', b: '1, 3' },
      { field: 'x-gone', a: 'g', b: null },
      { field: 'x-new', a: null, b: 'n' }
    ]);
    const c = compareFlows(
      flow(1, { responseHeaders: { server: 'envoy', 'set-cookie': ['a=1', 'b=2'] } }),
      flow(2, { responseHeaders: { server: 'envoy', 'set-cookie': ['a=1', 'b=2'] } })
    );
    expect(c.responseHeaders).toEqual([]);
    expect(c.requestHeaders).toEqual([]);
  });

  it('diffs text bodies line by line', () => {
    const d = bodyDiff(textBody('{\n  "a": 1,\n  "b": 2\n}\n'), textBody('{\n  "a": 1,\n  "b": 3,\n  "c": 4\n}\n'));
    expect(d).toEqual({
      same: false,
      lines: [
        { op: '=', text: '{' },
        { op: '=', text: '  "a": 1,' },
        { op: '-', text: '  "b": 2' },
        { op: '+', text: '  "b": 3,' },
        { op: '+', text: '  "c": 4' },
        { op: '=', text: '}' }
      ]
    });
    expect(bodyDiff(textBody('one\ntwo'), textBody('one\ntwo'))).toEqual({
      same: true,
      lines: [
        { op: '=', text: 'one' },
        { op: '=', text: 'two' }
      ]
    });
    expect(bodyDiff(null, textBody('new\n'))).toEqual({ same: false, lines: [{ op: '+', text: 'new' }] });
    expect(bodyDiff(null, null)).toEqual({ same: true, lines: [] });
  });

  it('compares binary bodies by their bytes only', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0]);
    expect(bodyDiff(binaryBody(png), binaryBody(Buffer.from(png)))).toEqual({ same: true, lines: [] });
    expect(bodyDiff(binaryBody(png), binaryBody(Buffer.from([1, 2])))).toEqual({ same: false, lines: [] });
    expect(bodyDiff(binaryBody(png), textBody('text'))).toEqual({ same: false, lines: [] });
    const c = compareFlows(
      flow(1, { requestBody: textBody('a=1'), responseBody: binaryBody(png) }),
      flow(2, { requestBody: textBody('a=2'), responseBody: null })
    );
    expect(c.requestBody).toEqual({
      same: false,
      lines: [
        { op: '-', text: 'a=1' },
        { op: '+', text: 'a=2' }
      ]
    });
    expect(c.responseBody).toEqual({ same: false, lines: [] });
  });

  it('a huge line diff falls back to all removed, all added', () => {
    const a = Array.from({ length: 1500 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 1500 }, (_, i) => `b${i}`).join('\n');
    const d = bodyDiff(textBody(a), textBody(b));
    expect(d.same).toBe(false);
    expect(d.lines).toHaveLength(3000);
    expect(d.lines.slice(0, 1500).every((l) => l.op === '-' && l.text.startsWith('a'))).toBe(true);
    expect(d.lines.slice(1500).every((l) => l.op === '+' && l.text.startsWith('b'))).toBe(true);
    // a small change in a big body is still a line diff
    const big = Array.from({ length: 20_000 }, (_, i) => `line ${i}`);
    const edited = bodyDiff(
      textBody(big.join('\n')),
      textBody([...big.slice(0, 10_000), 'inserted', ...big.slice(10_000)].join('\n'))
    );
    expect(edited.lines.filter((l) => l.op !== '=')).toEqual([{ op: '+', text: 'inserted' }]);
  });
});

/** n calls productpage-v1 → reviews GET /reviews/<k>?q with these statuses and durations, plus their server halves. */
function calls(prefix: string, spec: { path: string; statuses: number[]; ms: number[] }[]): FlowRecord[] {
  let n = 0;
  return spec.flatMap(({ path, statuses, ms }) =>
    statuses.flatMap((status, k) => {
      const c = flow(n++, { id: `${prefix}-${n}`, path: `${path}?q=${k}`, status, durationMs: ms[k % ms.length]! });
      return [c, serverHalf(c, `${prefix}-${n}s`)];
    })
  );
}

const session = (id: number): SessionView => ({
  id,
  label: null,
  kind: 'user',
  startedAt: '2026-11-22T00:00:00.000Z',
  endedAt: null,
  flows: 0,
  bytes: 0,
  current: false,
  readOnly: false
});

describe('callStats', () => {
  it('groups client-side calls by caller, service, method and path without query; callers without sidecar as unknown', () => {
    const flows = [
      ...calls('x', [{ path: '/reviews/1', statuses: [200, 200, 503], ms: [10, 30, 20] }]),
      flow(50, {
        reporter: 'destination',
        source: null,
        destination: 'productpage-v1',
        destinationService: 'productpage.default.svc.cluster.local',
        path: '/productpage?u=1',
        durationMs: 7
      }),
      flow(51, {
        destination: null,
        destinationService: 'PassthroughCluster',
        authority: 'httpbin.org',
        path: '/get',
        durationMs: 100
      })
    ];
    expect(callStats(flows)).toEqual([
      {
        key: 'productpage-v1 → httpbin.org GET /get',
        caller: 'productpage-v1',
        service: 'httpbin.org',
        method: 'GET',
        path: '/get',
        count: 1,
        statuses: { 200: 1 },
        p50Ms: 100,
        p99Ms: 100
      },
      {
        key: 'productpage-v1 → reviews.default.svc.cluster.local GET /reviews/1',
        caller: 'productpage-v1',
        service: 'reviews.default.svc.cluster.local',
        method: 'GET',
        path: '/reviews/1',
        count: 3,
        statuses: { 200: 2, 503: 1 },
        p50Ms: 20,
        p99Ms: 30
      },
      {
        key: 'unknown → productpage.default.svc.cluster.local GET /productpage',
        caller: 'unknown',
        service: 'productpage.default.svc.cluster.local',
        method: 'GET',
        path: '/productpage',
        count: 1,
        statuses: { 200: 1 },
        p50Ms: 7,
        p99Ms: 7
      }
    ]);
  });
});

describe('compareSessions', () => {
  it('finds calls added, missing, changed in status mix or latency, and counts the unchanged', () => {
    const a = calls('a', [
      { path: '/same', statuses: [200, 200], ms: [10] },
      { path: '/more-traffic', statuses: [200, 500], ms: [10] },
      { path: '/breaks', statuses: [200, 200], ms: [10] },
      { path: '/slower', statuses: [200], ms: [20] },
      { path: '/jitter', statuses: [200], ms: [20] },
      { path: '/tiny-jitter', statuses: [200], ms: [2] },
      { path: '/gone', statuses: [200], ms: [5] }
    ]);
    const b = calls('b', [
      { path: '/same', statuses: [200, 200, 200, 200], ms: [10] },
      { path: '/more-traffic', statuses: [200, 500, 200, 500], ms: [10] },
      { path: '/breaks', statuses: [200, 503], ms: [10] },
      { path: '/slower', statuses: [200], ms: [30] },
      { path: '/jitter', statuses: [200], ms: [29] },
      { path: '/tiny-jitter', statuses: [200], ms: [6] },
      { path: '/new', statuses: [201], ms: [5] }
    ]);
    const r = compareSessions(session(1), a, session(2), b);
    expect(r.a.id).toBe(1);
    expect(r.b.id).toBe(2);
    const key = (p: string) => `productpage-v1 → reviews.default.svc.cluster.local GET ${p}`;
    expect(r.added.map((s) => s.key)).toEqual([key('/new')]);
    expect(r.missing.map((s) => s.key)).toEqual([key('/gone')]);
    expect(r.changed.map((c) => [c.key, c.statusChanged, c.p50DeltaMs])).toEqual([
      [key('/breaks'), true, 0],
      [key('/slower'), false, 10]
    ]);
    expect(r.changed[0]!.b.statuses).toEqual({ 200: 1, 503: 1 });
    expect(r.unchanged).toBe(4); // same, more-traffic (same mix), jitter (< 50 %), tiny-jitter (< 5 ms)
  });

  it('compares empty sessions', () => {
    expect(compareSessions(session(1), [], session(2), [])).toEqual({
      a: session(1),
      b: session(2),
      added: [],
      missing: [],
      changed: [],
      unchanged: 0
    });
  });
});
