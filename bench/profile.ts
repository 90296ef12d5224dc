/**
 * `npm run bench -- --profile`: the engine processes run with V8's sampling profiler (`--cpu-prof`), and each
 * profile is summarized here: where the engine's busy time went by area (localmesh's engine, Node's internals,
 * dependencies, native code such as socket writes and GC) and the functions with the most self time. The
 * `.cpuprofile` files open as flame graphs in Chrome DevTools (Performance → Load profile) or speedscope.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of a .cpuprofile this summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Sampled time the engine's main thread was busy (not idle), ms. */
  busyMs: number;
  idleMs: number;
  /** Share of busy time by area, largest first. */
  areas: { area: string; pct: number }[];
  /** Functions by self time, largest first. */
  top: { fn: string; where: string; pct: number }[];
}

const ROOT = path.resolve(import.meta.dirname, '..');

/** Which part of the process a frame belongs to. */
function areaOf(url: string, fn: string): string {
  if (url === '') return fn === '(garbage collector)' ? 'GC' : `native ${fn || '(anonymous)'}`;
  if (url.startsWith('node:')) return 'Node internals';
  if (url.includes('/node_modules/')) return 'dependencies';
  if (url.includes('/main/engine/')) return 'localmesh engine';
  return 'other JavaScript';
}

/** Where a frame is, short: `main/engine/sidecar/h1.ts:81`, `node:net`, a package name. */
function whereOf(url: string, line: number): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts.slice(0, parts[0]!.startsWith('@') ? 2 : 1).join('/');
  }
  const file = url.startsWith('file:') ? fileURLToPath(url) : url;
  return `${path.relative(ROOT, file)}:${line + 1}`;
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  let idle = 0;
  let busy = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  for (const n of p.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (url === '' && functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = whereOf(url, lineNumber);
    const key = `${functionName}\u0000${where}`;
    const f = fns.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    f.us += us;
    fns.set(key, f);
  }
  const pct = (us: number) => Math.round((1000 * us) / Math.max(busy, 1)) / 10;
  return {
    file,
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    areas: [...areas].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, pct: pct(us) })),
    top: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ fn: f.fn, where: f.where, pct: pct(f.us) }))
  };
}

export function profileMarkdown(s: ProfileSummary, title: string): string {
  const lines = [
    `### ${title}`,
    '',
    `Profile: \`${path.basename(s.file)}\` (open it in Chrome DevTools or speedscope for the flame graph). Busy ${s.busyMs} ms, idle ${s.idleMs} ms of the main thread; shares are of the busy time.`,
    '',
    '| area | % busy |',
    '|---|---:|',
    ...s.areas.filter((a) => a.pct >= 0.5).map((a) => `| ${a.area} | ${a.pct.toFixed(1)} |`),
    '',
    '| function (self time) | where | % busy |',
    '|---|---|---:|',
    ...s.top.map((f) => `| ${f.fn.replace(/\|/g, '\\|')} | ${f.where} | ${f.pct.toFixed(1)} |`),
    ''
  ];
  return lines.join('\n');
}
