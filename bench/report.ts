/** The benchmark's result: its JSON shape, the derived ratios, the bars, and the Markdown table. */
import fs from 'node:fs';
import path from 'node:path';
import type { PathId } from './paths.js';
import { median, round } from './util.js';

export type Mode = 'full' | 'quick' | 'smoke';

export interface Lat {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface SaturationRound {
  round: number;
  tool: 'wrk' | 'node-closed-loop';
  requests: number;
  rps: number;
  errors: number;
  latencyUs: Lat;
  proxyCpuUsPerReq: number | null;
  upstreamCpuUsPerReq: number | null;
}

/** One round of the fixed-rate pass on one path. */
export interface FixedRateRound {
  round: number;
  durationS: number;
  requests: number;
  errors: number;
  /** From the scheduled send time (coordinated omission corrected), microseconds. */
  latencyUs: FixedLat;
  serviceUs: Lat | null;
  sendLagUs: Lat | null;
  proxyCpuUsPerReq: number | null;
  /**
   * Run-queue wait per request over the measured window (proc.ts treeRunQueueWaitUs): how long the proxy's, the
   * load client's and the upstream's threads were runnable but waited for a core. Absent in results from before it.
   */
  runQueueUsPerReq?: RunQueue | null;
}

export interface RunQueue {
  proxy: number | null;
  client: number | null;
  upstream: number | null;
}

export type FixedLat = Lat & { p999: number; mean: number };

/**
 * A path's fixed-rate result: every round, and the figures of a round over all of them (as saturation reports):
 * durationS, requests and errors summed, the latencies (each percentile on its own), send lag and CPU the medians.
 */
export interface FixedRate extends Omit<FixedRateRound, 'round'> {
  rate: number;
  rounds: FixedRateRound[];
}

export interface PathResult {
  id: PathId;
  label: string;
  hops: number;
  status: 'ok' | 'not installed' | 'failed' | 'skipped';
  note?: string;
  version?: string;
  saturation: {
    rounds: SaturationRound[];
    /** Medians over the rounds. */
    rps: number | null;
    proxyCpuUsPerReq: number | null;
    upstreamCpuUsPerReq: number | null;
    latencyUs: Lat | null;
    errors: number;
  } | null;
  fixedRate: FixedRate | null;
  xDirect: number | null;
  xNginx: number | null;
  /** (p − direct p) / hops at the fixed rate, milliseconds. */
  addedMsPerHop: { p50: number; p90: number; p99: number } | null;
  peakRssMb: number | null;
}

export interface Bar {
  id: string;
  text: string;
  value: number | null;
  target: number;
  op: '>=' | '<=' | '<';
  unit: string;
  pass: boolean | null;
  moonshot?: boolean;
}

export interface BenchResult {
  schema: 1;
  mode: Mode;
  date: string;
  durationS: number;
  ok: boolean;
  errors: string[];
  notes: string[];
  machine: {
    cores: number;
    cpuModel: string;
    node: string;
    platform: string;
    arch: string;
    totalMemMb: number;
    loadavgStart: number[];
    loadavgEnd: number[];
  };
  settings: {
    rounds: number;
    warmupS: number;
    saturationS: number;
    connections: number;
    saturationTool: 'wrk' | 'node-closed-loop';
    fixedRate: number;
    /** Interleaved fixed-rate rounds asked for (each of fixedRateS seconds per path, after fixedWarmupS). */
    fixedRounds: number;
    fixedRateS: number;
    fixedWarmupS: number;
    /** The warm-up of each path in the first fixed-rate round (after the saturation rounds left it idle). */
    fixedFirstWarmupS?: number;
    /** The longest wait for the machine to go quiet before each measurement (0: none). */
    settleMaxMs?: number;
  };
  tools: Record<'wrk' | 'nginx' | 'mitmproxy' | 'mockttp', { installed: boolean; version?: string; install?: string }>;
  paths: PathResult[];
  engine: {
    startMs: number | null;
    rssMb: number | null;
    peakRssMb: number | null;
    cpuS: number | null;
    flowsCaptured: number | null;
    noCaptureEngine: { rssMb: number | null; peakRssMb: number | null };
  };
  startup: Array<{ services: number; ms: number; wallMs: number; listeners: number; rssMb: number }>;
  rssPerWorkloadMb: number | null;
  editApply: {
    /** How the measured saves were written. */
    method: 'in-place write';
    trials: number[];
    medianMs: number | null;
    maxMs: number | null;
    /** Saves whose rule did not answer within 3 s. */
    failures: number;
    /** Saves by temp file + rename: did the new rule answer? */
    atomicSaves: { tried: number; applied: number };
  } | null;
  store: { flows: number; appendMs: number; totalMs: number; flowsPerSec: number; kind: string } | null;
  /**
   * Capture's cost in paired slices: two hops with mTLS with capture off and on, measured alternately (ABBA) in short
   * slices after the saturation rounds, so that a change in the machine's speed hits both sides of a pair. lostPct is
   * 1 − the median of the per-pair ratios (on / off), in %.
   */
  capturePairs?: {
    off: PathId;
    on: PathId;
    sliceS: number;
    slices: Array<{ offRps: number; onRps: number }>;
    lostPct: number | null;
  };
  bars: Bar[];
}

/**
 * Summarize a path's fixed-rate rounds (at least one): the median over the rounds of each percentile, of the send lag,
 * the service time and the CPU per request (the statistic saturation reports); requests, errors and seconds summed.
 */
export function fixedRateSummary(rate: number, rounds: FixedRateRound[]): FixedRate {
  if (rounds.length === 0) throw new Error('fixedRateSummary: no rounds');
  const med = (xs: Array<number | null>) => round(median(xs.filter((x): x is number => x !== null)), 1);
  const sum = (f: (x: FixedRateRound) => number) => rounds.reduce((a, x) => a + f(x), 0);
  /** Each percentile's median over the rounds that have it (null when none has). */
  const lat = (ls: Array<Lat | null>): Lat | null => {
    const v = ls.filter((l): l is Lat => l !== null);
    if (v.length === 0) return null;
    return {
      p50: med(v.map((l) => l.p50))!,
      p90: med(v.map((l) => l.p90))!,
      p99: med(v.map((l) => l.p99))!,
      max: med(v.map((l) => l.max))!
    };
  };
  const l = rounds.map((x) => x.latencyUs);
  const { p50, p90, p99, max } = lat(l)!;
  return {
    rate,
    rounds,
    durationS: round(
      sum((x) => x.durationS),
      2
    )!,
    requests: sum((x) => x.requests),
    errors: sum((x) => x.errors),
    latencyUs: { p50, p90, p99, p999: med(l.map((x) => x.p999))!, max, mean: med(l.map((x) => x.mean))! },
    serviceUs: lat(rounds.map((x) => x.serviceUs)),
    sendLagUs: lat(rounds.map((x) => x.sendLagUs)),
    proxyCpuUsPerReq: med(rounds.map((x) => x.proxyCpuUsPerReq)),
    ...(rounds.some((x) => x.runQueueUsPerReq)
      ? {
          runQueueUsPerReq: {
            proxy: med(rounds.map((x) => x.runQueueUsPerReq?.proxy ?? null)),
            client: med(rounds.map((x) => x.runQueueUsPerReq?.client ?? null)),
            upstream: med(rounds.map((x) => x.runQueueUsPerReq?.upstream ?? null))
          }
        }
      : {})
  };
}

const byId = (r: BenchResult, id: PathId) => r.paths.find((p) => p.id === id && p.status === 'ok');

/** Fill in ratios to direct and nginx and the added milliseconds per hop. */
export function derive(r: BenchResult): void {
  const direct = byId(r, 'direct');
  const nginx = byId(r, 'nginx');
  for (const p of r.paths) {
    const rps = p.saturation?.rps ?? null;
    p.xDirect = rps && direct?.saturation?.rps ? round(rps / direct.saturation.rps, 3) : null;
    p.xNginx = rps && nginx?.saturation?.rps ? round(rps / nginx.saturation.rps, 3) : null;
    const d = direct?.fixedRate?.latencyUs;
    const l = p.fixedRate?.latencyUs;
    p.addedMsPerHop =
      p.hops > 0 && d && l
        ? {
            p50: round((l.p50 - d.p50) / p.hops / 1000, 3)!,
            p90: round((l.p90 - d.p90) / p.hops / 1000, 3)!,
            p99: round((l.p99 - d.p99) / p.hops / 1000, 3)!
          }
        : null;
  }
}

/**
 * nginx's CPU per proxied request in performance-anchors.md, the machine the CPU bars were set on (one hop 90 µs =
 * 5 ×, moonshot 45 µs = 2.5 ×, two hops mTLS 250 µs = 13.9 × nginx's). The issue states its bars as ratios in one
 * run, so each CPU bar is judged twice: in absolute microseconds and as that multiple of nginx's in this run.
 */
export const ANCHOR_NGINX_CPU_US = 18;

export function bars(r: BenchResult): Bar[] {
  const one = byId(r, 'mesh-1hop');
  const nginxCpu = byId(r, 'nginx')?.saturation?.proxyCpuUsPerReq ?? null;
  const vsNginx = (cpu: number | null | undefined) => (cpu != null && nginxCpu ? cpu / nginxCpu : null);
  const asNginx = (us: number) => round(us / ANCHOR_NGINX_CPU_US, 1)!;
  const rps = (id: PathId) => byId(r, id)?.saturation?.rps ?? null;
  const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
  const cap = 1 - (ratio(rps('mesh-2hop-mtls-capture'), rps('mesh-2hop-mtls')) ?? NaN);
  const paired = r.capturePairs?.lostPct ?? null;
  const s50 = r.startup.find((s) => s.services === 50);
  const mk = (
    id: string,
    text: string,
    value: number | null,
    op: Bar['op'],
    target: number,
    unit: string,
    moonshot = false
  ): Bar => {
    const v = value === null || !Number.isFinite(value) ? null : round(value, 3);
    const pass = v === null ? null : op === '>=' ? v >= target : op === '<=' ? v <= target : v < target;
    return { id, text, value: v, op, target, unit, pass, ...(moonshot ? { moonshot } : {}) };
  };
  return [
    mk('1hop-vs-mockttp', "one hop throughput × mockttp's", ratio(rps('mesh-1hop'), rps('mockttp')), '>=', 3, '×'),
    mk(
      '1hop-vs-mitmproxy',
      "one hop throughput × mitmproxy's",
      ratio(rps('mesh-1hop'), rps('mitmproxy')),
      '>=',
      9,
      '×'
    ),
    mk('1hop-cpu', 'one hop CPU per request', one?.saturation?.proxyCpuUsPerReq ?? null, '<=', 90, 'µs'),
    mk(
      '1hop-cpu-vs-nginx',
      "one hop CPU per request × nginx's in this run",
      vsNginx(one?.saturation?.proxyCpuUsPerReq),
      '<=',
      asNginx(90),
      '×'
    ),
    mk(
      '1hop-cpu-vs-node-floor',
      "one hop CPU per request × a bare node:http proxy's (the Node floor) in this run",
      ratio(one?.saturation?.proxyCpuUsPerReq ?? null, byId(r, 'node-floor')?.saturation?.proxyCpuUsPerReq ?? null),
      '<=',
      1,
      '×'
    ),
    mk('1hop-added-p50', 'one hop added p50 at 1k rps', one?.addedMsPerHop?.p50 ?? null, '<=', 0.25, 'ms'),
    mk('1hop-added-p99', 'one hop added p99 at 1k rps', one?.addedMsPerHop?.p99 ?? null, '<=', 1, 'ms'),
    mk(
      'moonshot-1hop-vs-nginx',
      "moonshot: one hop throughput × nginx's",
      ratio(rps('mesh-1hop'), rps('nginx')),
      '>=',
      0.5,
      '×',
      true
    ),
    mk(
      'moonshot-1hop-cpu',
      'moonshot: one hop CPU per request',
      one?.saturation?.proxyCpuUsPerReq ?? null,
      '<=',
      45,
      'µs',
      true
    ),
    mk(
      'moonshot-1hop-cpu-vs-nginx',
      "moonshot: one hop CPU per request × nginx's in this run",
      vsNginx(one?.saturation?.proxyCpuUsPerReq),
      '<=',
      asNginx(45),
      '×',
      true
    ),
    mk(
      'moonshot-dataplane-vs-nginx',
      "moonshot's data plane alone (one hop, capture off): throughput × nginx's",
      ratio(rps('mesh-1hop-nocapture'), rps('nginx')),
      '>=',
      0.5,
      '×',
      true
    ),
    mk(
      'moonshot-dataplane-cpu',
      "moonshot's data plane alone (one hop, capture off): CPU per request",
      byId(r, 'mesh-1hop-nocapture')?.saturation?.proxyCpuUsPerReq ?? null,
      '<=',
      45,
      'µs',
      true
    ),
    mk(
      '2hop-mtls-cpu',
      'two hops mTLS CPU per request (both sidecars)',
      byId(r, 'mesh-2hop-mtls')?.saturation?.proxyCpuUsPerReq ?? null,
      '<=',
      250,
      'µs'
    ),
    mk(
      '2hop-mtls-cpu-vs-nginx',
      "two hops mTLS CPU per request × nginx's in this run",
      vsNginx(byId(r, 'mesh-2hop-mtls')?.saturation?.proxyCpuUsPerReq),
      '<=',
      asNginx(250),
      '×'
    ),
    mk(
      'capture-cost',
      paired !== null
        ? 'capture on: throughput lost (2 hops mTLS, capture on vs off, paired slices)'
        : 'capture on: throughput lost (2 hops mTLS, capture on vs off)',
      paired ?? (Number.isFinite(cap) ? cap * 100 : null),
      '<=',
      15,
      '%'
    ),
    mk('startup-50', '50 services start', s50?.ms ?? null, '<', 2000, 'ms'),
    mk('edit-apply', 'an Istio edit applies (median)', r.editApply?.medianMs ?? null, '<', 100, 'ms'),
    mk('rss-per-workload', 'engine RSS growth per workload', r.rssPerWorkloadMb, '<=', 5, 'MB')
  ];
}

const f = (x: number | null | undefined, digits = 2) =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
const k = (x: number | null | undefined) =>
  x === null || x === undefined ? '–' : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
const ms = (us: number | null | undefined) => (us === null || us === undefined ? '–' : (us / 1000).toFixed(2));

export function markdown(r: BenchResult): string {
  const m = r.machine;
  const s = r.settings;
  const lag = r.paths.find((p) => p.id === 'direct')?.fixedRate?.sendLagUs;
  const out: string[] = [];
  out.push(`### localmesh benchmark — ${r.date.slice(0, 10)} (${r.mode})`, '');
  out.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), Node ${m.node}, ${m.platform}/${m.arch}; load average at start ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')}. Run took ${r.durationS.toFixed(0)} s.`
  );
  out.push(
    `Saturation (req/s, CPU): ${s.saturationTool === 'wrk' ? `wrk -t1 -c${s.connections} -d${s.saturationS}s` : `Node closed loop, ${s.connections} connections, ${s.saturationS} s (wrk not installed)`} after ${s.warmupS} s warm-up, ${s.rounds} interleaved round(s), medians. Latency (ms): ${s.fixedRate} req/s, open loop, ${s.fixedRounds > 1 ? `${s.fixedRounds} interleaved rounds of ${s.fixedRateS} s per path (after ${s.fixedWarmupS} s warm-up each${s.fixedFirstWarmupS && s.fixedFirstWarmupS !== s.fixedWarmupS ? `, ${s.fixedFirstWarmupS} s in the first round` : ''}), median of each percentile over the rounds` : `${s.fixedRateS} s per path after ${s.fixedWarmupS} s warm-up`}, from each request's scheduled send time${lag ? ` (the client's own send lag on the direct path: p50 ${lag.p50} µs, p99 ${lag.p99} µs)` : ''}.${s.settleMaxMs ? ` Each measurement starts once the machine is under 15 % busy (waiting at most ${s.settleMaxMs / 1000} s), so that none shares the cores with what the path before it left running.` : ''}`,
    ''
  );
  out.push(
    '| path | req/s | × direct | × nginx | CPU µs/req | p50 | p90 | p99 | max | added p50 / p99 per hop | peak RSS MB |'
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const p of r.paths) {
    if (p.status !== 'ok') {
      out.push(
        `| ${p.label} | ${p.status}${p.note ? `: ${p.note.replace(/\|/g, '/').split('\n')[0]}` : ''} | | | | | | | | | |`
      );
      continue;
    }
    const l = p.fixedRate?.latencyUs;
    const a = p.addedMsPerHop;
    out.push(
      `| ${p.label} | ${k(p.saturation?.rps)} | ${f(p.xDirect)} | ${f(p.xNginx)} | ${f(p.saturation?.proxyCpuUsPerReq, 0)} | ${ms(l?.p50)} | ${ms(l?.p90)} | ${ms(l?.p99)} | ${ms(l?.max)} | ${a ? `${f(a.p50)} / ${f(a.p99)}` : '–'} | ${f(p.peakRssMb, 0)} |`
    );
  }
  out.push('', '| bar | this run | target | |', '|---|---:|---:|---|');
  for (const b of r.bars)
    out.push(
      `| ${b.text} | ${b.value === null ? '–' : `${b.value} ${b.unit}`} | ${b.op} ${b.target} ${b.unit} | ${b.pass === null ? 'n/a' : b.pass ? 'PASS' : 'MISS'} |`
    );
  out.push('', '| engine | |', '|---|---|');
  out.push(`| start (bench mesh, 5 workloads) | ${f(r.engine.startMs, 0)} ms |`);
  out.push(`| RSS after the run / peak | ${f(r.engine.rssMb, 0)} / ${f(r.engine.peakRssMb, 0)} MB |`);
  out.push(`| CPU over the run | ${f(r.engine.cpuS, 1)} s |`);
  for (const st of r.startup)
    out.push(
      `| start, ${st.services} service(s) | ${f(st.ms, 0)} ms in process (${f(st.wallMs, 0)} ms from spawn), RSS ${f(st.rssMb, 0)} MB |`
    );
  out.push(`| RSS growth per workload | ${f(r.rssPerWorkloadMb)} MB |`);
  const ea = r.editApply;
  if (ea)
    out.push(
      `| Istio edit → new rule answers | median ${f(ea.medianMs, 1)} ms, max ${f(ea.maxMs, 1)} ms over ${ea.trials.length} in-place save(s)${ea.failures ? `, ${ea.failures} not applied within 3 s` : ''}; atomic saves (rename) applied ${ea.atomicSaves.applied} of ${ea.atomicSaves.tried} |`
    );
  if (r.store)
    out.push(
      `| flow store writes (SQLite, 1 KiB bodies) | ${k(r.store.flowsPerSec)} flows/s (${r.store.flows} flows: append ${f(r.store.appendMs, 0)} ms + commit = ${f(r.store.totalMs, 0)} ms; ${r.store.kind}) |`
    );
  const lanes = laneComparison(r);
  const capture = captureCost(r);
  const pairs = capturePairsNote(r);
  const planes = dataPlanes(r);
  const vsNginx = cpuVsNginx(r);
  const perRound = fixedRounds(r);
  const waits = runQueueNote(r);
  if (r.notes.length || r.errors.length || lanes || capture || pairs || planes || vsNginx || perRound || waits) {
    out.push('');
    if (lanes) out.push(`- ${lanes}`);
    if (capture) out.push(`- ${capture}`);
    if (pairs) out.push(`- ${pairs}`);
    if (planes) out.push(`- ${planes}`);
    if (vsNginx) out.push(`- ${vsNginx}`);
    if (perRound) out.push(`- ${perRound}`);
    if (waits) out.push(`- ${waits}`);
    for (const n of r.notes) out.push(`- ${n}`);
    for (const e of r.errors) out.push(`- ERROR: ${e}`);
  }
  return out.join('\n') + '\n';
}

/** Each path's fixed-rate p99 in every round (the table shows their median), when more than one round ran. */
function fixedRounds(r: BenchResult): string | null {
  const runs = r.paths.filter((p) => p.status === 'ok' && (p.fixedRate?.rounds.length ?? 0) > 1);
  if (runs.length === 0) return null;
  return `Fixed-rate p99 by round (ms, in round order; the table shows the median): ${runs
    .map((p) => `${p.id} ${p.fixedRate!.rounds.map((x) => ms(x.latencyUs.p99)).join(' / ')}`)
    .join('; ')}.`;
}

/**
 * Where the fixed-rate tail comes from: each path's run-queue wait per request (medians over the rounds) of the
 * proxy, the load client and the upstream, which share the machine's cores.
 */
export function runQueueNote(r: BenchResult): string | null {
  const rows = r.paths.filter((p) => p.status === 'ok' && p.fixedRate?.runQueueUsPerReq?.client != null);
  if (rows.length === 0) return null;
  const us = (x: number | null | undefined) => (x === null || x === undefined ? '–' : f(x, 0));
  return `Run-queue wait at ${rows[0]!.fixedRate!.rate} req/s (µs per request that a thread was runnable but waited for a core; proxy / load client / upstream, medians of the rounds): ${rows
    .map((p) => {
      const w = p.fixedRate!.runQueueUsPerReq!;
      return `${p.id} ${us(w.proxy)} / ${us(w.client)} / ${us(w.upstream)}`;
    })
    .join(
      '; '
    )}. The three share the cores: one that wakes while the others hold both waits its turn, and these waits are in every path's latency, the direct one's included (the machine was measured as it was: other work on it shows here too).`;
}

/** One hop on the raw-socket fast lane against the same engine with every request on node:http, in this run. */
function laneComparison(r: BenchResult): string | null {
  const fast = byId(r, 'mesh-1hop')?.saturation;
  const node = byId(r, 'mesh-1hop-node')?.saturation;
  if (!fast?.rps || !node?.rps || fast.proxyCpuUsPerReq === null || node.proxyCpuUsPerReq === null) return null;
  return (
    `Fast lane vs node:http, one hop: ${k(fast.rps)} vs ${k(node.rps)} req/s (${f(fast.rps / node.rps)} ×), ` +
    `${f(fast.proxyCpuUsPerReq, 0)} vs ${f(node.proxyCpuUsPerReq, 0)} µs CPU per request.`
  );
}

/** Capture's cost on two hops in paired slices (the bar), beside the same figure from the saturation rounds' medians. */
export function capturePairsNote(r: BenchResult): string | null {
  const c = r.capturePairs;
  if (!c || c.lostPct === null) return null;
  const on = byId(r, c.on)?.saturation?.rps;
  const off = byId(r, c.off)?.saturation?.rps;
  const medians = on && off ? ` (from the saturation rounds' medians: ${f((1 - on / off) * 100, 1)} %)` : '';
  return (
    `Capture's cost, two hops mTLS, in ${c.slices.length} pair${c.slices.length === 1 ? '' : 's'} of ${c.sliceS} s slices alternating ${c.off} and ` +
    `${c.on}: ${f(c.lostPct, 1)} % of throughput${medians}; on/off per pair ` +
    `${c.slices.map((x) => f(x.onRps / x.offRps, 3)).join(' / ')}.`
  );
}

/** What capture costs one hop in this run: the same engine setup with flows stored (and their bodies) and without. */
function captureCost(r: BenchResult): string | null {
  const on = byId(r, 'mesh-1hop')?.saturation;
  const off = byId(r, 'mesh-1hop-nocapture')?.saturation;
  if (!on?.rps || !off?.rps || on.proxyCpuUsPerReq === null || off.proxyCpuUsPerReq === null) return null;
  return (
    `Capture's cost, one hop: ${k(on.rps)} req/s with every flow and its bodies stored in SQLite, ${k(off.rps)} ` +
    `without (${f((1 - on.rps / off.rps) * 100, 1)} % of throughput); ${f(on.proxyCpuUsPerReq, 0)} vs ` +
    `${f(off.proxyCpuUsPerReq, 0)} µs CPU per request${tail(byId(r, 'mesh-1hop'), byId(r, 'mesh-1hop-nocapture'))}.`
  );
}

/** The fixed-rate tail with and without capture (its share of one hop's p99), when both were measured. */
function tail(on: PathResult | undefined, off: PathResult | undefined): string {
  const a = on?.fixedRate?.latencyUs;
  const b = off?.fixedRate?.latencyUs;
  if (!a || !b) return '';
  return `; at 1000 req/s p50 ${f(a.p50 / 1000, 2)} vs ${f(b.p50 / 1000, 2)} ms, p99 ${f(a.p99 / 1000, 2)} vs ${f(b.p99 / 1000, 2)} ms`;
}

/**
 * The data planes localmesh could have been built on (bare proxies with no mesh feature: node:http, http-proxy,
 * undici) against localmesh's one hop with every feature on, in this run: the numbers behind the choice of the
 * raw-socket fast lane.
 */
export function dataPlanes(r: BenchResult): string | null {
  const cpu = (id: PathId) => byId(r, id)?.saturation?.proxyCpuUsPerReq ?? null;
  const bare: [PathId, string][] = [
    ['node-floor', 'node:http + keep-alive Agent'],
    ['http-proxy', 'http-proxy'],
    ['undici', 'node:http server + undici Pool']
  ];
  const parts = bare.flatMap(([id, name]) => {
    const c = cpu(id);
    return c !== null ? [`${name} ${f(c, 0)} µs (${k(byId(r, id)?.saturation?.rps)} req/s)`] : [];
  });
  if (parts.length === 0) return null;
  const mine: string[] = [];
  if (cpu('mesh-1hop') !== null)
    mine.push(
      `localmesh one hop on its raw-socket fast lane ${f(cpu('mesh-1hop'), 0)} µs (${k(byId(r, 'mesh-1hop')?.saturation?.rps)} req/s)`
    );
  if (cpu('mesh-1hop-node') !== null)
    mine.push(
      `on node:http ${f(cpu('mesh-1hop-node'), 0)} µs (${k(byId(r, 'mesh-1hop-node')?.saturation?.rps)} req/s)`
    );
  const off = cpu('mesh-1hop-nocapture');
  return (
    `Data planes, CPU per request: bare proxies with no mesh feature: ${parts.join('; ')}` +
    (mine.length ? `. With routing, telemetry, tracing and capture on: ${mine.join(', ')}` : '') +
    (off !== null
      ? `${mine.length ? '; ' : '. '}the fast lane with capture off ${f(off, 0)} µs (${k(byId(r, 'mesh-1hop-nocapture')?.saturation?.rps)} req/s).`
      : '.')
  );
}

/**
 * CPU per request as a multiple of nginx's in the same run. The CPU bars are absolute microseconds, set on the faster
 * machine of performance-anchors.md (nginx 18 µs there, the node:http floor 82 µs = 4.6× nginx's, the one-hop bar
 * 90 µs = 5×); on a slower or busier machine every figure grows, and this ratio is the one to compare with them.
 */
function cpuVsNginx(r: BenchResult): string | null {
  const nginx = byId(r, 'nginx')?.saturation?.proxyCpuUsPerReq;
  if (!nginx) return null;
  const names: [PathId, string][] = [
    ['mesh-1hop', 'one hop'],
    ['mesh-1hop-node', 'one hop on node:http'],
    ['mesh-2hop-mtls', 'two hops mTLS'],
    ['mesh-2hop-mtls-capture', 'two hops mTLS + capture']
  ];
  const parts = names.flatMap(([id, name]) => {
    const cpu = byId(r, id)?.saturation?.proxyCpuUsPerReq;
    return cpu ? [`${name} ${f(cpu / nginx, 1)} ×`] : [];
  });
  if (parts.length === 0) return null;
  return (
    `CPU per request as a multiple of nginx's in this run (${f(nginx, 0)} µs): ${parts.join('; ')}. ` +
    'In performance-anchors.md (nginx 18 µs) the node:http floor was 4.6 ×, and the bars are 5 × (one hop, 90 µs), 2.5 × (moonshot, 45 µs) and 13.9 × (two hops mTLS, 250 µs).'
  );
}

const BEGIN = '<!-- bench:latest:begin -->';
const END = '<!-- bench:latest:end -->';

/** Write latest.{json,md} (latest-<mode> for quick and smoke runs) and, for a full run, dated copies. */
export function writeResults(dir: string, r: BenchResult): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const md = markdown(r);
  const base = r.mode === 'full' ? 'latest' : `latest-${r.mode}`;
  const files = [path.join(dir, `${base}.json`), path.join(dir, `${base}.md`)];
  fs.writeFileSync(files[0]!, JSON.stringify(r, null, 2) + '\n');
  fs.writeFileSync(files[1]!, md);
  if (r.mode === 'full') {
    const stamp = r.date
      .replace(/:\d\d\.\d+Z$/, '')
      .replace(/[:]/g, '')
      .replace('T', '-');
    for (const ext of ['json', 'md']) {
      const f2 = path.join(dir, `${stamp}.${ext}`);
      fs.copyFileSync(ext === 'json' ? files[0]! : files[1]!, f2);
      files.push(f2);
    }
  }
  return files;
}

/** Replace the table between the markers in a README (the full run's table is what the README shows). */
export function updateReadme(readme: string, r: BenchResult): boolean {
  if (!fs.existsSync(readme)) return false;
  const text = fs.readFileSync(readme, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return false;
  fs.writeFileSync(readme, text.slice(0, a + BEGIN.length) + '\n' + markdown(r) + text.slice(b));
  return true;
}
