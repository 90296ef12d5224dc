/** The circuit breaker and outlier bookkeeping of one cluster (circuit.ts), driven directly with fixed clocks. */
import { describe, expect, it } from 'vitest';
import { ClusterCircuit, outlierPolicyFor, type OutlierPolicy, type PoolLimits } from './circuit.js';
import { compatFor } from '../config/compat.js';
import { Abort } from './abort.js';
import type { MergedDestinationRule } from '../config/compile.js';

const limits = (l: Partial<PoolLimits>): PoolLimits => ({
  maxConnections: 2 ** 32 - 1,
  maxPending: 2 ** 32 - 1,
  maxRequests: 2 ** 32 - 1,
  maxRetries: 2 ** 32 - 1,
  ...l
});
const policy = (p: Partial<OutlierPolicy>): OutlierPolicy => ({
  consecutive5xx: 5,
  consecutiveGateway: 0,
  consecutiveLocalOrigin: 0,
  intervalMs: 10_000,
  baseEjectionMs: 30_000,
  maxEjectionPercent: 10,
  minHealthPercent: 0,
  ejectBelowMaxPercent: false,
  ...p
});

describe('ClusterCircuit: connection pool', () => {
  it('past maxConnections requests wait as pending; past http1MaxPendingRequests they overflow', async () => {
    const c = new ClusterCircuit();
    const l = limits({ maxConnections: 1, maxPending: 1 });
    expect(await c.acquire(l)).toBe(true);
    let second = false;
    const waiting = c.acquire(l).then((ok) => (second = ok));
    expect(await c.acquire(l)).toBe(false); // one active, one pending: full
    expect(second).toBe(false);
    c.release(); // the pending one takes the freed slot
    await waiting;
    expect(second).toBe(true);
    c.release();
  });
  it('an aborted pending request leaves the queue: its place is free, and the freed slot goes to the next one', async () => {
    const c = new ClusterCircuit();
    const l = limits({ maxConnections: 1, maxPending: 1 });
    expect(await c.acquire(l)).toBe(true);
    const abort = new Abort();
    const waiting = c.acquire(l, abort);
    abort.abort();
    expect(await waiting).toBe(false);
    let next = false;
    const queued = c.acquire(l).then((ok) => (next = ok)); // not an overflow: the pending place is free again
    c.release();
    await queued;
    expect(next).toBe(true);
  });
  it('http2MaxRequests caps active and pending together', async () => {
    const c = new ClusterCircuit();
    const l = limits({ maxRequests: 2 });
    expect(await c.acquire(l)).toBe(true);
    expect(await c.acquire(l)).toBe(true);
    expect(await c.acquire(l)).toBe(false);
  });
});

describe('ClusterCircuit: outlier detection', () => {
  const key = (e: string) => e;
  it('ejects after consecutive errors, within maxEjectionPercent; a success resets the count', () => {
    const c = new ClusterCircuit();
    const p = policy({ consecutive5xx: 2, maxEjectionPercent: 50 });
    const now = performance.now();
    expect(c.record('a', 'http-5xx', p, 2, now)).toBe(false);
    expect(c.record('a', 'success', p, 2, now)).toBe(false);
    expect(c.record('a', 'local-failure', p, 2, now)).toBe(false);
    expect(c.record('a', 'http-gateway', p, 2, now)).toBe(true);
    expect(c.healthy(['a', 'b'], key, p, now)).toEqual(['b']);
    // a second ejection would make 2 of 2 = 100 % > 50 %
    c.record('b', 'http-5xx', p, 2, now);
    expect(c.record('b', 'http-5xx', p, 2, now)).toBe(false);
    expect(c.healthy(['a', 'b'], key, p, now)).toEqual(['b']);
  });
  it('back after baseEjectionTime, at the next interval sweep', () => {
    const c = new ClusterCircuit();
    const p = policy({ consecutive5xx: 1, maxEjectionPercent: 100, baseEjectionMs: 30_000, intervalMs: 7_000 });
    const t0 = performance.now();
    c.record('a', 'http-5xx', p, 1, t0);
    expect(c.healthy(['a'], key, p, t0 + 30_000)).toEqual([]); // 30 s is not yet a sweep (35 s is)
    expect(c.healthy(['a'], key, p, t0 + 35_500)).toEqual(['a']);
  });
  it('consecutiveGatewayErrors counts 502/503/504 and local failures only', () => {
    const c = new ClusterCircuit();
    const p = policy({ consecutive5xx: 0, consecutiveGateway: 2, maxEjectionPercent: 100 });
    const now = performance.now();
    c.record('a', 'http-gateway', p, 1, now);
    expect(c.record('a', 'http-5xx', p, 1, now)).toBe(false); // a 500 breaks the run
    c.record('a', 'local-failure', p, 1, now);
    expect(c.record('a', 'http-gateway', p, 1, now)).toBe(true);
  });
  it('splitExternalLocalOriginErrors: local-origin failures count apart, not as 5xx or gateway errors', () => {
    const c = new ClusterCircuit();
    const p = policy({ consecutive5xx: 1, consecutiveGateway: 1, consecutiveLocalOrigin: 2, maxEjectionPercent: 100 });
    const now = performance.now();
    expect(c.record('a', 'local-failure', p, 1, now)).toBe(false); // not a 5xx: one local-origin failure of 2
    expect(c.record('a', 'local-failure', p, 1, now)).toBe(true);
    const d = new ClusterCircuit();
    d.record('b', 'local-failure', p, 1, now);
    expect(d.record('b', 'success', { ...p, consecutive5xx: 0 }, 1, now)).toBe(false); // an answer ends the run
    expect(d.record('b', 'local-failure', p, 1, now)).toBe(false);
    expect(d.record('b', 'http-5xx', p, 1, now)).toBe(true); // answers still count as 5xx
  });
  it("outlierPolicyFor: split takes consecutiveLocalOriginFailures, Envoy's default 5 when unset; unsplit, none", () => {
    const rule = (od: Record<string, unknown>) =>
      ({ trafficPolicy: { outlierDetection: od }, subsets: new Map() }) as unknown as MergedDestinationRule;
    expect(
      outlierPolicyFor(rule({ splitExternalLocalOriginErrors: true }), undefined, 80)?.consecutiveLocalOrigin
    ).toBe(5);
    expect(
      outlierPolicyFor(rule({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 }), undefined, 80)
        ?.consecutiveLocalOrigin
    ).toBe(2);
    expect(outlierPolicyFor(rule({ consecutive5xxErrors: 1 }), undefined, 80)?.consecutiveLocalOrigin).toBe(0);
  });
  it('minHealthPercent: below it the cluster panics and uses every endpoint', () => {
    const c = new ClusterCircuit();
    const p = policy({ consecutive5xx: 1, maxEjectionPercent: 100, minHealthPercent: 60 });
    const now = performance.now();
    c.record('a', 'http-5xx', p, 2, now);
    expect(c.healthy(['a', 'b'], key, p, now)).toEqual(['a', 'b']); // 50 % healthy < 60 %
    expect(c.healthy(['a', 'b'], key, { ...p, minHealthPercent: 0 }, now)).toEqual(['b']);
  });
  it('the default 10 %: none of 3 endpoints is ejectable; before Istio 1.20 (Envoy < 1.28) one was', () => {
    const now = performance.now();
    const newest = new ClusterCircuit();
    const p = policy({ consecutive5xx: 1 });
    expect(newest.record('a', 'http-5xx', p, 3, now)).toBe(false); // (0 + 1) / 3 = 33 % > 10 %
    expect(newest.healthy(['a', 'b', 'c'], key, p, now)).toEqual(['a', 'b', 'c']);
    const old = new ClusterCircuit();
    const q = policy({ consecutive5xx: 1, ejectBelowMaxPercent: true });
    expect(old.record('a', 'http-5xx', q, 3, now)).toBe(true); // 0 / 3 = 0 % < 10 %
    expect(old.record('b', 'http-5xx', q, 3, now)).toBe(false); // 1 / 3 = 33 % is not below 10 %
    expect(old.healthy(['a', 'b', 'c'], key, q, now)).toEqual(['b', 'c']);
  });
});

describe('outlierPolicyFor: versions', () => {
  const dr = (od: Record<string, unknown>) =>
    ({ trafficPolicy: { outlierDetection: od }, subsets: new Map() }) as unknown as MergedDestinationRule;
  it('consecutiveErrors is ignored since Istio 1.7; before, it counted gateway errors with 5xx off', () => {
    const newest = outlierPolicyFor(dr({ consecutiveErrors: 1 }), undefined, 9080)!;
    expect([newest.consecutive5xx, newest.consecutiveGateway, newest.ejectBelowMaxPercent]).toEqual([5, 0, false]);
    const old = outlierPolicyFor(dr({ consecutiveErrors: 1 }), undefined, 9080, compatFor('1.6'))!;
    expect([old.consecutive5xx, old.consecutiveGateway, old.ejectBelowMaxPercent]).toEqual([0, 1, true]);
    // the newer fields win over it
    const both = outlierPolicyFor(
      dr({ consecutiveErrors: 1, consecutive5xxErrors: 3 }),
      undefined,
      9080,
      compatFor('1.6')
    )!;
    expect([both.consecutive5xx, both.consecutiveGateway]).toEqual([3, 1]);
    expect(outlierPolicyFor(dr({}), undefined, 9080, compatFor('1.19'))!.ejectBelowMaxPercent).toBe(true);
    expect(outlierPolicyFor(dr({}), undefined, 9080, compatFor('1.20'))!.ejectBelowMaxPercent).toBe(false);
  });
});
