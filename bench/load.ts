/**
 * The benchmark's own HTTP clients (run in a child process of their own, see load-child.ts):
 * - openLoop: a fixed request rate on a precise timetable. A worker thread sleeps to each scheduled instant
 *   (Atomics.wait, sub-millisecond) and wakes the main thread, which sends on a keep-alive agent without waiting
 *   for earlier answers. Latency is measured from the SCHEDULED send time (no coordinated omission: a stalled
 *   proxy makes later requests late, and that lateness counts), recorded in microseconds in an HDR histogram.
 * - closedLoop: N connections each sending the next request when the last one finished, for a saturation
 *   figure when wrk is not installed.
 */
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';

export interface LoadSpec {
  mode: 'open' | 'closed';
  port: number;
  path: string;
  /** open: requests per second. */
  rate: number;
  /** Measured window (after the warm-up). */
  durationMs: number;
  warmupMs: number;
  /** open: most sockets the agent opens; closed: concurrent connections. */
  connections: number;
  timeoutMs: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  mode: 'open' | 'closed';
  requests: number;
  ok: number;
  errors: number;
  non2xx: number;
  durationS: number;
  /** Completed requests per second over the measured window. */
  rps: number;
  /** open: from the scheduled send time; closed: from the send. Microseconds. */
  latencyUs: Percentiles;
  /** From the moment the request was handed to the socket layer (open loop only). */
  serviceUs?: Percentiles;
  /** How late the client sent against its timetable (open loop only): the client's own fidelity. */
  sendLagUs?: Percentiles;
}

type Histogram = ReturnType<typeof hdr.build>;
const histogram = (): Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

function percentiles(h: Histogram): Percentiles {
  if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean)
  };
}

const usSince = (from: bigint, to: bigint) => Math.max(1, Number((to - from) / 1000n));

/** The timetable: a worker posts [first, end) index ranges when their scheduled instants have come. */
const TICKER = `
const { parentPort } = require('node:worker_threads');
const cell = new Int32Array(new SharedArrayBuffer(4));
parentPort.once('message', (m) => {
  const start = BigInt(m.startNs), step = BigInt(m.intervalNs), count = m.count;
  let i = 0;
  while (i < count) {
    const now = process.hrtime.bigint();
    const due = start + BigInt(i) * step;
    if (due > now) { Atomics.wait(cell, 0, 0, Number(due - now) / 1e6); continue; }
    let j = i + 1;
    while (j < count && start + BigInt(j) * step <= now) j++;
    parentPort.postMessage([i, j]);
    i = j;
  }
  parentPort.postMessage('done');
});
parentPort.postMessage('ready');
`;

interface Sample {
  record: boolean;
}

/** One fixed-rate phase of `durationMs`; resolves when every request answered or timed out. */
function openPhase(
  spec: LoadSpec,
  agent: http.Agent,
  durationMs: number,
  rec: Sample,
  h: { lat: Histogram; svc: Histogram; lag: Histogram },
  counts: { requests: number; ok: number; errors: number; non2xx: number }
): Promise<void> {
  return new Promise((resolve, reject) => {
    const count = Math.max(1, Math.round((spec.rate * durationMs) / 1000));
    const intervalNs = BigInt(Math.round(1e9 / spec.rate));
    let startNs = 0n; // set once the worker thread runs, so its start-up never makes the first requests late
    let outstanding = 0;
    let scheduledAll = false;
    let cutOff: NodeJS.Timeout | undefined;
    const maybeDone = () => {
      if (!scheduledAll || outstanding > 0) return;
      // the agent is shared with the next phase: a warm-up's cut-off timer left running destroyed its sockets
      // mid-measurement ("socket hang up" on the requests in flight) when a measured phase was longer than it
      clearTimeout(cutOff);
      resolve();
    };
    const send = (k: number) => {
      const sched = startNs + BigInt(k) * intervalNs;
      outstanding++;
      if (rec.record) counts.requests++;
      let sent = 0n;
      let finished = false;
      const finish = (status: number | null) => {
        if (finished) return;
        finished = true;
        outstanding--;
        const end = process.hrtime.bigint();
        if (rec.record) {
          if (status === null) counts.errors++;
          else {
            if (status >= 200 && status < 300) counts.ok++;
            else counts.non2xx++;
            h.lat.recordValue(usSince(sched, end));
            if (sent) h.svc.recordValue(usSince(sent, end));
          }
        }
        maybeDone();
      };
      const req = http.request({ agent, host: '127.0.0.1', port: spec.port, path: spec.path, method: 'GET' }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => finish(res.statusCode ?? 0));
        res.on('error', () => finish(null));
      });
      req.setTimeout(spec.timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', () => finish(null));
      req.end();
      sent = process.hrtime.bigint();
      if (rec.record) h.lag.recordValue(usSince(sched, sent));
    };
    const worker = new Worker(TICKER, { eval: true });
    worker.on('message', (m: [number, number] | 'ready' | 'done') => {
      if (m === 'ready') {
        startNs = process.hrtime.bigint() + 2_000_000n;
        worker.postMessage({ startNs: startNs.toString(), intervalNs: intervalNs.toString(), count });
        return;
      }
      if (m === 'done') {
        scheduledAll = true;
        void worker.terminate();
        // bounded: whatever has not answered by then is cut off (and counts as an error)
        cutOff = setTimeout(() => agent.destroy(), spec.timeoutMs + 1000).unref();
        return maybeDone();
      }
      for (let k = m[0]; k < m[1]; k++) send(k);
    });
    worker.on('error', reject);
  });
}

export async function openLoop(
  spec: LoadSpec,
  onPhase: (p: 'measure-start' | 'measure-end') => Promise<void> | void
): Promise<LoadResult> {
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: spec.connections,
    maxFreeSockets: spec.connections,
    scheduling: 'lifo'
  });
  const h = { lat: histogram(), svc: histogram(), lag: histogram() };
  const counts = { requests: 0, ok: 0, errors: 0, non2xx: 0 };
  if (spec.warmupMs > 0) await openPhase(spec, agent, spec.warmupMs, { record: false }, h, counts);
  await onPhase('measure-start');
  const t0 = process.hrtime.bigint();
  await openPhase(spec, agent, spec.durationMs, { record: true }, h, counts);
  const durationS = Number(process.hrtime.bigint() - t0) / 1e9;
  await onPhase('measure-end');
  agent.destroy();
  return {
    mode: 'open',
    ...counts,
    durationS,
    rps: counts.ok / durationS,
    latencyUs: percentiles(h.lat),
    serviceUs: percentiles(h.svc),
    sendLagUs: percentiles(h.lag)
  };
}

export async function closedLoop(
  spec: LoadSpec,
  onPhase: (p: 'measure-start' | 'measure-end') => Promise<void> | void
): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections });
  const lat = histogram();
  const counts = { requests: 0, ok: 0, errors: 0, non2xx: 0 };
  const run = (ms: number, record: boolean) =>
    new Promise<void>((resolve) => {
      const deadline = Date.now() + ms;
      let live = spec.connections;
      const loop = () => {
        if (Date.now() >= deadline) {
          if (--live === 0) resolve();
          return;
        }
        const t = process.hrtime.bigint();
        let done = false;
        const finish = (status: number | null) => {
          if (done) return;
          done = true;
          if (record) {
            counts.requests++;
            if (status === null) counts.errors++;
            else if (status >= 200 && status < 300) counts.ok++;
            else counts.non2xx++;
            lat.recordValue(usSince(t, process.hrtime.bigint()));
          }
          setImmediate(loop);
        };
        const req = http.request({ agent, host: '127.0.0.1', port: spec.port, path: spec.path }, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => finish(res.statusCode ?? 0));
          res.on('error', () => finish(null));
        });
        req.setTimeout(spec.timeoutMs, () => req.destroy(new Error('timeout')));
        req.on('error', () => finish(null));
        req.end();
      };
      for (let i = 0; i < spec.connections; i++) loop();
    });
  if (spec.warmupMs > 0) await run(spec.warmupMs, false);
  await onPhase('measure-start');
  const t0 = process.hrtime.bigint();
  await run(spec.durationMs, true);
  const durationS = Number(process.hrtime.bigint() - t0) / 1e9;
  await onPhase('measure-end');
  agent.destroy();
  return { mode: 'closed', ...counts, durationS, rps: counts.ok / durationS, latencyUs: percentiles(lat) };
}
