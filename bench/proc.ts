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
