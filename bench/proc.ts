/**
 * CPU time and memory of another process and its descendants, read from /proc (Linux): utime + stime of every
 * process in the tree, so nginx's master + worker or mitmproxy's Python count whole. Clock ticks (usually 100 Hz:
 * 10 ms resolution) are plenty over measurement windows of seconds.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    ticksPerSecond = Number(r.stdout?.trim()) || 100;
  }
  return ticksPerSecond;
}

export const procAvailable = (): boolean => fs.existsSync('/proc/self/stat');

/** Fields after the command name of /proc/<pid>/stat (index 0 = state, field 3 of the man page). */
function statFields(pid: number): string[] | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** `root` and every live descendant. */
export function treePids(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f) parent.set(Number(e), Number(f[1]));
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out.filter((p) => parent.has(p));
}

/** User + system CPU time of the tree under `root`, in microseconds (null when /proc cannot tell). */
export function treeCpuUs(root: number | undefined): number | null {
  if (!root || !procAvailable()) return null;
  let ticks = 0;
  let seen = false;
  for (const pid of treePids(root)) {
    const f = statFields(pid);
    if (!f) continue;
    seen = true;
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  }
  return seen ? (ticks / hz()) * 1e6 : null;
}

/** sched_setscheduler's policy number of SCHED_IDLE (field 41, `policy`, of /proc/<pid>/stat). */
const SCHED_IDLE = 5;

/**
 * Time the threads of the tree under `root` spent runnable but waiting for a core (the run queue), in microseconds:
 * the second field of each thread's /proc/<pid>/task/<tid>/schedstat (nanoseconds). On the benchmark's 2 cores the
 * load client, the upstream and the proxy take turns, and a thread that wakes while both cores are busy waits its
 * turn: this is where a fixed-rate latency tail comes from when it is not the proxy's own work. Threads at idle
 * priority (SCHED_IDLE: the flow store's writer) are left out: they wait by design whenever anything else runs, and no
 * request waits for them. Null when the kernel keeps no schedstat.
 */
export function treeRunQueueWaitUs(root: number | undefined): number | null {
  if (!root || !procAvailable()) return null;
  let ns = 0;
  let seen = false;
  for (const pid of treePids(root)) {
    let tids: string[];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38] === String(SCHED_IDLE)) continue;
        const f = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ');
        ns += Number(f[1]);
        seen = true;
      } catch {
        /* the thread ended */
      }
    }
  }
  return seen && Number.isFinite(ns) ? ns / 1000 : null;
}

/** Resident and peak resident memory of the tree under `root`, in MB. */
export function treeMemoryMb(root: number | undefined): { rssMb: number; peakRssMb: number } | null {
  if (!root || !procAvailable()) return null;
  let rss = 0;
  let hwm = 0;
  let seen = false;
  for (const pid of treePids(root)) {
    let s: string;
    try {
      s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    seen = true;
    rss += Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    hwm += Number(/^VmHWM:\s+(\d+)/m.exec(s)?.[1] ?? 0);
  }
  return seen ? { rssMb: rss / 1024, peakRssMb: hwm / 1024 } : null;
}

/** The machine's CPU time so far (Linux /proc/stat, all cores): busy and total, in clock ticks; null elsewhere. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is counted in user already)
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - cpu[3]! - cpu[4]!, total };
  } catch {
    return null;
  }
}

/**
 * Wait until the machine is quiet: less than `share` of its CPU time busy over a window of `windowMs`, at most
 * `maxMs` in all. A path measured right after another one can otherwise share the cores with what that one left
 * running: mitmproxy at 1000 req/s is over its throughput, and goes on working off its backlog after the last
 * answer. Returns how long it waited and the last window's busy share (null where /proc/stat cannot be read).
 */
export async function untilQuiet(
  share = 0.15,
  maxMs = 5000,
  windowMs = 200
): Promise<{ waitedMs: number; busy: number | null }> {
  const t0 = performance.now();
  let busy: number | null = null;
  for (;;) {
    const a = machineTicks();
    if (!a) return { waitedMs: 0, busy: null };
    await new Promise((r) => setTimeout(r, windowMs));
    const b = machineTicks();
    if (!b) return { waitedMs: 0, busy: null };
    busy = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
    const waitedMs = performance.now() - t0;
    if (busy < share || waitedMs >= maxMs) return { waitedMs: Math.round(waitedMs), busy };
  }
}
