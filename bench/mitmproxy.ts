/** mitmproxy (Debian's package) in reverse-proxy mode in front of the upstream stub, quiet, its state in a temp folder. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { stopProcess, type External } from './nginx.js';
import { freePort, waitPort, which } from './util.js';

export const mitmdumpPath = (): string | null => which('mitmdump');

export async function startMitmproxy(dir: string, upstream: number): Promise<External> {
  const bin = mitmdumpPath();
  if (!bin) throw new Error('mitmproxy is not installed');
  fs.mkdirSync(dir, { recursive: true });
  const version =
    /Mitmproxy:\s*(\S+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 }).stdout ?? '')?.[1] ??
    'unknown';
  const port = await freePort();
  const args = [
    '--mode',
    `reverse:http://127.0.0.1:${upstream}`,
    '--listen-host',
    '127.0.0.1',
    '--listen-port',
    String(port),
    '--set',
    `confdir=${dir}`,
    '-q'
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await waitPort(port, 30_000, () => child.exitCode === null);
  } catch (e) {
    await stopProcess(child);
    throw new Error(`mitmproxy did not start: ${(e as Error).message} ${stderr}`);
  }
  return { port, pid: child.pid!, version, stop: () => stopProcess(child) };
}
