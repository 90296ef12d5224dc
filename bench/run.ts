/**
 * `npm run bench [-- --quick | --smoke] [--out DIR] [--paths id,id,…]`: localmesh's benchmark (issue 7).
 *
 * One run, everything on 127.0.0.1, bounded in time. An upstream stub (node:http, 1 KiB JSON) behind each path:
 * direct, nginx, mockttp, mitmproxy, and localmesh with one hop and two hops (plaintext, mTLS, mTLS with capture,
 * a VirtualService of 50 rules). Each proxy is a process of its own whose CPU time is read from /proc around the
 * measured window. Saturation with wrk in interleaved rounds (rotated order, medians); latency at a fixed rate with
 * an open-loop client, in interleaved rounds too (rotated order, each percentile's median); then engine start time,
 * edit-apply time and the flow store's write rate. Results go to bench/results/ as JSON and Markdown; the bars print
 * PASS/MISS for information only (exit 0 unless the benchmark itself failed).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { LoadResult, LoadSpec } from './load.js';
import { startMitmproxy, mitmdumpPath } from './mitmproxy.js';
import { nginxPath, startNginx, type External } from './nginx.js';
import {
  EDIT_FILE,
  PATHS,
  REQUEST_PATH,
  BODY_BYTES,
  UPSTREAM_PORTS,
  editVs,
  writeBenchProject,
  type PathDef,
  type PathId
} from './paths.js';
import { treeCpuUs, treeMemoryMb, treeRunQueueWaitUs, untilQuiet } from './proc.js';
import { profileMarkdown, summarizeProfile } from './profile.js';
import {
  bars,
  derive,
  fixedRateSummary,
  markdown,
  updateReadme,
  writeResults,
  type BenchResult,
  type FixedRateRound,
  type Mode,
  type PathResult,
  type SaturationRound
} from './report.js';
import { BENCH_DIR, ROOT, forkTs, freePort, median, nextMessage, round, sleep, stopChild } from './util.js';
import { runWrk, wrkPath } from './wrk.js';

interface Config {
  rounds: number;
  warmupS: number;
  saturationS: number;
  connections: number;
  fixedRate: number;
  /** Interleaved fixed-rate rounds (the order rotated each round; each percentile's median over them). */
  fixedRounds: number;
  /** Measured seconds per path and round, after fixedWarmupS. */
  fixedS: number;
  fixedWarmupS: number;
  /**
   * The warm-up of each path in the first fixed-rate round. The saturation rounds leave each process idle for a
   * minute or more before it, and a Node process (engine, load client) then spends its first seconds of load at two
   * to three times its later CPU (top, 2026-11-24): the load client sent up to 3 ms late and the first paths' p99 was
   * 5-14 ms in that round, 0.6-1.1 ms in the next ones.
   */
  fixedFirstWarmupS: number;
  fixedSockets: number;
  /**
   * Capture's cost in paired slices (BenchResult.capturePairs): pairs of slices of pairSliceS seconds (wrk takes whole
   * seconds), alternating two hops mTLS with capture off and on. Measured on the 2-core VM (2026-11-24), whose speed
   * changed by up to 1.8× every few tens of seconds: the saturation rounds' medians put capture's cost at 3.5 %, 15.8 %
   * and 39.6 % in three full runs of the same code, where two engines side by side in alternating 4 s rounds gave
   * 14.8 % (README, "Method").
   */
  capturePairs: number;
  pairSliceS: number;
  startupSizes: number[];
  editTrials: number;
  storeFlows: number;
  /** Per-request timeout of the Node clients (an overloaded path is cut off after it). */
  timeoutMs: number;
  /** Time budget: later rounds are skipped (and said so) rather than overrun it. */
  budgetS: number;
  /** The longest wait for the machine to go quiet before a measurement (untilQuiet; 0: none). */
  settleMaxMs: number;
}

const CONFIGS: Record<Mode, Config> = {
  full: {
    rounds: 3,
    warmupS: 2,
    saturationS: 6,
    connections: 32,
    fixedRate: 1000,
    fixedRounds: 3,
    fixedS: 4,
    fixedWarmupS: 0.5,
    fixedFirstWarmupS: 2,
    fixedSockets: 64,
    capturePairs: 6,
    pairSliceS: 2,
    startupSizes: [1, 10, 50],
    editTrials: 5,
    storeFlows: 20_000,
    timeoutMs: 5000,
    budgetS: 585,
    settleMaxMs: 5000
  },
  quick: {
    rounds: 1,
    warmupS: 1,
    saturationS: 2,
    connections: 32,
    fixedRate: 1000,
    fixedRounds: 1,
    fixedS: 2,
    fixedWarmupS: 0.5,
    fixedFirstWarmupS: 0.5,
    fixedSockets: 64,
    capturePairs: 2,
    pairSliceS: 1,
    startupSizes: [1, 10, 50],
    editTrials: 3,
    storeFlows: 5000,
    timeoutMs: 2000,
    budgetS: 110,
    settleMaxMs: 1000
  },
  smoke: {
    rounds: 1,
    warmupS: 0,
    saturationS: 1,
    connections: 8,
    fixedRate: 200,
    fixedRounds: 1,
    fixedS: 0.5,
    fixedWarmupS: 0.2,
    fixedFirstWarmupS: 0.2,
    fixedSockets: 16,
    capturePairs: 1,
    pairSliceS: 1,
    startupSizes: [1, 3],
    editTrials: 1,
    storeFlows: 300,
    timeoutMs: 2000,
    budgetS: 110,
    settleMaxMs: 0
  }
};

const INSTALL = {
  wrk: 'apt-get install -y wrk',
  nginx: 'apt-get install -y nginx-light (or nginx)',
  mitmproxy: 'apt-get install -y mitmproxy',
  mockttp: 'npm ci (mockttp is a devDependency)'
};

type Tool = 'wrk' | 'nginx' | 'mitmproxy' | 'mockttp';
const TOOLS: Tool[] = ['wrk', 'nginx', 'mitmproxy', 'mockttp'];

interface Args {
  mode: Mode;
  out: string;
  only: Set<PathId> | null;
  /** Tools to treat as not installed (to skip a slow baseline, or to exercise the fallbacks). */
  without: Set<Tool>;
  /** Run the engines under V8's CPU profiler and summarize where their time went (bench/profile.ts). */
  profile: boolean;
}

function parseArgs(argv: string[]): Args {
  let mode: Mode = 'full';
  let out = path.join(BENCH_DIR, 'results');
  let only: Set<PathId> | null = null;
  const without = new Set<Tool>();
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') mode = 'quick';
    else if (a === '--profile') profile = true;
    else if (a === '--smoke') mode = 'smoke';
    else if (a === '--out') out = path.resolve(argv[++i] ?? out);
    else if (a === '--paths') only = new Set((argv[++i] ?? '').split(',').filter(Boolean) as PathId[]);
    else if (a === '--without') {
      for (const t of (argv[++i] ?? '').split(',').filter(Boolean)) {
        if (!TOOLS.includes(t as Tool)) throw new Error(`unknown tool ${t} (one of ${TOOLS.join(', ')})`);
        without.add(t as Tool);
      }
    } else if (a === '--help' || a === '-h') {
      console.log(
        `usage: npm run bench [-- --quick | --smoke] [--out DIR] [--paths ${PATHS.map((p) => p.id).join(',')}] [--without ${TOOLS.join(',')}] [--profile]`
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (only) for (const id of only) if (!PATHS.some((p) => p.id === id)) throw new Error(`unknown path ${id}`);
  return { mode, out, only, without, profile };
}

const started = Date.now();
const elapsed = () => (Date.now() - started) / 1000;
const say = (line: string) => console.log(`[${elapsed().toFixed(1).padStart(6)} s] ${line}`);

/** Where a bare client connects for a path, and whose CPU is the proxy's. */
interface Target {
  def: PathDef;
  port: number;
  proxyPid: number | undefined;
}

/** Children and external programs this run started (stopped by their own handles, never by name). */
const children: ChildProcess[] = [];
const externals: External[] = [];
const tmpDirs: string[] = [];

/** How long a child may take to exit once told to (a profiled engine writes its profile on the way out). */
let graceMs = 3000;

/** Stop every process this run started so far. */
async function stopAll(): Promise<void> {
  await Promise.all(externals.splice(0).map((e) => e.stop().catch(() => undefined)));
  await Promise.all(children.splice(0).map((c) => stopChild(c, graceMs).catch(() => undefined)));
}

/** Stop everything and remove the run's temporary folders. */
async function cleanup(): Promise<void> {
  await stopAll();
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

function probe(port: number): Promise<{ status: number; bytes: number; server: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: REQUEST_PATH, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, server: String(res.headers.server ?? '') }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

/** Node flags that profile an engine's threads into <out>/profiles/<kind>/ (emptied first). */
function profileArgs(out: string, kind: string): string[] {
  const dir = path.join(out, 'profiles', kind);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/**
 * Keep each engine's main-thread profile as <out>/profiles/<kind>.cpuprofile (Node writes one per thread, named
 * CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile; the main thread is thread 0, the others are tsx's module loader),
 * summarize it into <kind>.md beside it and print where the time went.
 */
function summarizeProfiles(out: string, kinds: string[], notes: string[]): void {
  for (const kind of kinds) {
    const dir = path.join(out, 'profiles', kind);
    const main = fs.existsSync(dir)
      ? fs.readdirSync(dir).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f))
      : undefined;
    if (!main) {
      say(`profile of ${kind}: not written (the process did not exit in time)`);
      continue;
    }
    const file = path.join(out, 'profiles', `${kind}.cpuprofile`);
    fs.renameSync(path.join(dir, main), file);
    fs.rmSync(dir, { recursive: true, force: true });
    const s = summarizeProfile(file);
    const md = path.join(out, 'profiles', `${kind}.md`);
    fs.writeFileSync(md, profileMarkdown(s, `Where the ${kind} process spent its busy time (main thread)`));
    say(`profile of ${kind}: ${path.relative(process.cwd(), md)} (busy ${s.busyMs} ms)`);
    say(
      `  by area: ${s.areas
        .slice(0, 5)
        .map((a) => `${a.area} ${a.pct}%`)
        .join(', ')}`
    );
    for (const f of s.top.slice(0, 8)) say(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.fn}  ${f.where}`);
    notes.push(
      `CPU profile of ${kind} (--profile): ${path.relative(process.cwd(), file)}, summary in ${path.basename(md)}.`
    );
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const cfg = CONFIGS[args.mode];
  if (args.profile) graceMs = 30_000;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-bench-'));
  tmpDirs.push(tmp);
  // bounded whatever happens: past the budget plus a margin, stop everything and fail
  setTimeout(
    () => {
      say(`over the hard time limit (${cfg.budgetS + 90} s): stopping`);
      void cleanup().finally(() => process.exit(1));
    },
    (cfg.budgetS + 90) * 1000
  ).unref();
  const has = (t: Tool, found: () => string | null) => (args.without.has(t) ? null : found());
  const wrk = has('wrk', wrkPath);
  const nginx = has('nginx', nginxPath);
  const mitmdump = has('mitmproxy', mitmdumpPath);
  const mockttp = has('mockttp', () =>
    fs.existsSync(path.join(ROOT, 'node_modules/mockttp/package.json')) ? 'mockttp' : null
  );
  const result: BenchResult = {
    schema: 1,
    mode: args.mode,
    date: new Date().toISOString(),
    durationS: 0,
    ok: true,
    errors: [],
    notes: [],
    machine: {
      cores: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      node: process.version,
      platform: os.platform(),
      arch: os.arch(),
      totalMemMb: Math.round(os.totalmem() / 2 ** 20),
      loadavgStart: os.loadavg().map((x) => round(x)!),
      loadavgEnd: []
    },
    settings: {
      rounds: cfg.rounds,
      warmupS: cfg.warmupS,
      saturationS: cfg.saturationS,
      connections: cfg.connections,
      saturationTool: wrk ? 'wrk' : 'node-closed-loop',
      fixedRate: cfg.fixedRate,
      fixedRounds: cfg.fixedRounds,
      fixedRateS: cfg.fixedS,
      fixedWarmupS: cfg.fixedWarmupS,
      fixedFirstWarmupS: cfg.fixedFirstWarmupS,
      settleMaxMs: cfg.settleMaxMs
    },
    tools: {
      wrk: { installed: !!wrk, ...(wrk ? {} : { install: INSTALL.wrk }) },
      nginx: { installed: !!nginx, ...(nginx ? {} : { install: INSTALL.nginx }) },
      mitmproxy: { installed: !!mitmdump, ...(mitmdump ? {} : { install: INSTALL.mitmproxy }) },
      mockttp: { installed: !!mockttp, ...(mockttp ? {} : { install: INSTALL.mockttp }) }
    },
    paths: [],
    engine: {
      startMs: null,
      rssMb: null,
      peakRssMb: null,
      cpuS: null,
      flowsCaptured: null,
      noCaptureEngine: { rssMb: null, peakRssMb: null }
    },
    startup: [],
    rssPerWorkloadMb: null,
    editApply: null,
    store: null,
    bars: []
  };
  if (args.without.size) result.notes.push(`Treated as not installed (--without): ${[...args.without].join(', ')}.`);
  const cores = result.machine.cores;
  say(
    `localmesh benchmark (${args.mode}): ${cores} cores, Node ${process.version}, load average ${result.machine.loadavgStart.join(' ')}`
  );
  if (result.machine.loadavgStart[0]! > cores * 0.5)
    result.notes.push(
      `The machine was busy at the start (load average ${result.machine.loadavgStart[0]} on ${cores} cores): absolute numbers are noisy; ratios within the run are the figures to read.`
    );
  if (!wrk) {
    say(
      `wrk is not installed (${INSTALL.wrk}): saturation uses the Node closed-loop client instead, which competes harder with the proxy for CPU`
    );
    result.notes.push(
      `wrk not installed (${INSTALL.wrk}); saturation measured with the in-Node closed-loop client (${cfg.connections} connections).`
    );
  }

  const wantedPaths = PATHS.filter((p) => !args.only || args.only.has(p.id) || p.id === 'direct');
  const pathResult = (def: PathDef): PathResult => {
    let r = result.paths.find((p) => p.id === def.id);
    if (!r) {
      r = {
        id: def.id,
        label: def.label,
        hops: def.hops,
        status: 'ok',
        saturation: null,
        fixedRate: null,
        xDirect: null,
        xNginx: null,
        addedMsPerHop: null,
        peakRssMb: null
      };
      result.paths.push(r);
    }
    return r;
  };
  for (const def of wantedPaths) pathResult(def);
  for (const def of PATHS)
    if (!wantedPaths.includes(def))
      Object.assign(pathResult(def), { status: 'skipped', note: 'not selected (--paths)' });

  // ---- the upstream stub
  say('starting the upstream stub (node:http, 1 KiB JSON)');
  const upstream = forkTs('upstream-child.ts', [String(UPSTREAM_PORTS)]);
  children.push(upstream);
  const { ports: up } = await nextMessage<{ type: 'ready'; ports: number[] }>(upstream, 'ready', 30_000);
  const upPid = upstream.pid;

  // ---- the engines: one as `localmesh up` runs (SQLite capture), one with capture off, one on node:http
  const needMesh = wantedPaths.some((p) => p.proxy.startsWith('engine'));
  const engines: Partial<
    Record<
      'engine' | 'engine-nocapture' | 'engine-node',
      { child: ChildProcess; listeners: Record<string, number>; dir: string }
    >
  > = {};
  if (needMesh) {
    for (const kind of ['engine', 'engine-nocapture', 'engine-node'] as const) {
      if (!wantedPaths.some((p) => p.proxy === kind) && kind !== 'engine') continue;
      const dir = path.join(tmp, kind);
      const file = writeBenchProject(
        dir,
        { api: up[1]!, apiPlain: up[2]!, apiVs: up[3]!, edit: up[4]!, client: up[5]! },
        kind !== 'engine-nocapture'
      );
      say(
        `starting the localmesh engine (${kind === 'engine' ? 'flows in SQLite, as `localmesh up`' : kind === 'engine-node' ? 'flows in SQLite, every request on node:http' : 'capture off (spec.capture.enabled: false)'}) in its own process`
      );
      const child = forkTs('engine-child.ts', ['serve', file, path.join(dir, '.localmesh'), 'sqlite'], {
        env: kind === 'engine-node' ? { LOCALMESH_FAST_LANE: '0' } : {},
        execArgv: args.profile ? profileArgs(args.out, kind) : []
      });
      children.push(child);
      const ready = await nextMessage<{ type: 'ready'; startMs: number; listeners: Record<string, number> }>(
        child,
        'ready',
        60_000
      );
      engines[kind] = { child, listeners: ready.listeners, dir };
      if (kind === 'engine') result.engine.startMs = round(ready.startMs, 1);
    }
  }

  // ---- the baselines
  const targets = new Map<PathId, Target>();
  const unavailable = (def: PathDef, status: PathResult['status'], note: string) => {
    Object.assign(pathResult(def), { status, note });
    say(`${def.id}: ${status} — ${note}`);
  };
  for (const def of wantedPaths) {
    try {
      if (def.proxy === 'none') targets.set(def.id, { def, port: up[0]!, proxyPid: undefined });
      else if (def.proxy === 'nginx') {
        if (!result.tools.nginx.installed) {
          unavailable(def, 'not installed', INSTALL.nginx);
          continue;
        }
        say('starting nginx (1 worker, keepalive 64 to the upstream)');
        const n = await startNginx(path.join(tmp, 'nginx'), up[0]!);
        externals.push(n);
        result.tools.nginx.version = n.version;
        pathResult(def).version = n.version;
        targets.set(def.id, { def, port: n.port, proxyPid: n.pid });
      } else if (def.proxy === 'mitmproxy') {
        if (!result.tools.mitmproxy.installed) {
          unavailable(def, 'not installed', INSTALL.mitmproxy);
          continue;
        }
        say('starting mitmproxy (mitmdump, reverse mode)');
        const m = await startMitmproxy(path.join(tmp, 'mitmproxy'), up[0]!);
        externals.push(m);
        result.tools.mitmproxy.version = m.version;
        pathResult(def).version = m.version;
        targets.set(def.id, { def, port: m.port, proxyPid: m.pid });
      } else if (def.proxy === 'mockttp') {
        if (!result.tools.mockttp.installed) {
          unavailable(def, 'not installed', INSTALL.mockttp);
          continue;
        }
        say('starting mockttp (forwarding) in its own process');
        const c = forkTs('mockttp-child.ts', [String(up[0]), String(await freePort())]);
        children.push(c);
        const ready = await nextMessage<{ type: 'ready'; port: number; version: string }>(c, 'ready', 60_000);
        result.tools.mockttp.version = ready.version;
        pathResult(def).version = ready.version;
        targets.set(def.id, { def, port: ready.port, proxyPid: c.pid });
      } else if (def.proxy === 'bare') {
        say(`starting a bare ${def.bare} proxy in its own process`);
        const c = forkTs('bare-proxy-child.ts', [def.bare!, String(up[0])]);
        children.push(c);
        const ready = await nextMessage<{ type: 'ready'; port: number; version: string }>(c, 'ready', 60_000);
        pathResult(def).version = ready.version;
        targets.set(def.id, { def, port: ready.port, proxyPid: c.pid });
      } else {
        const e = engines[def.proxy]!;
        const port = e.listeners[def.listener!];
        if (port === undefined) throw new Error(`the engine has no listener ${def.listener}`);
        targets.set(def.id, { def, port, proxyPid: e.child.pid });
      }
    } catch (e) {
      unavailable(def, 'failed', (e as Error).message);
      if (def.proxy === 'none' || def.proxy.startsWith('engine'))
        result.errors.push(`${def.id}: ${(e as Error).message}`);
    }
  }

  // ---- check every path answers the upstream's 1 KiB through what it claims to cross
  say('probing each path');
  for (const [id, t] of [...targets]) {
    try {
      const r = await probe(t.port);
      if (r.status !== 200 || r.bytes !== BODY_BYTES)
        throw new Error(`answered ${r.status} with ${r.bytes} bytes (want 200 with ${BODY_BYTES})`);
      if (t.def.envoy && !/envoy/.test(r.server))
        throw new Error(`the answer does not come through a sidecar (server: ${r.server || 'none'})`);
    } catch (e) {
      targets.delete(id);
      unavailable(t.def, 'failed', `probe: ${(e as Error).message}`);
      if (t.def.proxy === 'none' || t.def.proxy.startsWith('engine'))
        result.errors.push(`${id}: probe: ${(e as Error).message}`);
    }
  }
  const order = PATHS.map((p) => p.id).filter((id) => targets.has(id));
  /** A measurement that failed: the benchmark failed when it is localmesh's or direct; a baseline's is a note. */
  const problem = (def: PathDef, message: string) => {
    say(`  ${def.id}: failed: ${message}`);
    if (def.proxy === 'none' || def.proxy.startsWith('engine')) result.errors.push(`${def.id}: ${message}`);
    else result.notes.push(`${def.id}: ${message}`);
  };

  // ---- the load client, in a process of its own
  const loader = forkTs('load-child.ts');
  children.push(loader);
  await nextMessage(loader, 'ready', 30_000);
  const sampleCpu = (t: Target) => ({
    proxy: treeCpuUs(t.proxyPid),
    upstream: treeCpuUs(upPid),
    wait: {
      proxy: treeRunQueueWaitUs(t.proxyPid),
      client: treeRunQueueWaitUs(loader.pid),
      upstream: treeRunQueueWaitUs(upPid)
    }
  });
  /** Start a measurement once the machine is quiet (untilQuiet), saying so when that took a while. */
  async function settle(t: Target): Promise<void> {
    if (cfg.settleMaxMs <= 0) return;
    const quiet = await untilQuiet(0.15, cfg.settleMaxMs, 100);
    if (quiet.busy !== null && quiet.waitedMs > 300)
      say(
        `  (waited ${(quiet.waitedMs / 1000).toFixed(1)} s for the machine to go quiet before ${t.def.id}: ${Math.round(quiet.busy * 100)} % busy in the last 0.1 s)`
      );
  }

  async function load(
    t: Target,
    spec: Omit<LoadSpec, 'port' | 'path'>
  ): Promise<{
    res: LoadResult;
    proxyCpuUs: number | null;
    upstreamCpuUs: number | null;
    waitUs: { proxy: number | null; client: number | null; upstream: number | null };
  }> {
    const full: LoadSpec = { ...spec, port: t.port, path: REQUEST_PATH };
    await settle(t);
    let before = sampleCpu(t);
    let after = before;
    const onPhase = (m: { type?: string; phase?: string }) => {
      if (m?.type !== 'phase') return;
      if (m.phase === 'measure-start') before = sampleCpu(t);
      else after = sampleCpu(t);
      loader.send({ type: 'ack' });
    };
    loader.on('message', onPhase);
    try {
      loader.send({ type: 'run', spec: full });
      const { result: res } = await nextMessage<{ type: 'result'; result: LoadResult }>(
        loader,
        'result',
        spec.warmupMs + spec.durationMs + spec.timeoutMs + 30_000
      );
      const diff = (a: number | null, b: number | null) => (a !== null && b !== null ? b - a : null);
      return {
        res,
        proxyCpuUs: diff(before.proxy, after.proxy),
        upstreamCpuUs: diff(before.upstream, after.upstream),
        waitUs: {
          proxy: diff(before.wait.proxy, after.wait.proxy),
          client: diff(before.wait.client, after.wait.client),
          upstream: diff(before.wait.upstream, after.wait.upstream)
        }
      };
    } finally {
      loader.off('message', onPhase);
    }
  }
  const perReq = (us: number | null, n: number) => (us !== null && n > 0 ? round(us / n, 1) : null);

  async function saturate(t: Target, roundNo: number): Promise<SaturationRound> {
    await settle(t);
    if (wrk) {
      if (cfg.warmupS > 0)
        await runWrk({ port: t.port, path: REQUEST_PATH, connections: cfg.connections, durationS: cfg.warmupS });
      const c0 = sampleCpu(t);
      const w = await runWrk({
        port: t.port,
        path: REQUEST_PATH,
        connections: cfg.connections,
        durationS: cfg.saturationS
      });
      const c1 = sampleCpu(t);
      const d = (a: number | null, b: number | null) => (a !== null && b !== null ? b - a : null);
      return {
        round: roundNo,
        tool: 'wrk',
        requests: w.requests,
        rps: round(w.rps, 0)!,
        errors: w.non2xx + w.socketErrors,
        latencyUs: { p50: w.latencyUs.p50, p90: w.latencyUs.p90, p99: w.latencyUs.p99, max: w.latencyUs.max },
        proxyCpuUsPerReq: perReq(d(c0.proxy, c1.proxy), w.requests),
        upstreamCpuUsPerReq: perReq(d(c0.upstream, c1.upstream), w.requests)
      };
    }
    const { res, proxyCpuUs, upstreamCpuUs } = await load(t, {
      mode: 'closed',
      rate: 0,
      durationMs: cfg.saturationS * 1000,
      warmupMs: cfg.warmupS * 1000,
      connections: cfg.connections,
      timeoutMs: cfg.timeoutMs
    });
    return {
      round: roundNo,
      tool: 'node-closed-loop',
      requests: res.requests,
      rps: round(res.rps, 0)!,
      errors: res.errors + res.non2xx,
      latencyUs: { p50: res.latencyUs.p50, p90: res.latencyUs.p90, p99: res.latencyUs.p99, max: res.latencyUs.max },
      proxyCpuUsPerReq: perReq(proxyCpuUs, res.requests),
      upstreamCpuUsPerReq: perReq(upstreamCpuUs, res.requests)
    };
  }

  // ---- time estimates for the budget: a path's saturation round, a fixed-rate round of every path, and what follows
  // the fixed-rate pass (edit → applied, start times, the flow store). Measured overheads on the 2-core VM: about
  // 0.05 s per wrk run, 0.1 s per fixed-rate run (about 1 s more for a path past its saturation, such as mitmproxy,
  // while its backlog drains), 10-12 s after the fixed-rate pass; the estimates keep a little margin over them.
  const perPath = cfg.warmupS + cfg.saturationS + 0.2;
  const fixedIds = order.filter((id) => !targets.get(id)!.def.saturationOnly);
  const fixedRoundS = fixedIds.length * (cfg.fixedWarmupS + cfg.fixedS + 0.3);
  const firstRoundExtraS =
    fixedIds.length * (cfg.fixedFirstWarmupS - cfg.fixedWarmupS) +
    (cfg.fixedFirstWarmupS > cfg.fixedWarmupS ? cfg.fixedFirstWarmupS + 0.3 : 0);
  const afterS = 15;
  const pairsS = cfg.capturePairs * 2 * (cfg.pairSliceS + 0.5);

  // ---- saturation: interleaved rounds, the order rotated each round
  const rounds = new Map<PathId, SaturationRound[]>();
  for (let r = 0; r < cfg.rounds; r++) {
    // leave time for every fixed-rate round and the engine measurements
    const need = order.length * perPath + pairsS + cfg.fixedRounds * fixedRoundS + firstRoundExtraS + afterS;
    if (r > 0 && elapsed() + need > cfg.budgetS) {
      result.notes.push(`Only ${r} of ${cfg.rounds} saturation rounds ran (time budget ${cfg.budgetS} s).`);
      break;
    }
    const rot = [...order.slice(r % order.length), ...order.slice(0, r % order.length)];
    say(`saturation round ${r + 1}/${cfg.rounds}: ${rot.join(' → ')}`);
    for (const id of rot) {
      const t = targets.get(id)!;
      try {
        const s = await saturate(t, r + 1);
        rounds.set(id, [...(rounds.get(id) ?? []), s]);
        say(
          `  ${id.padEnd(24)} ${String(Math.round(s.rps)).padStart(7)} req/s  p50 ${(s.latencyUs.p50 / 1000).toFixed(2)} ms  p99 ${(s.latencyUs.p99 / 1000).toFixed(2)} ms  CPU ${s.proxyCpuUsPerReq ?? '–'} µs/req${s.errors ? `  ${s.errors} errors` : ''}`
        );
      } catch (e) {
        problem(t.def, `saturation: ${(e as Error).message}`);
      }
    }
  }
  for (const [id, rs] of rounds) {
    const med = (f: (s: SaturationRound) => number | null) =>
      round(median(rs.map(f).filter((x): x is number => x !== null)), 1);
    pathResult(PATHS.find((p) => p.id === id)!).saturation = {
      rounds: rs,
      rps: med((s) => s.rps),
      proxyCpuUsPerReq: med((s) => s.proxyCpuUsPerReq),
      upstreamCpuUsPerReq: med((s) => s.upstreamCpuUsPerReq),
      latencyUs: {
        p50: med((s) => s.latencyUs.p50)!,
        p90: med((s) => s.latencyUs.p90)!,
        p99: med((s) => s.latencyUs.p99)!,
        max: med((s) => s.latencyUs.max)!
      },
      errors: rs.reduce((a, s) => a + s.errors, 0)
    };
  }

  // ---- capture's cost in paired slices: two hops mTLS with capture off and on, alternating (ABBA) in slices short
  // enough that a change in the machine's speed hits both sides of most pairs (Config.capturePairs)
  const pairOff = targets.get('mesh-2hop-mtls');
  const pairOn = targets.get('mesh-2hop-mtls-capture');
  if (cfg.capturePairs > 0 && pairOff && pairOn && rounds.has(pairOff.def.id) && rounds.has(pairOn.def.id)) {
    const sliceRps = async (t: Target): Promise<number> => {
      await settle(t);
      if (wrk)
        return (
          await runWrk({ port: t.port, path: REQUEST_PATH, connections: cfg.connections, durationS: cfg.pairSliceS })
        ).rps;
      const { res } = await load(t, {
        mode: 'closed',
        rate: 0,
        durationMs: cfg.pairSliceS * 1000,
        warmupMs: 0,
        connections: cfg.connections,
        timeoutMs: cfg.timeoutMs
      });
      return res.rps;
    };
    say(
      `capture's cost: ${cfg.capturePairs} pair(s) of ${cfg.pairSliceS} s slices, alternating ${pairOff.def.id} and ${pairOn.def.id}`
    );
    try {
      const slices: Array<{ offRps: number; onRps: number }> = [];
      for (let i = 0; i < cfg.capturePairs; i++) {
        let offRps: number;
        let onRps: number;
        if (i % 2 === 0) {
          offRps = await sliceRps(pairOff);
          onRps = await sliceRps(pairOn);
        } else {
          onRps = await sliceRps(pairOn);
          offRps = await sliceRps(pairOff);
        }
        slices.push({ offRps: round(offRps, 0)!, onRps: round(onRps, 0)! });
      }
      const ratios = slices.filter((x) => x.offRps > 0).map((x) => x.onRps / x.offRps);
      const mid = median(ratios);
      const lostPct = mid === null ? null : round((1 - mid) * 100, 1);
      result.capturePairs = { off: pairOff.def.id, on: pairOn.def.id, sliceS: cfg.pairSliceS, slices, lostPct };
      say(
        `  capture on vs off, per pair: ${ratios.map((x) => x.toFixed(3)).join(' / ')}; throughput lost ${lostPct ?? '–'} %`
      );
    } catch (e) {
      result.errors.push(`capture's cost in paired slices: ${(e as Error).message}`);
    }
  }

  // ---- fixed rate: an open-loop client, microsecond latency from the scheduled send time; interleaved rounds, the
  // order rotated each round, starting where saturation's rotation left off
  const fixedRounds = new Map<PathId, FixedRateRound[]>();
  const openLoop = (durationS: number, warmupS: number): Omit<LoadSpec, 'port' | 'path'> => ({
    mode: 'open',
    rate: cfg.fixedRate,
    durationMs: durationS * 1000,
    warmupMs: warmupS * 1000,
    connections: cfg.fixedSockets,
    timeoutMs: cfg.timeoutMs
  });
  // the load client idled through the saturation rounds: it first sends for a while to no proxy at all, unrecorded
  // (in the first round's first path it had sent up to 1.9 ms late even after that path's 2 s warm-up, 2026-11-24)
  const direct = targets.get('direct');
  if (direct && cfg.fixedFirstWarmupS > cfg.fixedWarmupS) {
    say(`warming the load client: ${cfg.fixedFirstWarmupS} s at ${cfg.fixedRate} req/s to direct, not recorded`);
    try {
      await load(direct, openLoop(cfg.fixedFirstWarmupS, 0));
    } catch (e) {
      say(`  (the load client's warm-up failed: ${(e as Error).message})`);
    }
  }
  for (let r = 0; r < cfg.fixedRounds; r++) {
    if (r > 0 && elapsed() + fixedRoundS + afterS > cfg.budgetS) {
      result.notes.push(`Only ${r} of ${cfg.fixedRounds} fixed-rate rounds ran (time budget ${cfg.budgetS} s).`);
      break;
    }
    const shift = fixedIds.length ? (cfg.rounds + r) % fixedIds.length : 0;
    const rotated = [...fixedIds.slice(shift), ...fixedIds.slice(0, shift)];
    // a path whose saturation throughput is near the fixed rate (mitmproxy) runs last: overloaded, it answers late and
    // goes on working after its last answer, which the path after it shared the cores with (the quiet check between
    // paths saw a lull and not the rest: one hop's p99 was 4.3 ms right after it, 0.9 ms elsewhere, 2026-11-24)
    const overloadedNow = (id: PathId) => (rounds.get(id) ?? []).some((x) => x.rps < cfg.fixedRate * 1.25);
    const rot = [...rotated.filter((id) => !overloadedNow(id)), ...rotated.filter(overloadedNow)];
    say(
      `fixed rate ${cfg.fixedRate} req/s for ${cfg.fixedS} s per path, round ${r + 1}/${cfg.fixedRounds}: ${rot.join(' → ')}`
    );
    for (const id of rot) {
      const t = targets.get(id)!;
      try {
        const { res, proxyCpuUs, waitUs } = await load(
          t,
          openLoop(cfg.fixedS, r === 0 ? cfg.fixedFirstWarmupS : cfg.fixedWarmupS)
        );
        const l = res.latencyUs;
        const lat = (x: LoadResult['serviceUs']) => (x ? { p50: x.p50, p90: x.p90, p99: x.p99, max: x.max } : null);
        fixedRounds.set(id, [
          ...(fixedRounds.get(id) ?? []),
          {
            round: r + 1,
            durationS: round(res.durationS, 2)!,
            requests: res.requests,
            errors: res.errors + res.non2xx,
            latencyUs: { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p999, max: l.max, mean: l.mean },
            serviceUs: lat(res.serviceUs),
            sendLagUs: lat(res.sendLagUs),
            proxyCpuUsPerReq: perReq(proxyCpuUs, res.requests),
            runQueueUsPerReq: {
              proxy: t.proxyPid === undefined ? null : perReq(waitUs.proxy, res.requests),
              client: perReq(waitUs.client, res.requests),
              upstream: perReq(waitUs.upstream, res.requests)
            }
          }
        ]);
        say(
          `  ${id.padEnd(24)} p50 ${(l.p50 / 1000).toFixed(3)}  p90 ${(l.p90 / 1000).toFixed(3)}  p99 ${(l.p99 / 1000).toFixed(3)}  max ${(l.max / 1000).toFixed(2)} ms  (${res.requests} requests, send lag p99 ${res.sendLagUs?.p99 ?? '–'} µs)${res.errors + res.non2xx ? `  ${res.errors + res.non2xx} errors` : ''}`
        );
      } catch (e) {
        problem(t.def, `fixed rate: ${(e as Error).message}`);
      }
    }
  }
  for (const [id, rs] of fixedRounds)
    pathResult(PATHS.find((p) => p.id === id)!).fixedRate = fixedRateSummary(cfg.fixedRate, rs);
  const overloaded = result.paths
    .filter((p) => p.fixedRate && p.saturation?.rps && p.saturation.rps < cfg.fixedRate * 1.25)
    .map((p) => p.id);
  if (overloaded.length)
    result.notes.push(
      `At ${cfg.fixedRate} req/s these paths ran at or near their saturation throughput in this run, so their fixed-rate latencies show queueing, not per-request overhead (and they ran last in each fixed-rate round, so that no path shares the cores with the backlog they work off): ${overloaded.join(', ')}.`
    );
  for (const [id, t] of targets) {
    const m = treeMemoryMb(t.proxyPid);
    if (m) pathResult(PATHS.find((p) => p.id === id)!).peakRssMb = round(m.peakRssMb, 1);
  }

  // ---- the engine: memory, CPU, flows captured, edit → applied
  const primary = engines.engine;
  if (primary) {
    const m = treeMemoryMb(primary.child.pid);
    result.engine.rssMb = round(m?.rssMb, 1);
    result.engine.peakRssMb = round(m?.peakRssMb, 1);
    const cpu = treeCpuUs(primary.child.pid);
    result.engine.cpuS = cpu === null ? null : round(cpu / 1e6, 2);
    primary.child.send({ type: 'flows' });
    result.engine.flowsCaptured = (
      await nextMessage<{ type: 'flows'; count: number }>(primary.child, 'flows', 10_000)
    ).count;
    const sent = [...targets.values()].some((t) => t.def.proxy === 'engine');
    if (sent && result.engine.flowsCaptured === 0) result.errors.push('the engine recorded no flows');
    const edit = primary.listeners['up:client-v1:edit.default'];
    if (edit !== undefined) {
      say(`edit → applied: rewriting istio/${EDIT_FILE} ${cfg.editTrials} time(s), polling until the new rule answers`);
      result.editApply = await editApply(edit, path.join(primary.dir, 'istio'), cfg.editTrials);
      const ea = result.editApply;
      say(
        `  median ${ea.medianMs ?? '–'} ms, max ${ea.maxMs ?? '–'} ms${ea.failures ? `, ${ea.failures} not applied within 3 s` : ''}; atomic saves applied ${ea.atomicSaves.applied} of ${ea.atomicSaves.tried}`
      );
      if (ea.atomicSaves.applied < ea.atomicSaves.tried) {
        result.notes.push(
          `Atomic saves (a temp file renamed over the Istio file, as vim and the app's own save do) applied only ${ea.atomicSaves.applied} of ${ea.atomicSaves.tried} times: the engine's file watcher misses a file once it has been replaced by a rename (seen with Node ${process.version}'s recursive fs.watch on Linux).`
        );
      }
    }
  }
  const off = engines['engine-nocapture'];
  if (off) {
    const m = treeMemoryMb(off.child.pid);
    result.engine.noCaptureEngine = { rssMb: round(m?.rssMb, 1), peakRssMb: round(m?.peakRssMb, 1) };
  }
  say('stopping the proxies, engines and upstream');
  await stopAll();
  if (args.profile) summarizeProfiles(args.out, Object.keys(engines), result.notes);

  // ---- start time for 1, 10, 50 services (fresh process and state dir each)
  for (const n of cfg.startupSizes) {
    say(`engine start with ${n} service(s)`);
    try {
      const t0 = performance.now();
      const c = forkTs('engine-child.ts', ['startup', String(n), path.join(tmp, `startup-${n}`)]);
      children.push(c);
      const r = await nextMessage<{ type: 'startup'; ms: number; listeners: number; rssMb: number }>(
        c,
        'startup',
        60_000
      );
      const wallMs = performance.now() - t0;
      await stopChild(c);
      result.startup.push({
        services: n,
        ms: round(r.ms, 1)!,
        wallMs: round(wallMs, 0)!,
        listeners: r.listeners,
        rssMb: round(r.rssMb, 1)!
      });
      say(
        `  ${r.ms.toFixed(0)} ms in process (${wallMs.toFixed(0)} ms from spawn), ${r.listeners} listeners, RSS ${r.rssMb.toFixed(0)} MB`
      );
    } catch (e) {
      result.errors.push(`startup ${n}: ${(e as Error).message}`);
    }
  }
  if (result.startup.length >= 2) {
    const a = result.startup[0]!;
    const b = result.startup[result.startup.length - 1]!;
    result.rssPerWorkloadMb = round((b.rssMb - a.rssMb) / (b.services - a.services), 2);
  }

  // ---- the flow store's write rate
  say(`flow store: appending ${cfg.storeFlows} flows to SQLite`);
  try {
    const c = forkTs('engine-child.ts', ['store', String(cfg.storeFlows), path.join(tmp, 'store')]);
    children.push(c);
    const r = await nextMessage<{
      type: 'store';
      n: number;
      appendMs: number;
      totalMs: number;
      count: number;
      kind: string;
    }>(c, 'store', 120_000);
    await stopChild(c);
    result.store = {
      flows: r.n,
      appendMs: round(r.appendMs, 1)!,
      totalMs: round(r.totalMs, 1)!,
      flowsPerSec: round(r.n / (r.totalMs / 1000), 0)!,
      kind: r.kind
    };
    if (r.count !== r.n) result.errors.push(`flow store: wrote ${r.count} of ${r.n} flows`);
    say(`  ${result.store.flowsPerSec} flows/s`);
  } catch (e) {
    result.errors.push(`flow store: ${(e as Error).message}`);
  }

  // ---- report
  result.machine.loadavgEnd = os.loadavg().map((x) => round(x)!);
  result.durationS = round(elapsed(), 1)!;
  result.notes.push(
    '"two hops mTLS" and "1 hop, capture off" run on an engine with capture off (spec.capture.enabled: false: requests routed, counted in metrics and traced, no flow stored, no body kept); every other localmesh path records each flow with its bodies in SQLite, as `localmesh up` does by default.',
    "CPU µs/req is the proxy process tree's user+system time over the measured saturation window divided by the requests wrk completed (two hops: both sidecars, one engine process).",
    "Added ms per hop = (path − direct) / hops at the fixed rate, from the open-loop client's latency (measured from each request's scheduled send time)."
  );
  const rank = (id: PathId) => PATHS.findIndex((p) => p.id === id);
  result.paths.sort((a, b) => rank(a.id) - rank(b.id));
  derive(result);
  result.bars = bars(result);
  result.ok = result.errors.length === 0;
  const files = writeResults(args.out, result);
  if (args.mode === 'full' && path.resolve(args.out) === path.join(BENCH_DIR, 'results'))
    updateReadme(path.join(BENCH_DIR, 'README.md'), result);
  console.log('');
  console.log(markdown(result));
  for (const b of result.bars)
    console.log(
      `${b.pass === null ? 'n/a ' : b.pass ? 'PASS' : 'MISS'}  ${b.text}: ${b.value ?? '–'} ${b.unit} (bar ${b.op} ${b.target} ${b.unit})`
    );
  say(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  if (!result.ok) say(`the benchmark itself failed: ${result.errors.join('; ')}`);
  return result.ok ? 0 : 1;
}

/**
 * Rewrite the edit VirtualService `trials` times in place (as most editors save); after each save, poll (about every
 * millisecond) until the new rule answers. Then two atomic saves (a temp file renamed over it, as vim and
 * `writeIstioFile` do), counted as applied or not.
 */
async function editApply(
  port: number,
  istioDir: string,
  trials: number
): Promise<NonNullable<BenchResult['editApply']>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const version = () =>
    new Promise<string | undefined>((resolve) => {
      const req = http.get({ agent, host: '127.0.0.1', port, path: REQUEST_PATH }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['x-bench-edit'] as string | undefined));
        res.on('error', () => resolve(undefined));
      });
      req.setTimeout(2000, () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
  const file = path.join(istioDir, EDIT_FILE);
  let n = 0;
  /** Save a new version; the milliseconds until it answered, or null when it did not within 3 s. */
  const trial = async (atomic: boolean): Promise<number | null> => {
    const want = `v${++n}`;
    if (atomic) {
      const tmpFile = path.join(istioDir, `.${EDIT_FILE}.tmp`);
      fs.writeFileSync(tmpFile, editVs(want));
      fs.renameSync(tmpFile, file);
    } else fs.writeFileSync(file, editVs(want));
    const t0 = performance.now();
    let ms: number | null = null;
    while (performance.now() - t0 < 3000) {
      if ((await version()) === want) {
        ms = round(performance.now() - t0, 1);
        break;
      }
      await sleep(1);
    }
    await sleep(300); // let the watcher settle before the next save
    return ms;
  };
  const out: number[] = [];
  let failures = (await version()) === 'v0' ? 0 : 1;
  for (let i = 0; i < trials; i++) {
    const ms = await trial(false);
    if (ms === null) failures++;
    else out.push(ms);
  }
  let atomicApplied = 0;
  for (let i = 0; i < 2; i++) if ((await trial(true)) !== null) atomicApplied++;
  agent.destroy();
  return {
    method: 'in-place write',
    trials: out,
    medianMs: round(median(out), 1),
    maxMs: out.length ? Math.max(...out) : null,
    failures,
    atomicSaves: { tried: 2, applied: atomicApplied }
  };
}

let exiting = false;
// whatever way this process ends (an uncaught error, a closed output pipe), nothing it started stays behind: an
// orphaned nginx or engine would share the cores with the next run. nginx's master stops its workers on TERM.
process.on('exit', () => {
  for (const e of externals.splice(0)) {
    try {
      process.kill(e.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
// a reader that goes away (`npm run bench | head`) ends the output, not the run: results are still written
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (exiting) return;
    exiting = true;
    say(`${sig}: stopping everything this run started`);
    void cleanup().finally(() => process.exit(130));
  });
}

const code = await main().catch(async (e: Error) => {
  say(`benchmark failed: ${e.stack ?? e.message}`);
  await cleanup();
  return 1;
});
await cleanup();
process.exit(code);
