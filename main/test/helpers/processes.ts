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
