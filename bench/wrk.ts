/** Saturation throughput with wrk (fixed connections, one thread), parsed from its text output. */
import { spawn } from 'node:child_process';
import { which } from './util.js';

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  /** wrk's latency distribution, microseconds. */
  latencyUs: { p50: number; p75: number; p90: number; p99: number; max: number };
  non2xx: number;
  socketErrors: number;
}

export const wrkPath = (): string | null => which('wrk');

function toUs(v: string, unit: string): number {
  const x = Number(v);
  return unit === 'us' ? x : unit === 'ms' ? x * 1e3 : unit === 's' ? x * 1e6 : unit === 'm' ? x * 6e7 : x;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const lat = (pct: string) => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toUs(m[1]!, m[2]!) : 0;
  };
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  const maxm = /^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/m.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (!total) throw new Error(`cannot read wrk's output:\n${out}`);
  return {
    requests: Number(total[1]),
    durationS: toUs(total[2]!, total[3]!) / 1e6,
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    latencyUs: {
      p50: lat('50'),
      p75: lat('75'),
      p90: lat('90'),
      p99: lat('99'),
      max: maxm ? toUs(maxm[1]!, maxm[2]!) : 0
    },
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/),
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0
  };
}

/** One wrk run (whole seconds: wrk takes no fractions); killed if it overruns its duration by 15 s. */
export function runWrk(a: {
  port: number;
  path: string;
  connections: number;
  durationS: number;
  timeoutS?: number;
}): Promise<WrkResult> {
  const bin = wrkPath();
  if (!bin) return Promise.reject(new Error('wrk is not installed'));
  const d = Math.max(1, Math.round(a.durationS));
  const args = [
    '-t1',
    `-c${a.connections}`,
    `-d${d}s`,
    `--timeout`,
    `${a.timeoutS ?? 5}s`,
    '--latency',
    `http://127.0.0.1:${a.port}${a.path}`
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), (d + 15) * 1000);
    child.on('error', (e) => {
      clearTimeout(killer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(killer);
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
