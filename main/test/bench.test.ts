// The benchmark's plumbing (issue 7): `npm run bench -- --smoke` starts, measures each path, and writes valid JSON
// and Markdown. No timing assertion: numbers are only checked to exist, never against a bar.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PATHS } from '../../bench/paths.js';
import { parseWrk } from '../../bench/wrk.js';
import { profileMarkdown, summarizeProfile } from '../../bench/profile.js';
import {
  bars,
  capturePairsNote,
  dataPlanes,
  fixedRateSummary,
  runQueueNote,
  type BenchResult,
  type FixedRateRound
} from '../../bench/report.js';
import { openLoop } from '../../bench/load.js';
import { treeRunQueueWaitUs, untilQuiet } from '../../bench/proc.js';
import { median } from '../../bench/util.js';

const root = path.resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Run bench/run.ts with `args` into a fresh folder; bounded (killed after `limitMs`). */
function bench(args: string[], limitMs: number): Promise<{ code: number | null; output: string; out: string }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-bench-test-'));
  dirs.push(out);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const killer = setTimeout(() => child.kill('SIGTERM'), limitMs);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, output, out });
    });
  });
}

function readResult(out: string): BenchResult {
  const json = JSON.parse(fs.readFileSync(path.join(out, 'latest-smoke.json'), 'utf8')) as BenchResult;
  expect(fs.readFileSync(path.join(out, 'latest-smoke.md'), 'utf8')).toContain('| path | req/s |');
  return json;
}

function expectShape(r: BenchResult): void {
  expect(r.schema).toBe(1);
  expect(r.mode).toBe('smoke');
  expect(Number.isNaN(Date.parse(r.date))).toBe(false);
  expect(r.machine.cores).toBeGreaterThan(0);
  expect(r.machine.node).toBe(process.version);
  expect(r.paths.map((p) => p.id).sort()).toEqual(PATHS.map((p) => p.id).sort());
  expect(r.bars.length).toBeGreaterThan(0);
  for (const b of r.bars) expect([true, false, null]).toContain(b.pass);
}

/** A path that ran: both measurements are there, with counts and latencies (whatever their size). */
function expectMeasured(r: BenchResult, id: string): void {
  const p = r.paths.find((x) => x.id === id)!;
  expect(p.status, `${id}: ${p.note ?? ''}`).toBe('ok');
  expect(p.saturation?.rounds.length).toBe(1);
  expect(p.saturation!.rounds[0]!.requests).toBeGreaterThan(0);
  expect(typeof p.saturation!.rps).toBe('number');
  if (PATHS.find((x) => x.id === id)!.saturationOnly) {
    // the bare data planes are compared by their CPU at saturation only
    expect(p.fixedRate).toBeNull();
    expect(p.saturation!.proxyCpuUsPerReq).toBeGreaterThan(0);
    return;
  }
  const fr = p.fixedRate!;
  expect(fr.requests).toBeGreaterThan(0);
  expect(fr.latencyUs.p50).toBeGreaterThan(0);
  expect(fr.latencyUs.max).toBeGreaterThanOrEqual(fr.latencyUs.p50);
  // one entry per fixed-rate round that ran (smoke: one), the reported percentiles their medians
  expect(r.settings.fixedRounds).toBe(1);
  expect(fr.rounds.map((x) => x.round)).toEqual([1]);
  expect(fr.rounds[0]!.requests).toBe(fr.requests);
  expect(fr.latencyUs.p99).toBe(median(fr.rounds.map((x) => x.latencyUs.p99)));
  expect(fr.latencyUs).toEqual(fr.rounds[0]!.latencyUs);
  if (p.hops > 0) expect(p.addedMsPerHop).not.toBeNull();
}

describe('npm run bench -- --smoke', () => {
  it('measures every path it has a tool for, the engine, and writes JSON + Markdown', async () => {
    const { code, output, out } = await bench([], 170_000);
    expect(code, output).toBe(0);
    const r = readResult(out);
    expectShape(r);
    for (const p of PATHS) {
      const tool = p.proxy === 'nginx' || p.proxy === 'mitmproxy' || p.proxy === 'mockttp' ? r.tools[p.proxy] : null;
      if (tool && !tool.installed) {
        expect(r.paths.find((x) => x.id === p.id)!.status).toBe('not installed');
        expect(tool.install).toBeTruthy();
      } else expectMeasured(r, p.id);
    }
    const onePlus = r.paths.find((p) => p.id === 'mesh-1hop')!;
    expect(onePlus.saturation!.proxyCpuUsPerReq === null || onePlus.saturation!.proxyCpuUsPerReq >= 0).toBe(true);
    expect(r.engine.flowsCaptured).toBeGreaterThan(0);
    expect(r.startup.map((s) => s.services)).toEqual([1, 3]);
    expect(r.editApply?.trials.length).toBe(1);
    expect(r.store?.flows).toBe(300);
    // capture's cost in paired slices: one pair in smoke mode, the bar judged on it
    expect(r.capturePairs?.slices.length).toBe(1);
    expect(r.capturePairs!.slices[0]!.offRps).toBeGreaterThan(0);
    expect(r.capturePairs!.slices[0]!.onRps).toBeGreaterThan(0);
    expect(r.bars.find((b) => b.id === 'capture-cost')!.value).toBe(r.capturePairs!.lostPct);
    expect(fs.readFileSync(path.join(out, 'latest-smoke.md'), 'utf8')).toMatch(
      /Capture's cost, two hops mTLS, in 1 pair of 1 s slices/
    );
    expect(r.ok).toBe(true);
    expect(output).toMatch(/(PASS|MISS|n\/a) +one hop CPU per request/);
    if (r.tools.nginx?.installed) {
      const md = fs.readFileSync(path.join(out, 'latest-smoke.md'), 'utf8');
      const nginxCpu = r.paths.find((p) => p.id === 'nginx')!.saturation!.proxyCpuUsPerReq!;
      const ratio = onePlus.saturation!.proxyCpuUsPerReq! / nginxCpu;
      expect(md).toContain(
        `multiple of nginx's in this run (${Math.round(nginxCpu)} µs): one hop ${ratio.toFixed(1)} ×`
      );
    }
  }, 180_000);

  it('without wrk, nginx, mitmproxy and mockttp: falls back to the Node saturation client and says how to install them; --profile profiles the engine', async () => {
    const { code, output, out } = await bench(
      ['--without', 'wrk,nginx,mitmproxy,mockttp', '--paths', 'mesh-1hop', '--profile'],
      170_000
    );
    expect(code, output).toBe(0);
    const r = readResult(out);
    expectShape(r);
    expect(r.settings.saturationTool).toBe('node-closed-loop');
    expect(r.tools.wrk).toMatchObject({ installed: false, install: expect.stringContaining('apt-get') });
    for (const id of ['nginx', 'mitmproxy', 'mockttp'] as const)
      expect(r.paths.find((p) => p.id === id)!.status).toMatch(/not installed|skipped/);
    expectMeasured(r, 'direct');
    expectMeasured(r, 'mesh-1hop');
    expect(r.paths.find((p) => p.id === 'mesh-1hop')!.saturation!.rounds[0]!.tool).toBe('node-closed-loop');
    // --profile: the engine ran under V8's profiler; its profile is summarized by area and function
    const prof = summarizeProfile(path.join(out, 'profiles', 'engine.cpuprofile'));
    expect(prof.busyMs).toBeGreaterThan(0);
    expect(prof.areas.find((a) => a.area === 'localmesh engine')?.pct).toBeGreaterThan(0);
    expect(prof.top.length).toBeGreaterThan(0);
    const md = fs.readFileSync(path.join(out, 'profiles', 'engine.md'), 'utf8');
    expect(md).toContain('| function (self time) | where | % busy |');
    expect(output).toMatch(/profile of engine: .*engine\.md/);
  }, 180_000);
});

describe('profile summary', () => {
  it('splits busy time by area and ranks functions by self time; idle time is left out of the shares', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-profile-test-'));
    dirs.push(dir);
    const frame = (id: number, functionName: string, url: string, lineNumber = 0) => ({
      id,
      callFrame: { functionName, url, lineNumber }
    });
    const engine = `file://${root}/main/engine/sidecar/h1.ts`;
    const profile = {
      nodes: [
        frame(1, '(root)', ''),
        frame(2, '(idle)', ''),
        frame(3, 'parseFields', engine, 80),
        frame(4, 'writeBuffer', ''),
        frame(5, '(garbage collector)', ''),
        frame(6, 'onStreamRead', 'node:internal/stream_base_commons', 167),
        frame(7, 'stringify', `file://${root}/node_modules/yaml/dist/index.js`, 3)
      ],
      // self time per node: idle 1000 µs; parseFields 400, writeBuffer 300, GC 100, onStreamRead 150, yaml 50
      samples: [2, 3, 3, 4, 5, 6, 7, 4],
      timeDeltas: [1000, 200, 200, 150, 100, 150, 50, 150]
    };
    const file = path.join(dir, 'p.cpuprofile');
    fs.writeFileSync(file, JSON.stringify(profile));
    const s = summarizeProfile(file, 3);
    expect(s.busyMs).toBe(1);
    expect(s.idleMs).toBe(1);
    expect(s.areas).toEqual([
      { area: 'localmesh engine', pct: 40 },
      { area: 'native writeBuffer', pct: 30 },
      { area: 'Node internals', pct: 15 },
      { area: 'GC', pct: 10 },
      { area: 'dependencies', pct: 5 }
    ]);
    expect(s.top).toEqual([
      { fn: 'parseFields', where: 'main/engine/sidecar/h1.ts:81', pct: 40 },
      { fn: 'writeBuffer', where: '(native)', pct: 30 },
      { fn: 'onStreamRead', where: 'node:internal/stream_base_commons', pct: 15 }
    ]);
    expect(profileMarkdown(s, 'Where it went')).toContain('| parseFields | main/engine/sidecar/h1.ts:81 | 40.0 |');
  });
});

describe('fixed-rate rounds', () => {
  /** A round whose every latency figure is `us` (service time and send lag alike). */
  const at = (n: number, us: number, over: Partial<FixedRateRound> = {}): FixedRateRound => ({
    round: n,
    durationS: 4,
    requests: 4000,
    errors: n - 1,
    latencyUs: { p50: us, p90: us, p99: us, p999: us, max: us, mean: us },
    serviceUs: { p50: us, p90: us, p99: us, max: us },
    sendLagUs: { p50: us, p90: us, p99: us, max: us },
    proxyCpuUsPerReq: us,
    ...over
  });

  it('with one round reports that round', () => {
    const one = at(1, 300, { latencyUs: { p50: 250, p90: 280, p99: 640, p999: 3800, max: 8400, mean: 290 } });
    const s = fixedRateSummary(1000, [one]);
    expect(s).toEqual({
      rate: 1000,
      rounds: [one],
      durationS: one.durationS,
      requests: one.requests,
      errors: one.errors,
      latencyUs: one.latencyUs,
      serviceUs: one.serviceUs,
      sendLagUs: one.sendLagUs,
      proxyCpuUsPerReq: one.proxyCpuUsPerReq
    });
    expect(s.latencyUs.p99).toBe(640);
  });

  it('with two rounds reports the median of each figure (the mean of the two), and sums requests, errors and seconds', () => {
    const s = fixedRateSummary(1000, [at(1, 300), at(2, 501, { proxyCpuUsPerReq: null, serviceUs: null })]);
    expect(s.rounds).toHaveLength(2);
    expect(s.latencyUs).toEqual({ p50: 400.5, p90: 400.5, p99: 400.5, p999: 400.5, max: 400.5, mean: 400.5 });
    expect(s.latencyUs.p99).toBe(median([300, 501]));
    expect(s.sendLagUs!.p99).toBe(400.5);
    // a figure missing from a round is the median of the rounds that have it
    expect(s.serviceUs!.p99).toBe(300);
    expect(s.proxyCpuUsPerReq).toBe(300);
    expect(s).toMatchObject({ rate: 1000, requests: 8000, errors: 1, durationS: 8 });
  });

  it('with three rounds takes each percentile on its own: one slow round does not decide the p99', () => {
    const stalled = at(2, 300, {
      latencyUs: { p50: 280, p90: 310, p99: 20_000, p999: 25_000, max: 30_000, mean: 400 }
    });
    const s = fixedRateSummary(1000, [at(1, 300), stalled, at(3, 350)]);
    expect(s.latencyUs).toEqual({ p50: 300, p90: 310, p99: 350, p999: 350, max: 350, mean: 350 });
    expect(s.sendLagUs).toEqual({ p50: 300, p90: 300, p99: 300, max: 300 });
    expect(s).toMatchObject({ requests: 12_000, errors: 3, durationS: 12 });
    expect(s.rounds.map((x) => x.round)).toEqual([1, 2, 3]);
  });

  it('has no median without a round', () => {
    expect(() => fixedRateSummary(1000, [])).toThrow();
  });

  it('takes the median of each run-queue wait and says them per path; results from before it have none', () => {
    const w = (proxy: number | null, client: number) => ({ runQueueUsPerReq: { proxy, client, upstream: client / 2 } });
    const s = fixedRateSummary(1000, [at(1, 300, w(40, 10)), at(2, 300, w(900, 30)), at(3, 300, w(60, 20))]);
    expect(s.runQueueUsPerReq).toEqual({ proxy: 60, client: 20, upstream: 10 });
    expect(fixedRateSummary(1000, [at(1, 300)])).not.toHaveProperty('runQueueUsPerReq');
    const direct = fixedRateSummary(1000, [at(1, 300, w(null, 8))]);
    const note = runQueueNote({
      paths: [
        { id: 'direct', status: 'ok', fixedRate: direct },
        { id: 'mesh-1hop', status: 'ok', fixedRate: s }
      ]
    } as never);
    expect(note).toContain('Run-queue wait at 1000 req/s');
    expect(note).toContain('direct – / 8 / 4; mesh-1hop 60 / 20 / 10.');
    expect(
      runQueueNote({ paths: [{ id: 'direct', status: 'ok', fixedRate: fixedRateSummary(1000, [at(1, 3)]) }] } as never)
    ).toBeNull();
  });
});

describe('run-queue wait from /proc', () => {
  it.runIf(fs.existsSync('/proc/self/schedstat'))(
    'counts the time busy processes waited for a core when there are more of them than cores',
    async () => {
      // one more process spinning than there are cores: some of them must wait for one (bounded: 400 ms each)
      const n = os.availableParallelism() + 1;
      const spin =
        'const t = Date.now(); while (Date.now() - t < 400); process.send("spun"); setInterval(() => {}, 1000);';
      const kids = Array.from({ length: n }, () =>
        spawn(process.execPath, ['-e', spin], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })
      );
      try {
        await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
        const waits = kids.map((k) => treeRunQueueWaitUs(k.pid));
        for (const w of waits) expect(w).toBeGreaterThanOrEqual(0);
        expect(waits.reduce((a, b) => a! + b!, 0)).toBeGreaterThan(0);
      } finally {
        for (const k of kids) k.kill('SIGKILL');
      }
      expect(treeRunQueueWaitUs(undefined)).toBeNull();
    },
    30_000
  );
});

describe('wrk output', () => {
  it('is parsed into requests, rate, latency percentiles and errors', () => {
    const r = parseWrk(`Running 8s test @ http://127.0.0.1:40000/bench/items/42
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.61ms  412.19us  12.04ms   91.20%
    Req/Sec    12.27k   401.55    12.89k    80.00%
  Latency Distribution
     50%    2.55ms
     75%    2.71ms
     90%    2.98ms
     99%    3.81ms
  97654 requests in 8.00s, 113.64MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:  12206.23
Transfer/sec:     14.20MB
`);
    expect(r).toEqual({
      requests: 97654,
      durationS: 8,
      rps: 12206.23,
      latencyUs: { p50: 2550, p75: 2710, p90: 2980, p99: 3810, max: 12040 },
      non2xx: 3,
      socketErrors: 3
    });
  });
});

describe('bars', () => {
  /** A result with only the saturation CPU of the paths the CPU bars read. */
  function withCpu(cpu: Partial<Record<string, number>>): BenchResult {
    const paths = Object.entries(cpu).map(([id, us]) => ({
      id,
      status: 'ok',
      saturation: { rps: 1000, proxyCpuUsPerReq: us }
    }));
    return { paths, startup: [], editApply: null, rssPerWorkloadMb: null } as unknown as BenchResult;
  }
  const bar = (r: BenchResult, id: string) => bars(r).find((b) => b.id === id)!;

  it('judges each CPU bar in microseconds and as a multiple of nginx in the same run (its anchor 18 µs)', () => {
    const r = withCpu({ nginx: 32, 'mesh-1hop': 150, 'mesh-2hop-mtls': 330 });
    expect(bar(r, '1hop-cpu')).toMatchObject({ value: 150, target: 90, pass: false });
    expect(bar(r, '1hop-cpu-vs-nginx')).toMatchObject({ value: 4.688, target: 5, unit: '×', pass: true });
    expect(bar(r, 'moonshot-1hop-cpu-vs-nginx')).toMatchObject({ target: 2.5, pass: false, moonshot: true });
    expect(bar(r, '2hop-mtls-cpu-vs-nginx')).toMatchObject({ value: 10.313, target: 13.9, pass: true });
    // on the anchors' machine both readings agree: 100 µs is above 90 µs and above 5 × 18 µs
    expect(bar(withCpu({ nginx: 18, 'mesh-1hop': 100 }), '1hop-cpu-vs-nginx').pass).toBe(false);
  });

  it('compares one hop with every feature on against the bare Node floor of the same run, and lists the data planes', () => {
    const r = withCpu({ 'node-floor': 120, 'http-proxy': 140, undici: 110, 'mesh-1hop': 96, 'mesh-1hop-node': 200 });
    expect(bar(r, '1hop-cpu-vs-node-floor')).toMatchObject({ value: 0.8, target: 1, op: '<=', pass: true });
    expect(bar(withCpu({ 'node-floor': 100, 'mesh-1hop': 130 }), '1hop-cpu-vs-node-floor').pass).toBe(false);
    expect(bar(withCpu({ 'mesh-1hop': 130 }), '1hop-cpu-vs-node-floor').pass).toBeNull();
    expect(dataPlanes(r)).toBe(
      'Data planes, CPU per request: bare proxies with no mesh feature: node:http + keep-alive Agent 120 µs (1.0k req/s); ' +
        'http-proxy 140 µs (1.0k req/s); node:http server + undici Pool 110 µs (1.0k req/s). With routing, telemetry, ' +
        'tracing and capture on: localmesh one hop on its raw-socket fast lane 96 µs (1.0k req/s), on node:http 200 µs (1.0k req/s).'
    );
    expect(dataPlanes(withCpu({ 'mesh-1hop': 96 }))).toBeNull();
  });

  it("judges capture's cost on paired slices when the run has them, else on the saturation rounds' medians", () => {
    const r = withCpu({ 'mesh-2hop-mtls': 300, 'mesh-2hop-mtls-capture': 350 });
    // the medians: the same 1000 req/s on both paths
    expect(bar(r, 'capture-cost')).toMatchObject({ value: 0, pass: true });
    expect(bar(r, 'capture-cost').text).not.toMatch(/paired/);
    expect(capturePairsNote(r)).toBeNull();
    r.capturePairs = {
      off: 'mesh-2hop-mtls',
      on: 'mesh-2hop-mtls-capture',
      sliceS: 2,
      slices: [
        { offRps: 1000, onRps: 800 },
        { offRps: 500, onRps: 400 },
        { offRps: 1000, onRps: 900 }
      ],
      lostPct: 20
    };
    expect(bar(r, 'capture-cost')).toMatchObject({ value: 20, target: 15, pass: false });
    expect(bar(r, 'capture-cost').text).toMatch(/paired slices/);
    expect(capturePairsNote(r)).toBe(
      "Capture's cost, two hops mTLS, in 3 pairs of 2 s slices alternating mesh-2hop-mtls and mesh-2hop-mtls-capture: " +
        "20.0 % of throughput (from the saturation rounds' medians: 0.0 %); on/off per pair 0.800 / 0.800 / 0.900."
    );
  });

  it("judges the moonshot's data plane on one hop with capture off, beside the moonshot itself", () => {
    const r = withCpu({ nginx: 20, 'mesh-1hop': 80, 'mesh-1hop-nocapture': 44 });
    expect(bar(r, 'moonshot-dataplane-cpu')).toMatchObject({ value: 44, target: 45, pass: true, moonshot: true });
    expect(bar(r, 'moonshot-1hop-cpu')).toMatchObject({ value: 80, pass: false, moonshot: true });
    expect(bar(withCpu({ nginx: 20 }), 'moonshot-dataplane-vs-nginx')).toMatchObject({ value: null, pass: null });
  });

  it('without nginx measured the ratio bars have no value and no verdict', () => {
    expect(bar(withCpu({ 'mesh-1hop': 80 }), '1hop-cpu-vs-nginx')).toMatchObject({ value: null, pass: null });
    expect(bar(withCpu({ 'mesh-1hop': 80 }), '1hop-cpu').pass).toBe(true);
  });
});

describe.skipIf(!fs.existsSync('/proc/stat'))('untilQuiet (a measurement starts once the machine is quiet)', () => {
  it('waits up to its limit while every core is busy, and says how busy the machine was', async () => {
    // one spinning process per core: whatever else runs, the machine is more than half busy
    const spinners = Array.from({ length: os.availableParallelism() }, () =>
      spawn(process.execPath, ['-e', 'const end = Date.now() + 5000; while (Date.now() < end);'], { stdio: 'ignore' })
    );
    try {
      await new Promise((r) => setTimeout(r, 150));
      const busy = await untilQuiet(0.15, 300, 100);
      expect(busy.busy).toBeGreaterThan(0.5);
      expect(busy.waitedMs).toBeGreaterThanOrEqual(300);
    } finally {
      for (const s of spinners) s.kill('SIGKILL');
    }
  });

  it('with a threshold above any load it starts after one window', async () => {
    const r = await untilQuiet(1.01, 5000, 50);
    expect(r.busy).not.toBeNull();
    expect(r.busy!).toBeLessThanOrEqual(1);
    expect(r.waitedMs).toBeLessThan(5000);
  });
});

describe('the open-loop load client', () => {
  it('keeps its sockets through a measured phase longer than the warm-up plus the request timeout', async () => {
    // every answer takes 40 ms, so at 200 req/s about 8 requests are always in flight
    const server = http.createServer((req, res) => {
      req.resume();
      setTimeout(() => res.end('ok'), 40);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const phases: string[] = [];
      const r = await openLoop(
        { mode: 'open', port, path: '/', rate: 200, warmupMs: 100, durationMs: 1600, connections: 32, timeoutMs: 300 },
        (p) => void phases.push(p)
      );
      expect(phases).toEqual(['measure-start', 'measure-end']);
      expect(r.requests).toBe(320);
      expect(r.errors).toBe(0);
      expect(r.ok).toBe(320);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});
