/**
 * Helpers shared by the CLI tests and the e2e fixtures: a raw HTTP request on a fresh connection, and whether a
 * process group still has live members (so a test can prove launched apps are gone).
 */
import fs from 'node:fs';
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection to 127.0.0.1:`port`; `target` may be absolute (HTTP proxy form) or a path. */
export function request(port: number, target: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`request ${target} via port ${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Live (non-zombie) process in group `pgid` (Linux: /proc; elsewhere kill -0). */
export function groupAlive(pgid: number): boolean {
  if (process.platform === 'linux') {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so parse after the last ')'
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') return true;
    }
    return false;
  }
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `n` distinct free ports for apps the mesh launches, taken BELOW the OS's ephemeral range: sidecars listen on
 * port 0, so a port picked inside that range could be handed to a sidecar before the app binds it.
 */
export async function appPorts(n: number): Promise<number[]> {
  const net = await import('node:net');
  let low = 32768;
  try {
    low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    /* not Linux: keep the usual lower bound */
  }
  const from = Math.max(1024, Math.min(20000, low - 5000));
  const out: number[] = [];
  for (let tries = 0; out.length < n && tries < 2000; tries++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (out.includes(port) || handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) out.push(port);
  }
  if (out.length < n) throw new Error(`found only ${out.length} of ${n} free ports below ${low}`);
  for (const p of out) handedOut.add(p);
  return out;
}
const handedOut = new Set<number>();
