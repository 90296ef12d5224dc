/**
 * The C baseline: Debian's nginx as a reverse proxy in front of the upstream stub, one worker, HTTP/1.1 keep-alive
 * to the upstream (keepalive 64), no access log; configuration, pid and temp files in a temporary folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitPort, which } from './util.js';

export interface External {
  port: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

export const nginxPath = (): string | null => which('nginx');

export function nginxConf(dir: string, listen: number, upstream: number): string {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstream};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Stop a spawned external program by its own pid: TERM, then KILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

export async function startNginx(dir: string, upstream: number): Promise<External> {
  const bin = nginxPath();
  if (!bin) throw new Error('nginx is not installed');
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConf(dir, port, upstream));
  const version = await new Promise<string>((resolve) => {
    const v = spawn(bin, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    v.stderr.on('data', (c: Buffer) => (s += c.toString()));
    v.on('close', () => resolve(/nginx\/(\S+)/.exec(s)?.[1] ?? 'unknown'));
    v.on('error', () => resolve('unknown'));
  });
  const child = spawn(bin, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe']
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await waitPort(port, 10_000, () => child.exitCode === null);
  } catch (e) {
    await stopProcess(child);
    throw new Error(`nginx did not start: ${(e as Error).message} ${stderr}`);
  }
  return { port, pid: child.pid!, version, stop: () => stopProcess(child) };
}
