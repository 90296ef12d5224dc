/** CLI: `localmesh ca` shows, exports and rotates the mesh CA in the state dir (real binary, real files). */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(ROOT, 'main/cli/bin.js'), 'ca', ...args], { cwd: ROOT, encoding: 'utf8' });

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('localmesh ca', () => {
  it('show creates the CA once, export prints the same root, rotate replaces it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-ca-cli-'));
    dirs.push(dir);
    const show = run('show', '--state-dir', dir);
    expect(show.status).toBe(0);
    const fp = /SHA-256:\s+(\S+)/.exec(show.stdout)![1]!;
    expect(show.stdout).toMatch(/key:\s+EC P-256/);
    expect(fs.statSync(path.join(dir, 'ca', 'root-key.pem')).mode & 0o777).toBe(0o600);
    const out = path.join(dir, 'root.pem');
    expect(run('export', '--out', out, '--state-dir', dir).status).toBe(0);
    expect(new crypto.X509Certificate(fs.readFileSync(out)).fingerprint256).toBe(fp);
    expect(run('show', '--state-dir', dir).stdout).toContain(fp);
    const rot = run('rotate', '--rsa', '--state-dir', dir);
    expect(rot.status).toBe(0);
    const after = run('show', '--state-dir', dir).stdout;
    expect(after).not.toContain(fp);
    expect(after).toMatch(/key:\s+RSA 2048/);
    expect(run('frobnicate', '--state-dir', dir).status).toBe(2);
  });
});
