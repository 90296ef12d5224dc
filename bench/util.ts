/** Small helpers shared by the benchmark's parts: free ports, waiting for a port, children over IPC, statistics. */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BENCH_DIR = import.meta.dirname;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A loopback port nothing listens on right now (bound, then released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolve once 127.0.0.1:`port` accepts a TCP connection; reject after `timeoutMs`. */
export async function waitPort(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the process for port ${port} exited`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** The full path of an executable on PATH (or in the usual sbin folders), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** Start a TypeScript file of bench/ as a Node child with an IPC channel (through tsx's loader). */
export function forkTs(
  file: string,
  args: string[] = [],
  opts: { silent?: boolean; env?: Record<string, string>; execArgv?: string[] } = {}
): ChildProcess {
  return fork(path.join(BENCH_DIR, file), args, {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
    stdio: opts.silent ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...opts.env }
  });
}

/** The next IPC message of `type` from `child` (rejects when the child exits first or after `timeoutMs`). */
export function nextMessage<T extends { type: string }>(
  child: ChildProcess,
  type: string,
  timeoutMs: number
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no "${type}" message within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: unknown) => {
      const msg = m as { type?: string; message?: string };
      if (msg?.type === type) finish(undefined, m as T);
      else if (msg?.type === 'error') finish(new Error(msg.message ?? 'child failed'));
    };
    const onExit = (code: number | null, sig: string | null) =>
      finish(new Error(`child exited (${code ?? sig}) before "${type}"`));
    function finish(err?: Error, value?: T) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Stop a child we started: ask politely (IPC disconnect / SIGTERM), then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    if (child.connected) child.send({ type: 'close' });
    else child.kill('SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

export function median(xs: number[]): number | null {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export const round = (x: number | null | undefined, digits = 2): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(digits));
