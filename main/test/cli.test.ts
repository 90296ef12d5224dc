/**
 * End to end through the real `localmesh` binary: every test spawns `node main/cli/bin.js …` from the repository
 * root and asserts on its stdout/stderr/exit code, on the admin API it serves and on traffic through its sidecars.
 *
 * Rules the tests keep: temp folders for projects and state, `--admin-port 0` (ephemeral ports everywhere), only
 * 127.0.0.1, no fixed sleep as an assertion (every wait is for an output line or a polled condition, bounded), and
 * every child is killed in afterEach (SIGTERM, then SIGKILL; the process groups the mesh launched as well).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { appPorts, groupAlive, request } from './helpers/processes.js';
import { LOCALMESH_VERSION } from '../engine/version.js';

// every test spawns `node main/cli/bin.js` (a second or more under load): the timeouts of main/test/vitest.config.ts,
// also when this file is run on its own (`npx vitest run main/test/cli.test.ts`, without that config)
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'main', 'cli', 'bin.js');
const FIXTURES = path.join(ROOT, 'main', 'test', 'fixtures');
const BOOKINFO = path.join(ROOT, 'resources', 'examples', 'bookinfo');
const READY = /localmesh ready (http:\/\/127\.0\.0\.1:(\d+))/;

// ---------------------------------------------------------------------------------------------------------------
// harness: CLI children, temp folders, ports, HTTP
// ---------------------------------------------------------------------------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

class Cli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exitInfo: Exit | null = null;
  readonly exited: Promise<Exit>;
  private waiters = new Set<() => void>();

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.poke();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.poke();
    });
    this.exited = new Promise((resolve) => {
      // 'close' (not 'exit'): all output has been read by then
      this.child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.poke();
        resolve(this.exitInfo);
      });
    });
  }

  private poke(): void {
    for (const w of [...this.waiters]) w();
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Wait for a line of stdout matching `re` (bounded); fails early when the process exits first. */
  waitFor(re: RegExp, timeoutMs = 20_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this[stream].match(re);
        if (m) {
          done();
          resolve(m);
          return true;
        }
        if (this.exitInfo) {
          done();
          reject(
            new Error(
              `localmesh exited (${JSON.stringify(this.exitInfo)}) before printing ${re}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`
            )
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${re}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`
          )
        );
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(listener);
      };
      this.waiters.add(listener);
      check();
    });
  }

  /** Resolve with the exit, or reject after `timeoutMs`. */
  async waitExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `localmesh did not exit within ${timeoutMs} ms\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`
            )
          ),
        timeoutMs
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL when it is still alive after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

const clis = new Set<Cli>();
const tempDirs: string[] = [];
const servers: net.Server[] = [];
/** Process groups (pids of launched `run` commands) to make sure of after a test. */
const groups = new Set<number>();

function cli(...args: string[]): Cli {
  return cliWithEnv({}, ...args);
}

function cliWithEnv(env: Record<string, string>, ...args: string[]): Cli {
  const c = new Cli(args, env);
  clis.add(c);
  return c;
}

/** Run a command to its end (bounded) and return its exit code and output. */
async function runCli(
  args: string[],
  timeoutMs = 20_000,
  env: Record<string, string> = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = cliWithEnv(env, ...args);
  const { code } = await c.waitExit(timeoutMs);
  return { code, stdout: c.stdout, stderr: c.stderr };
}

function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `localmesh-cli-${prefix}-`));
  tempDirs.push(d);
  return d;
}

/** Whether `pid` is a live process (a zombie counts as gone). */
function alive(pid: number): boolean {
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Live (non-zombie) processes whose environment holds LM_CLI_TEST_MARK=<mark>: every process a test's mesh
 * launched, whatever became of its pid. Linux only (/proc); elsewhere the empty list.
 */
function markedProcesses(mark: string): number[] {
  if (process.platform !== 'linux') return [];
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`LM_CLI_TEST_MARK=${mark}`)) continue;
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (alive(Number(entry))) found.push(Number(entry));
  }
  return found;
}

let markSeq = 0;
/** A mark unique to this run of this test file. */
function newMark(): string {
  return `${process.pid}-${Date.now()}-${++markSeq}`;
}

afterEach(async () => {
  await Promise.all([...clis].map((c) => c.stop()));
  clis.clear();
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  groups.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A port that was free a moment ago. */
/** A free port for an app, below the ephemeral range the sidecars' port-0 listeners draw from. */
async function freePort(): Promise<number> {
  return (await appPorts(1))[0]!;
}

/** Hold a port with a plain TCP server (closed in afterEach). */
async function occupyPort(): Promise<number> {
  const s = net.createServer((sock) => sock.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as net.AddressInfo).port;
}

/** A tiny HTTP server in this process that names itself (closed in afterEach). */
async function httpStub(name: string): Promise<number> {
  const s = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${name} ${req.url}`);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return (s.address() as net.AddressInfo).port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.setTimeout(2000, () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Admin token per admin URL host (read from <state-dir>/admin-token by `up`). */
const adminTokens = new Map<string, string>();

function authHeaders(url: string): Record<string, string> {
  const token = adminTokens.get(new URL(url).host);
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function getJson<T = unknown>(url: string): Promise<T> {
  const u = new URL(url);
  const r = await request(Number(u.port), u.pathname + u.search, authHeaders(url));
  expect(r.status, `${url}: ${r.body}`).toBe(200);
  return JSON.parse(r.body) as T;
}

/** Poll `fn` until it returns a truthy value (bounded by time, not a fixed sleep as the assertion). */
async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `; last error: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A `run` command: a node -e HTTP server that answers "<text> <url>" on $PORT (no shell-special characters). */
function nodeServer(text: string): string {
  const js = `require('http').createServer((q,s)=>{s.setHeader('content-type','text/plain');s.end('${text} '+q.url)}).listen(+process.env.PORT,'127.0.0.1',()=>console.log('${text} listening on '+process.env.PORT))`;
  return `node -e "${js}"`;
}

interface WorkloadDef {
  name: string;
  labels?: Record<string, string>;
  instances: string[];
  run?: string;
  env?: Record<string, string>;
  sidecar?: boolean;
}

/** localmesh.yaml text for {service: workloads}. Strings go through JSON.stringify (valid YAML flow scalars). */
function meshYaml(services: Record<string, WorkloadDef[]>, extra: string[] = []): string {
  const lines = [
    'apiVersion: localmesh.dev/v1alpha1',
    'kind: Mesh',
    'metadata: {name: cli-test}',
    'spec:',
    '  istio: [./istio]',
    ...extra,
    '  services:'
  ];
  for (const [svc, workloads] of Object.entries(services)) {
    lines.push(`  - name: ${svc}`, '    port: 9080', '    workloads:');
    for (const w of workloads) {
      lines.push(
        `    - name: ${w.name}`,
        `      labels: ${JSON.stringify(w.labels ?? { app: svc })}`,
        `      instances: ${JSON.stringify(w.instances)}`
      );
      if (w.sidecar === false) lines.push('      sidecar: false');
      if (w.run) lines.push('      run:', `        command: ${JSON.stringify(w.run)}`);
      if (w.run && w.env) lines.push(`        env: ${JSON.stringify(w.env)}`);
    }
  }
  return lines.join('\n') + '\n';
}

function writeProject(prefix: string, mesh: string, istio: Record<string, string> = {}): { dir: string; file: string } {
  const dir = tempDir(prefix);
  const file = path.join(dir, 'localmesh.yaml');
  fs.writeFileSync(file, mesh);
  fs.mkdirSync(path.join(dir, 'istio'));
  for (const [name, text] of Object.entries(istio)) fs.writeFileSync(path.join(dir, 'istio', name), text);
  return { dir, file };
}

/**
 * The bookinfo example as a temp project: its localmesh.yaml with every instance moved to a free port and no
 * portBase (so parallel runs never collide), its Istio folder and service folders used in place.
 */
async function bookinfoProject(mark: string): Promise<{ file: string; instancePorts: number[] }> {
  let text = fs.readFileSync(path.join(BOOKINFO, 'localmesh.yaml'), 'utf8');
  const instancePorts: number[] = [];
  const original = [...text.matchAll(/127\.0\.0\.1:(190\d\d)/g)].map((m) => m[0]);
  expect(original.length).toBe(6);
  for (const addr of original) {
    const port = await freePort();
    instancePorts.push(port);
    text = text.replace(addr, `127.0.0.1:${port}`);
  }
  text = text.replace(/portBase: \d+/, 'portBase: 0');
  text = text.replace('istio: [./istio]', `istio: [${JSON.stringify(path.join(BOOKINFO, 'istio'))}]`);
  text = text.replace(/cwd: \.\/(\w+)/g, (_m, d: string) => `cwd: ${JSON.stringify(path.join(BOOKINFO, d))}`);
  text = text.replace(
    /env: \{SERVICE_VERSION: (v\d)\}/g,
    (_m, v: string) => `env: {SERVICE_VERSION: ${v}, LM_CLI_TEST_MARK: "${mark}"}`
  );
  expect(text).not.toMatch(/127\.0\.0\.1:190\d\d|cwd: \.\//); // (the mark holds a pid and a timestamp: match addresses only)
  expect(text.match(/LM_CLI_TEST_MARK/g)).toHaveLength(6);
  const dir = tempDir('bookinfo');
  const file = path.join(dir, 'localmesh.yaml');
  fs.writeFileSync(file, text);
  return { file, instancePorts };
}

interface Workload {
  name: string;
  service: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  sidecar: boolean;
  outbound: { host: string; port: number } | null;
  upstreams: Record<string, { host: string; port: number }>;
  instances: { address: string; inbound: { host: string; port: number } | null }[];
  processes: { instance: string; state: string; pid: number | null }[];
}

/** Start `up` and wait for its ready line; returns the admin URL. */
async function up(
  file: string,
  stateDir: string,
  ...more: string[]
): Promise<{ c: Cli; admin: string; adminPort: number }> {
  const c = cli('up', '-c', file, '--admin-port', '0', '--state-dir', stateDir, ...more);
  const m = await c.waitFor(READY, 30_000);
  const admin = m[1]!;
  adminTokens.set(new URL(admin).host, fs.readFileSync(path.join(stateDir, 'admin-token'), 'utf8').trim());
  return { c, admin, adminPort: Number(m[2]) };
}

async function workloads(admin: string): Promise<Workload[]> {
  const ws = await getJson<Workload[]>(`${admin}/api/v1/workloads`);
  for (const w of ws) for (const p of w.processes) if (p.pid) groups.add(p.pid);
  return ws;
}

function byName(ws: Workload[], name: string): Workload {
  const w = ws.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name} in ${ws.map((x) => x.name).join(', ')}`);
  return w;
}

/** "<file>:<line>:<column>" of the first occurrence of `needle` outside comments in a fixture file (1-based). */
function posIn(file: string, needle: string, offset = 0): string {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => !l.trimStart().startsWith('#') && l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return `${path.relative(ROOT, file)}:${i + 1}:${lines[i]!.indexOf(needle) + 1 + offset}`;
}

/** The one output line that mentions `where` (file:line:column). */
function lineAt(output: string, where: string): string {
  const found = output.split('\n').filter((l) => l.startsWith(`${where}:`));
  expect(found, `exactly one line at ${where} in:\n${output}`).toHaveLength(1);
  return found[0]!;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. help, unknown command, bad flag
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh help and usage errors', () => {
  it('help prints the usage and exits 0', async () => {
    const r = await runCli(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage:/m);
    for (const cmd of ['localmesh up', 'localmesh validate', 'localmesh status', '--admin-port', '--state-dir'])
      expect(r.stdout).toContain(cmd);
    expect(r.stderr).toBe('');
  });

  it('--help and -h are help too', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([flag]);
      expect(r.code, flag).toBe(0);
      expect(r.stdout, flag).toContain('Usage:');
    }
  });

  it('<command> --help is help; --version prints the version', async () => {
    for (const cmd of ['validate', 'up', 'replay']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain('Usage:');
    }
    const v = await runCli(['--version']);
    expect([v.code, v.stdout.trim()]).toEqual([0, `localmesh ${LOCALMESH_VERSION}`]);
  });

  it('--ui-port names the admin port (the UI is served by the admin server); two different ports are an error', async () => {
    const r = await runCli(['up', '--ui-port', '1', '--admin-port', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--ui-port 1 and --admin-port 2 differ');
    const bad = await runCli(['up', '--ui-port', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--ui-port must be a non-negative integer');
  });

  // Failed when written: `up --admin-port 70000` passed the check (a non-negative integer), made the state dir,
  // started the sidecars and then crashed in listen() with an uncaught RangeError stack trace (exit 1).
  it(
    'a port out of range or not an integer is a usage error (exit 2) before anything starts',
    { timeout: 90_000 },
    async () => {
      const { file, dir } = writeProject(
        'bad-port',
        meshYaml({ web: [{ name: 'web-v1', instances: [`127.0.0.1:${await freePort()}`] }] })
      );
      const state = path.join(dir, 'state');
      for (const [flag, value] of [
        ['--admin-port', '70000'],
        ['--admin-port', '65536'],
        ['--admin-port', '99999999999999999999'],
        ['--admin-port', '1.5'],
        ['--ui-port', '70000']
      ] as const) {
        const r = await runCli(['up', '-c', file, '--state-dir', state, flag, value]);
        expect(r.code, `${flag} ${value}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(`localmesh: ${flag} must be a non-negative integer from 0 to 65535`);
        expect(r.stderr).toContain(`got "${value}"`);
        expect(r.stderr).not.toMatch(/RangeError|^\s+at /m);
        expect(r.stdout).not.toMatch(READY);
        expect(fs.existsSync(state), `${flag} ${value} made the state dir`).toBe(false);
      }
      // the port inside --admin-url too: a usage error, not "admin API unreachable"
      for (const args of [
        ['status', '--admin-url', 'http://127.0.0.1:70000'],
        ['replay', 'f-1', '--admin-url', 'http://127.0.0.1:99999', '--json']
      ]) {
        const r = await runCli(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(/^localmesh: --admin-url must be an http\(s\) URL with a port from 0 to 65535/);
        expect(r.stdout).toBe('');
      }
    }
  );

  it('unreadable or unwritable files are coded errors, not stack traces', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-cli-files-'));
    try {
      const data = await runCli(['replay', 'f-1', '--data-file', path.join(dir, 'missing.bin')]);
      expect(data.code).toBe(1);
      expect(data.stderr).toMatch(/^localmesh: error LM201: --data-file .*missing\.bin: ENOENT/);
      const ca = await runCli(['ca', 'export', '--out', path.join(dir, 'no/such/dir/ca.pem'), '--state-dir', dir]);
      expect(ca.code).toBe(1);
      expect(ca.stderr).toMatch(/^localmesh: error LM201: --out .*ca\.pem: ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no command prints the usage and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('Usage:');
  });

  it('an unknown command exits 2 with a message and the usage on stderr', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('localmesh: unknown command "frobnicate"');
    expect(r.stderr).toContain('Usage:');
    expect(r.stdout).toBe('');
  });

  it('an unknown flag exits 2 and names the flag', async () => {
    for (const cmd of ['validate', 'up', 'status']) {
      const r = await runCli([cmd, '--no-such-flag']);
      expect(r.code, cmd).toBe(2);
      expect(r.stderr, cmd).toContain("Unknown option '--no-such-flag'");
      expect(r.stderr, cmd).toContain('Usage:');
    }
  });

  it('a flag without its value exits 2', async () => {
    const r = await runCli(['validate', '-c']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/-c.*argument missing|argument missing/i);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. validate on the bookinfo example
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh validate (bookinfo)', () => {
  const file = path.join(BOOKINFO, 'localmesh.yaml');

  it('exits 0 and prints a summary line', async () => {
    const r = await runCli(['validate', '-c', file]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^resources\/examples\/bookinfo\/localmesh\.yaml: 6 Istio resource\(s\) in 3 file\(s\); 0 error\(s\), \d+ warning\(s\), \d+ note\(s\)$/m
    );
    expect(r.stdout).not.toMatch(/: error /);
  });

  it('--json prints valid JSON with ok: true', async () => {
    const r = await runCli(['validate', '-c', file, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      ok: boolean;
      file: string;
      resources: number;
      issues: { severity: string; code: string; where: { file: string; line: number; column: number } }[];
    };
    expect(j.ok).toBe(true);
    expect(j.file).toBe(file);
    expect(j.resources).toBe(6);
    expect(j.issues.every((i) => i.severity !== 'error')).toBe(true);
    for (const i of j.issues) {
      expect(i.code).toMatch(/^(IST|LM)\d{3,4}$/);
      expect(i.where.line).toBeGreaterThan(0);
      expect(i.where.column).toBeGreaterThan(0);
    }
  });

  it('a mesh file that does not exist: exit 1 with LM001 at line 1', async () => {
    const missing = path.join(tempDir('missing'), 'localmesh.yaml');
    const r = await runCli(['validate', '-c', missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`localmesh.yaml:1:1: error LM001: mesh file not found: ${missing}`);
    expect(r.stdout).toMatch(/1 error\(s\), 0 warning\(s\), 0 note\(s\)$/m);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. validate on broken projects
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh validate (broken files)', () => {
  const dir = path.join(FIXTURES, 'broken');
  const ist = (name: string) => path.join(dir, 'istio', name);

  it('exits 1 and reports every broken thing at file:line:column with severity, code and message', async () => {
    const r = await runCli(['validate', '-c', path.join(dir, 'localmesh.yaml')]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const out = r.stdout;

    // malformed YAML: the mis-indented "http" key (yaml reports the start of its line)
    const indent = lineAt(out, posIn(ist('01-bad-indentation.yaml'), '   http:'));
    expect(indent).toContain(': error IST0010');
    expect(indent).toMatch(/YAML syntax error: .*same column/);

    // unknown field in a VirtualService: points at the key, suggests the right name
    const unknown = lineAt(out, posIn(ist('02-unknown-field.yaml'), 'retires:'));
    expect(unknown).toContain(
      ': error IST0106 spec.http[0].retires: unknown field "retires" (did you mean "retries"?)'
    );

    // wrong type: points at the value
    const type = lineAt(out, posIn(ist('03-wrong-type.yaml'), '"fifty"'));
    expect(type).toContain(': error IST0106 spec.http[0].route[0].weight: must be a number, found the string "fifty"');

    // a subset no DestinationRule defines
    const subset = lineAt(out, posIn(ist('04-unknown-subset.yaml'), 'v7'));
    expect(subset).toContain(
      ': error IST0101 spec.http[0].route[0].destination.subset: subset "v7" of host reviews.default.svc.cluster.local is not defined'
    );
    expect(subset).toContain('defined subsets: v1, v2');

    // a destination host that is no service
    const host = lineAt(out, posIn(ist('05-unknown-host.yaml'), 'inventory'));
    expect(host).toContain(
      ': error IST0101 spec.http[0].route[0].destination.host: destination host "inventory" (inventory.default.svc.cluster.local) is not a service in the mesh'
    );

    // all weights zero: at the route list
    const zero = lineAt(out, posIn(ist('06-zero-weights.yaml'), '- destination:'));
    expect(zero).toContain(': error IST0106 spec.http[0].route: all 2 destinations have weight 0');

    // route + redirect in one rule: at the redirect
    const both = lineAt(out, posIn(ist('07-route-and-redirect.yaml'), 'uri: /elsewhere'));
    expect(both).toContain(': error IST0106 spec.http[0].redirect: rule has both route and redirect');

    // a rule after a catch-all: warning at the unreachable rule
    const after = lineAt(out, posIn(ist('08-rule-after-catch-all.yaml'), 'name: never-used'));
    expect(after).toContain(': warning IST0130 spec.http[1]: rule "never-used" (spec.http[1]) is never used');
    expect(after).toContain('rule "everything" (spec.http[0]) before it has no match');

    // a regex that is not RE2: at the pattern
    const regex = lineAt(out, posIn(ist('09-bad-regex.yaml'), '"/pay(?=ment)"'));
    expect(regex).toContain(': error IST0122 spec.http[0].match[0].uri.regex: regex "/pay(?=ment)" is not valid RE2');

    // the valid DestinationRule file is clean, and the summary counts it all
    expect(out).not.toContain('00-destination-rules.yaml');
    expect(out).toMatch(
      /^main\/test\/fixtures\/broken\/localmesh\.yaml: 7 Istio resource\(s\) in 10 file\(s\); 8 error\(s\), 1 warning\(s\), 0 note\(s\)$/m
    );
  });

  it('--json lists the same issues with structured positions and ok: false', async () => {
    const r = await runCli(['validate', '-c', path.join(dir, 'localmesh.yaml'), '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as {
      ok: boolean;
      issues: { severity: string; code: string; path: string; where: { file: string; line: number; column: number } }[];
    };
    expect(j.ok).toBe(false);
    const codes = j.issues.map((i) => `${path.basename(i.where.file)} ${i.severity} ${i.code}`).sort();
    expect(codes).toEqual([
      '01-bad-indentation.yaml error IST0010',
      '02-unknown-field.yaml error IST0106',
      '03-wrong-type.yaml error IST0106',
      '04-unknown-subset.yaml error IST0101',
      '05-unknown-host.yaml error IST0101',
      '06-zero-weights.yaml error IST0106',
      '07-route-and-redirect.yaml error IST0106',
      '08-rule-after-catch-all.yaml warning IST0130',
      '09-bad-regex.yaml error IST0122'
    ]);
    const wrongType = j.issues.find((i) => i.where.file.endsWith('03-wrong-type.yaml'))!;
    expect(wrongType.where).toEqual({ file: ist('03-wrong-type.yaml'), line: 13, column: 15 });
  });

  it('a mesh file with an unknown key and a wrong type: LM003 at each, exit 1', async () => {
    const file = path.join(FIXTURES, 'broken-mesh', 'localmesh.yaml');
    const r = await runCli(['validate', '-c', file]);
    expect(r.code).toBe(1);
    const typo = lineAt(r.stdout, posIn(file, 'sidcar'));
    expect(typo).toContain(
      ': error LM003 spec.services[0].workloads[0].sidcar: unknown field "sidcar" (did you mean "sidecar"?)'
    );
    const type = lineAt(r.stdout, posIn(file, '"ninety-eighty"'));
    expect(type).toContain(': error LM003 spec.services[0].port: must be a number, found the string "ninety-eighty"');
    expect(r.stdout).toMatch(/2 error\(s\), 0 warning\(s\)/);
  });

  it('`up` refuses the same broken mesh file with LM003 and the issues on stderr', async () => {
    const file = path.join(FIXTURES, 'broken-mesh', 'localmesh.yaml');
    const state = tempDir('state');
    const r = await runCli(['up', '-c', file, '--admin-port', '0', '--state-dir', state]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^localmesh: error LM003: .*2 error\(s\) in the configuration/m);
    expect(r.stderr).toContain(`  ${posIn(file, 'sidcar')}: error LM003`);
    expect(r.stdout).not.toMatch(READY);
    expect(fs.existsSync(path.join(state, 'admin.json'))).toBe(false);
  });

  it('`up` refuses a project whose Istio files would be rejected, listing every issue', async () => {
    const r = await runCli([
      'up',
      '-c',
      path.join(dir, 'localmesh.yaml'),
      '--admin-port',
      '0',
      '--state-dir',
      tempDir('state')
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^localmesh: error IST0010: .*: 6 error\(s\) in the configuration; first: .*01-bad-indentation\.yaml:9:1 /m
    );
    expect(r.stderr).toContain(`  ${posIn(ist('09-bad-regex.yaml'), '"/pay(?=ment)"')}: error IST0122`);
    expect(r.stdout).not.toMatch(READY);
  });

  it('a project with warnings only exits 0', async () => {
    const file = path.join(FIXTURES, 'warnings-only', 'localmesh.yaml');
    const r = await runCli(['validate', '-c', file]);
    expect(r.code, r.stdout).toBe(0);
    const w = lineAt(r.stdout, posIn(path.join(FIXTURES, 'warnings-only', 'istio', 'orders.yaml'), 'name: never-used'));
    expect(w).toContain(': warning IST0130');
    expect(r.stdout).toMatch(/0 error\(s\), 1 warning\(s\), 0 note\(s\)$/m);
    const j = JSON.parse((await runCli(['validate', '-c', file, '--json'])).stdout) as { ok: boolean };
    expect(j.ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 4. up on bookinfo: ready line, admin API, traffic through a sidecar, status, clean shutdown
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh up (bookinfo)', () => {
  it('serves the mesh, the admin API and status, and stops everything on SIGTERM', { timeout: 60_000 }, async () => {
    const mark = newMark();
    const { file, instancePorts } = await bookinfoProject(mark);
    const state = tempDir('state');
    const { c, admin, adminPort } = await up(file, state);
    const names = ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'];

    // the workload table comes before the ready line
    const before = c.stdout.slice(0, c.stdout.search(READY));
    expect(before).toMatch(/^WORKLOAD +SERVICE +OUTBOUND \(HTTP_PROXY\) +INBOUND SIDECAR → APP +UPSTREAM PORTS$/m);
    for (const n of names)
      expect(before).toMatch(new RegExp(`^${n} +${n.split('-')[0]}\\.default +127\\.0\\.0\\.1:\\d+ `, 'm'));
    expect(JSON.parse(fs.readFileSync(path.join(state, 'admin.json'), 'utf8'))).toMatchObject({
      url: admin,
      meshFile: file,
      pid: c.child.pid
    });

    // the workloads API
    const ws = await workloads(admin);
    expect(ws.map((w) => w.name)).toEqual(names);
    for (const w of ws) {
      expect(w).toMatchObject({
        name: expect.any(String),
        service: expect.any(String),
        namespace: 'default',
        serviceAccount: expect.stringMatching(/^bookinfo-/),
        sidecar: true
      });
      expect(w.labels).toEqual({ app: w.service, version: expect.stringMatching(/^v\d$/) });
      expect(w.outbound).toEqual({ host: '127.0.0.1', port: expect.any(Number) });
      expect(Object.keys(w.upstreams).sort()).toEqual(['details', 'productpage', 'ratings', 'reviews']);
      for (const e of Object.values(w.upstreams)) expect(e).toEqual({ host: '127.0.0.1', port: expect.any(Number) });
      expect(w.instances).toHaveLength(1);
      expect(w.instances[0]).toEqual({
        address: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
        inbound: { host: '127.0.0.1', port: expect.any(Number) }
      });
    }
    expect(ws.map((w) => Number(w.instances[0]!.address.split(':')[1]))).toEqual(instancePorts);
    const pp = byName(ws, 'productpage-v1');
    const proxyPort = pp.outbound!.port;

    // productpage's outbound sidecar as an HTTP proxy to reviews: 200 JSON from v1 or v3, server: envoy
    const reviews = await until(
      'reviews to answer 200 through the productpage sidecar',
      async () => {
        const r = await request(proxyPort, 'http://reviews:9080/reviews/0');
        return r.status === 200 ? r : undefined;
      },
      30_000
    );
    expect(reviews.headers.server).toBe('envoy');
    expect(reviews.headers['content-type']).toContain('application/json');
    const body = JSON.parse(reviews.body) as { id: string; version: string; reviews: unknown[] };
    expect(body.id).toBe('0');
    expect(['v1', 'v3']).toContain(body.version); // the 50/50 rule of virtual-service-reviews.yaml
    expect(body.reviews).toHaveLength(2);

    // jason always gets v2, which calls ratings through its own sidecar: black stars
    const jason = await until(
      'ratings to answer for reviews-v2',
      async () => {
        const r = await request(proxyPort, 'http://reviews:9080/reviews/0', { 'end-user': 'jason' });
        const b = JSON.parse(r.body) as { version: string; reviews: { rating?: { stars?: number; color?: string } }[] };
        return r.status === 200 && b.reviews[0]?.rating?.stars ? b : undefined;
      },
      30_000
    );
    expect(jason.version).toBe('v2');
    expect(jason.reviews.map((x) => x.rating)).toEqual([
      { stars: 5, color: 'black' },
      { stars: 4, color: 'black' }
    ]);

    // flows, config, health
    const flows = await getJson<
      { reporter: string; source: string | null; destinationService: string | null; status: number }[]
    >(`${admin}/api/v1/flows?limit=10`);
    expect(flows.length).toBeGreaterThan(0);
    expect(flows.length).toBeLessThanOrEqual(10);
    expect(flows.some((f) => f.reporter === 'source' && f.source === 'productpage-v1' && f.status === 200)).toBe(true);
    const config = await getJson<{
      version: number;
      meshFile: string;
      resources: unknown[];
      lastReload: { ok: boolean };
    }>(`${admin}/api/v1/config`);
    expect(config.version).toBe(1);
    expect(config.meshFile).toBe(file);
    expect(config.resources).toHaveLength(6);
    expect(config.lastReload.ok).toBe(true);
    const health = await getJson<{ status: string; version: number; workloads: number }>(`${admin}/api/v1/health`);
    expect(health).toMatchObject({ status: 'ok', version: 1, workloads: 6 });

    // status finds the running mesh through the state dir
    const st = await runCli(['status', '--state-dir', state, '-c', file]);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain(`mesh ${file} at ${admin}: config version 1, 6 Istio resource(s)`);
    expect(st.stdout).toMatch(/^last reload: ok at /m);
    for (const n of names) expect(st.stdout).toMatch(new RegExp(`^${n} +${n.split('-')[0]}\\.default`, 'm'));
    for (const n of names) expect(st.stdout).toMatch(new RegExp(`^  ${n} 127\\.0\\.0\\.1:\\d+: running pid \\d+`, 'm'));
    const sj = await runCli(['status', '--state-dir', state, '-c', file, '--json']);
    expect(sj.code).toBe(0);
    const sjv = JSON.parse(sj.stdout) as {
      admin: string;
      health: { status: string };
      config: { version: number };
      workloads: Workload[];
    };
    expect(sjv.admin).toBe(admin);
    expect(sjv.health.status).toBe('ok');
    expect(sjv.config.version).toBe(1);
    expect(sjv.workloads.map((w) => w.name)).toEqual(names);

    // SIGTERM: exit 0, the apps, the sidecars and the admin port are gone
    const sidecarPorts = ws.flatMap((w) => [
      w.outbound!.port,
      w.instances[0]!.inbound!.port,
      ...Object.values(w.upstreams).map((u) => u.port)
    ]);
    const pids = ws.flatMap((w) => w.processes.map((p) => p.pid!));
    expect(pids).toHaveLength(6);
    if (process.platform === 'linux') expect(markedProcesses(mark).length).toBeGreaterThanOrEqual(6);
    c.child.kill('SIGTERM');
    const exit = await c.waitExit(20_000);
    expect(exit, c.stdout + c.stderr).toEqual({ code: 0, signal: null });
    expect(c.stdout).toContain('localmesh: stopped');
    for (const port of [adminPort, ...instancePorts, ...sidecarPorts])
      expect(await canConnect(port), `port ${port}`).toBe(false);
    for (const pid of pids) expect(groupAlive(pid), `process group ${pid}`).toBe(false);
    if (process.platform === 'linux') expect(markedProcesses(mark).length).toBe(0);
    expect(fs.existsSync(path.join(state, 'admin.json'))).toBe(false);

    // and status now says so
    const gone = await runCli(['status', '--state-dir', state, '-c', file]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no running mesh found');
  });

  it('--access-log prints one line per request a sidecar finished', { timeout: 60_000 }, async () => {
    const web = await freePort();
    const { file } = writeProject(
      'access-log',
      meshYaml({
        web: [{ name: 'web-v1', instances: [`127.0.0.1:${web}`], run: nodeServer('web') }],
        client: [{ name: 'client-v1', instances: [`127.0.0.1:${await freePort()}`] }]
      })
    );
    const { c, admin } = await up(file, tempDir('state'), '--access-log');
    const out = byName(await workloads(admin), 'client-v1').outbound!.port;
    await until(
      'web to answer through the client sidecar',
      async () => (await request(out, 'http://web:9080/logged')).status === 200,
      30_000
    );
    // Envoy's access log in Istio's default TEXT format, from the client's sidecar and from the server's
    await c.waitFor(
      /\n\[\d{4}-\d\d-\d\dT[\d:.]+Z\] "GET \/logged HTTP\/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ \d+ "-" "[^"]*" "[0-9a-f-]{36}" "web:9080" "127\.0\.0\.1:\d+" outbound\|9080\|\|web\.default\.svc\.cluster\.local - 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ - default\n/
    );
    await c.waitFor(
      /\n\[[^\]]+\] "GET \/logged HTTP\/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ \d+ "-" "[^"]*" "[0-9a-f-]{36}" "web:9080" "127\.0\.0\.1:\d+" inbound\|\d+\|\| - 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ outbound_\.9080_\._\.web\.default\.svc\.cluster\.local default\n/
    );
    // Ctrl-C stops like SIGTERM
    c.child.kill('SIGINT');
    expect(await c.waitExit(20_000)).toEqual({ code: 0, signal: null });
    expect(c.stdout).toContain('localmesh: stopped');
    expect(await canConnect(web)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 5. live reload through the CLI
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh up: the admin API is locked to this machine and this launch', () => {
  it(
    'needs the per-launch token (file 0600 or LOCALMESH_ADMIN_TOKEN); refuses a foreign Host or Origin; /metrics stays open',
    { timeout: 60_000 },
    async () => {
      const app = await httpStub('web');
      const { file } = writeProject('token', meshYaml({ web: [{ name: 'web-v1', instances: [`127.0.0.1:${app}`] }] }));
      const state = tempDir('state');
      const { c, admin, adminPort } = await up(file, state);
      const tokenFile = path.join(state, 'admin-token');
      const token = fs.readFileSync(tokenFile, 'utf8').trim();
      expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
      expect(c.stdout).toContain(`admin API token: ${tokenFile}`);
      expect(c.stdout).not.toContain(token); // never printed without --ui

      // no token, a wrong token: 401 with a JSON error code
      for (const headers of [{}, { authorization: 'Bearer nope' }] as Record<string, string>[]) {
        const r = await request(adminPort, '/api/v1/health', headers);
        expect(r.status).toBe(401);
        expect(r.headers['content-type']).toMatch(/^application\/json/);
        expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'LM204' } });
      }
      const ok = await request(adminPort, '/api/v1/health', { authorization: `Bearer ${token}` });
      expect(ok.status).toBe(200);
      // DNS rebinding: the right token under a foreign Host name is still refused; so is another site's Origin
      const rebound = await request(adminPort, '/api/v1/health', {
        authorization: `Bearer ${token}`,
        host: `evil.example:${adminPort}`
      });
      expect(rebound.status).toBe(403);
      expect(JSON.parse(rebound.body)).toMatchObject({ error: { code: 'LM203' } });
      const foreign = await request(adminPort, '/api/v1/health', {
        authorization: `Bearer ${token}`,
        origin: 'http://evil.example'
      });
      expect(foreign.status).toBe(403);
      expect(JSON.parse(foreign.body)).toMatchObject({ error: { code: 'LM203' } });
      // Prometheus scrapes without the token
      const metrics = await request(adminPort, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);

      // the CLI finds the token itself (state dir), or takes it from the environment
      expect((await runCli(['status', '--state-dir', state, '-c', file])).code).toBe(0);
      const wrong = await runCli(['status', '--admin-url', admin], 20_000, { LOCALMESH_ADMIN_TOKEN: 'wrong' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/LM204/);
      expect((await runCli(['status', '--admin-url', admin], 20_000, { LOCALMESH_ADMIN_TOKEN: token })).code).toBe(0);

      c.child.kill('SIGTERM');
      await c.waitExit(20_000);
      expect(fs.existsSync(tokenFile)).toBe(false);
    }
  );

  it('LOCALMESH_ADMIN_TOKEN chooses the token of `up` (for scripts and CI)', { timeout: 60_000 }, async () => {
    const app = await httpStub('web');
    const { file } = writeProject(
      'token-env',
      meshYaml({ web: [{ name: 'web-v1', instances: [`127.0.0.1:${app}`] }] })
    );
    const state = tempDir('state');
    const c = cliWithEnv(
      { LOCALMESH_ADMIN_TOKEN: 'chosen-by-the-script' },
      'up',
      '-c',
      file,
      '--admin-port',
      '0',
      '--state-dir',
      state
    );
    const m = await c.waitFor(READY, 30_000);
    expect(fs.readFileSync(path.join(state, 'admin-token'), 'utf8').trim()).toBe('chosen-by-the-script');
    expect(
      (await request(Number(m[2]), '/api/v1/health', { authorization: 'Bearer chosen-by-the-script' })).status
    ).toBe(200);
    expect((await request(Number(m[2]), '/api/v1/health')).status).toBe(401);
    c.child.kill('SIGTERM');
    await c.waitExit(20_000);
  });
});

describe('localmesh replay', () => {
  it(
    'resends a flow by id with edits, and every request of a HAR file, through the caller sidecar',
    { timeout: 90_000 },
    async () => {
      const seen: { url: string; header: string | undefined; body: string }[] = [];
      const api = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (d: string) => (body += d));
        req.on('end', () => {
          seen.push({ url: req.url ?? '', header: req.headers['x-try'] as string | undefined, body });
          res.end('ok');
        });
      });
      await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
      servers.push(api);
      const web = await httpStub('web');
      const { file } = writeProject(
        'replay',
        meshYaml({
          web: [{ name: 'web-v1', instances: [`127.0.0.1:${web}`] }],
          api: [{ name: 'api-v1', instances: [`127.0.0.1:${(api.address() as net.AddressInfo).port}`] }]
        })
      );
      const state = tempDir('state');
      const { c, admin } = await up(file, state);
      const out = byName(await workloads(admin), 'web-v1').outbound!.port;
      expect((await request(out, 'http://api:9080/orders', { 'x-try': 'first' })).status).toBe(200);
      const flows = await getJson<{ id: string; reporter: string; path: string }[]>(
        `${admin}/api/v1/flows?reporter=source&limit=5`
      );
      const orig = flows.find((f) => f.path === '/orders')!;

      const r = await runCli([
        'replay',
        orig.id,
        '-c',
        file,
        '--state-dir',
        state,
        '-X',
        'POST',
        '--path',
        '/orders/2',
        '-H',
        'x-try: second',
        '-d',
        'payload'
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^${orig.id} → \\S+  POST api:9080/orders/2  200 -  [\\d.]+ ms  as web-v1$`, 'm')
      );
      expect(seen.at(-1)).toEqual({ url: '/orders/2', header: 'second', body: 'payload' });

      // a HAR file: exported by the API, replayed request by request (imported first as a session)
      const harText = (
        await request(Number(new URL(admin).port), '/api/v1/flows/har?caller=web-v1', authHeaders(admin))
      ).body;
      const harFile = path.join(tempDir('har'), 'capture.har');
      fs.writeFileSync(harFile, harText);
      const before = seen.length;
      // with --json, stdout is the JSON and nothing else (a script pipes it to a JSON parser); the note about the
      // import goes to stderr
      const h = await runCli(['replay', harFile, '-c', file, '--state-dir', state, '--json']);
      expect(h.code).toBe(0);
      type Results = { original: string; flow: { status: number; replayOf: string } }[];
      const results = JSON.parse(h.stdout) as Results;
      expect(results).toHaveLength(2);
      for (const x of results) expect(x.flow).toMatchObject({ status: 200, replayOf: x.original });
      expect(seen.slice(before).map((x) => x.url)).toEqual(['/orders', '/orders/2']);
      expect(h.stderr).toMatch(/^imported 2 request\(s\) from .*capture\.har as session (\d+)$/m);
      const session = /as session (\d+)$/m.exec(h.stderr)![1];

      // the same file again: its import is reused (no second session), and every request is replayed again
      const h2 = await runCli(['replay', harFile, '-c', file, '--state-dir', state]);
      expect(h2.code).toBe(0);
      expect(h2.stdout).toMatch(
        new RegExp(`was imported before as session ${session}: replaying its 2 request\\(s\\)`)
      );
      expect(seen.slice(before).map((x) => x.url)).toEqual(['/orders', '/orders/2', '/orders', '/orders/2']);
      // and once more with --json: the reuse note on stderr, only the JSON on stdout
      const h3 = await runCli(['replay', harFile, '-c', file, '--state-dir', state, '--json']);
      expect(h3.code).toBe(0);
      expect(h3.stderr).toMatch(
        new RegExp(`was imported before as session ${session}: replaying its 2 request\\(s\\)`)
      );
      const again = JSON.parse(h3.stdout) as Results;
      expect(again.map((x) => x.original)).toEqual(results.map((x) => x.original));
      for (const x of again) expect(x.flow).toMatchObject({ status: 200, replayOf: x.original });
      expect(seen.slice(before + 4).map((x) => x.url)).toEqual(['/orders', '/orders/2']);
      const sessions = await getJson<{ kind: string }[]>(`${admin}/api/v1/sessions`);
      expect(sessions.filter((x) => x.kind === 'import')).toHaveLength(1);

      // an unknown id: exit 1 with the API's error code
      const bad = await runCli(['replay', 'no-such-flow', '-c', file, '--state-dir', state]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/no-such-flow: replay failed: LM202/);
      c.child.kill('SIGTERM');
      await c.waitExit(20_000);
    }
  );
});

// Failed when written: `ca show -c <missing file>` exited 0 and made <dir>/.localmesh/ca (with a new root key)
// beside a mesh file that does not exist.
describe('localmesh ca, status and replay on a mesh file that does not exist', () => {
  it('ca show, export and rotate: LM001 with the path, exit 1, and nothing created', { timeout: 90_000 }, async () => {
    const base = tempDir('ca-missing');
    const missing = path.join(base, 'nope', 'localmesh.yaml');
    for (const sub of [['show'], ['export'], ['export', '--out', path.join(base, 'ca.pem')], ['rotate'], []]) {
      const r = await runCli(['ca', ...sub, '-c', missing]);
      expect(r.code, `ca ${sub.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^localmesh: error LM001: /);
      expect(r.stderr).toContain(`mesh file not found: ${missing}`);
      expect(r.stdout).toBe('');
      expect(fs.readdirSync(base), `ca ${sub.join(' ')} created something`).toEqual([]);
    }
    // the same file with an explicit --state-dir is still a typo worth reporting
    const r = await runCli(['ca', 'show', '-c', missing, '--state-dir', path.join(base, 'state')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error LM001: mesh file not found: ${missing}`);
    expect(fs.readdirSync(base)).toEqual([]);
  });

  it('ca show on a mesh file that exists makes and shows the CA in its state dir', { timeout: 60_000 }, async () => {
    const { file, dir } = writeProject(
      'ca-ok',
      meshYaml({ web: [{ name: 'web-v1', instances: [`127.0.0.1:${await freePort()}`] }] })
    );
    const r = await runCli(['ca', 'show', '-c', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`certificate:  ${path.join(dir, '.localmesh', 'ca')}`);
    expect(fs.existsSync(path.join(dir, '.localmesh', 'ca'))).toBe(true);
    // --state-dir without -c does not need a mesh file (the repository root has none)
    const state = tempDir('ca-state');
    const e = await runCli(['ca', 'export', '--state-dir', state]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it(
    'status and replay: LM001 rather than "no running mesh"; up creates nothing either',
    { timeout: 60_000 },
    async () => {
      const base = tempDir('missing-connect');
      const missing = path.join(base, 'nope', 'localmesh.yaml');
      for (const args of [
        ['status', '-c', missing],
        ['status', '-c', missing, '--json'],
        ['replay', 'f-1', '-c', missing]
      ]) {
        const r = await runCli(args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr, args.join(' ')).toMatch(/^localmesh: error LM001: /);
        expect(r.stderr).toContain(`mesh file not found: ${missing}`);
        expect(r.stdout).toBe('');
      }
      const u = await runCli(['up', '-c', missing, '--admin-port', '0']);
      expect(u.code).toBe(1);
      expect(u.stderr).toContain(`error LM001: mesh file not found: ${missing}`);
      expect(fs.readdirSync(base), 'up made a state dir beside a missing mesh file').toEqual([]);
    }
  );
});

describe('localmesh up: live reload', () => {
  it(
    'applies an edited Istio file, and keeps the last good config when the next edit is broken',
    { timeout: 60_000 },
    async () => {
      const web = await freePort();
      const vs = (extraRule: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts:
  - web
  http:
${extraRule}  - name: default
    route:
    - destination:
        host: web
`;
      const { file, dir } = writeProject(
        'reload',
        meshYaml({
          web: [{ name: 'web-v1', instances: [`127.0.0.1:${web}`], run: nodeServer('web') }],
          client: [{ name: 'client-v1', instances: [`127.0.0.1:${await freePort()}`] }]
        }),
        { 'web.yaml': vs('') }
      );
      const istioFile = path.join(dir, 'istio', 'web.yaml');
      const { c, admin } = await up(file, tempDir('state'));
      const out = byName(await workloads(admin), 'client-v1').outbound!.port;

      const first = await until(
        'web to answer through the client sidecar',
        async () => {
          const r = await request(out, 'http://web:9080/hello');
          return r.status === 200 ? r : undefined;
        },
        30_000
      );
      expect(first.body).toBe('web /hello');
      expect((await getJson<{ version: number }>(`${admin}/api/v1/config`)).version).toBe(1);

      // add a directResponse rule in front
      fs.writeFileSync(
        istioFile,
        vs(`  - name: canned
    match:
    - uri:
        prefix: /hello
    directResponse:
      status: 418
      body:
        string: canned by istio
`)
      );
      const canned = await until(
        'the directResponse rule to apply',
        async () => {
          const r = await request(out, 'http://web:9080/hello');
          return r.status === 418 ? r : undefined;
        },
        20_000
      );
      expect(canned.body).toBe('canned by istio');
      expect((await request(out, 'http://web:9080/other')).body).toBe('web /other');
      await c.waitFor(/^config version \d+ applied/m);
      const applied = await getJson<{ version: number; lastReload: { ok: boolean } }>(`${admin}/api/v1/config`);
      expect(applied.version).toBeGreaterThanOrEqual(2);
      expect(applied.lastReload.ok).toBe(true);

      // a broken edit: rejected, with the place; the last good config keeps running
      const broken =
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts:\n    - web\n   http:\n  - route: []\n';
      fs.writeFileSync(istioFile, broken);
      const rejected = await c.waitFor(/^reload rejected: (.*)$/m, 20_000);
      expect(rejected[1]).toMatch(/web\.yaml:8:\d+: error IST0010( \S+)?: YAML syntax error/);
      const cfg = await until('lastReload.ok to be false', async () => {
        const v = await getJson<{
          version: number;
          lastReload: {
            ok: boolean;
            version: number;
            error?: string;
            issues: { code: string; where: { file: string; line: number } }[];
          };
        }>(`${admin}/api/v1/config`);
        return v.lastReload.ok === false ? v : undefined;
      });
      expect(cfg.version).toBe(applied.version);
      expect(cfg.lastReload.version).toBe(applied.version);
      expect(cfg.lastReload.error).toContain(`the last good config (version ${applied.version}) keeps running`);
      expect(
        cfg.lastReload.issues.some((i) => i.code === 'IST0010' && i.where.file === istioFile && i.where.line === 8)
      ).toBe(true);
      const still = await request(out, 'http://web:9080/hello');
      expect(still.status).toBe(418);
      expect(still.body).toBe('canned by istio');

      // status reports the rejection
      const st = await runCli(['status', '--admin-url', admin], 20_000, {
        LOCALMESH_ADMIN_TOKEN: adminTokens.get(new URL(admin).host)!
      });
      expect(st.code).toBe(0);
      expect(st.stdout).toMatch(/^last reload: REJECTED at \S+ — 1 error\(s\); the last good config/m);
      expect(st.stdout).toMatch(/web\.yaml:8:\d+: error IST0010/);
    }
  );
});

// ---------------------------------------------------------------------------------------------------------------
// 6. bad input and failing apps
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh up: bad input and failing apps', () => {
  it('a mesh file that does not exist: exit 1 with LM001', async () => {
    const missing = path.join(tempDir('missing'), 'nope', 'localmesh.yaml');
    const r = await runCli(['up', '-c', missing, '--admin-port', '0', '--state-dir', tempDir('state')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^localmesh: error LM001: /m);
    expect(r.stderr).toContain(`mesh file not found: ${missing}`);
    expect(r.stdout).not.toMatch(READY);
  });

  it(
    '--admin-port taken by another server: exit 1 with LM101 and nothing left running',
    { timeout: 60_000 },
    async () => {
      const taken = await occupyPort();
      const app = await freePort();
      const dir = tempDir('admin-taken');
      const pidFile = path.join(dir, 'app.pid');
      // an app that records its pid, so we can check that it is gone afterwards
      const run = `node -e "require('fs').writeFileSync(process.env.PID_FILE,String(process.pid));require('http').createServer((q,s)=>s.end('x')).listen(+process.env.PORT,'127.0.0.1')"`;
      const file = path.join(dir, 'localmesh.yaml');
      fs.mkdirSync(path.join(dir, 'istio'));
      const mark = newMark();
      fs.writeFileSync(
        file,
        meshYaml({
          web: [
            { name: 'web-v1', instances: [`127.0.0.1:${app}`], run, env: { PID_FILE: pidFile, LM_CLI_TEST_MARK: mark } }
          ]
        })
      );
      const r = await runCli(['up', '-c', file, '--admin-port', String(taken), '--state-dir', tempDir('state')]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(`^localmesh: error LM101: admin API cannot listen on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`, 'm')
      );
      expect(r.stdout).not.toMatch(READY);
      expect(await canConnect(app)).toBe(false);
      if (fs.existsSync(pidFile)) expect(alive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
      expect(markedProcesses(mark)).toEqual([]);
    }
  );

  it('portBase on an occupied port: exit 1 with LM101 naming the listener', async () => {
    const taken = await occupyPort();
    const { file } = writeProject(
      'portbase',
      meshYaml({ web: [{ name: 'web-v1', instances: [`127.0.0.1:${await freePort()}`] }] }, [`  portBase: ${taken}`])
    );
    const r = await runCli(['up', '-c', file, '--admin-port', '0', '--state-dir', tempDir('state')]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain(
      `localmesh: error LM101: port ${taken} for the outbound sidecar of web-v1 is already in use (spec.portBase ${taken})`
    );
    expect(r.stdout).not.toMatch(READY);
  });

  it('a run command that crashes at once: the mesh stays up and reports the crash', { timeout: 60_000 }, async () => {
    const { file } = writeProject(
      'crash',
      meshYaml({
        boom: [{ name: 'boom-v1', instances: [`127.0.0.1:${await freePort()}`], run: 'node -e "process.exit(3)"' }],
        web: [{ name: 'web-v1', instances: [`127.0.0.1:${await httpStub('stub-web')}`] }]
      })
    );
    const { c, admin } = await up(file, tempDir('state'));
    await c.waitFor(/^boom-v1: process crashed \(exit 3\)$/m, 20_000);
    expect(c.running).toBe(true);
    expect((await getJson<{ status: string }>(`${admin}/api/v1/health`)).status).toBe('ok');
    const boom = await until('the crash to show in the workloads API', async () => {
      const w = byName(await workloads(admin), 'boom-v1');
      const p = w.processes[0];
      return p && p.state !== 'running' && p.state !== 'starting' ? p : undefined;
    });
    expect(boom).toMatchObject({ command: 'node -e "process.exit(3)"' });
    expect(['crashed', 'restarting']).toContain(boom.state);
    // the rest of the mesh still carries traffic
    const out = byName(await workloads(admin), 'boom-v1').outbound!.port;
    const r = await request(out, 'http://web:9080/alive');
    expect(r.status).toBe(200);
    expect(r.body).toBe('stub-web /alive');
    // a crash loop (restart pending) does not hold up shutdown
    c.child.kill('SIGTERM');
    expect(await c.waitExit(20_000)).toEqual({ code: 0, signal: null });
  });

  it('an app that ignores SIGTERM is killed on shutdown, and up still exits 0', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const mark = newMark();
    const run = `node -e "process.on('SIGTERM',()=>console.log('ignoring SIGTERM'));require('http').createServer((q,s)=>s.end('stubborn')).listen(+process.env.PORT,'127.0.0.1',()=>console.log('stubborn up'))"`;
    const { file } = writeProject(
      'stubborn',
      meshYaml({
        stubborn: [{ name: 'stubborn-v1', instances: [`127.0.0.1:${port}`], run, env: { LM_CLI_TEST_MARK: mark } }]
      })
    );
    const { c, admin } = await up(file, tempDir('state'));
    await c.waitFor(/^stubborn-v1 \| stubborn up$/m);
    await workloads(admin);
    expect(await canConnect(port)).toBe(true);
    c.child.kill('SIGTERM');
    expect(await c.waitExit(20_000)).toEqual({ code: 0, signal: null });
    expect(c.stdout).toMatch(/^stubborn-v1 \| ignoring SIGTERM$/m);
    expect(await canConnect(port)).toBe(false);
    expect(markedProcesses(mark)).toEqual([]);
  });

  // Failed when written: up() in main/cli/index.ts listens with process.once('SIGTERM'/'SIGINT'), so the second
  // signal takes Node's default action and kills localmesh mid-shutdown; the launcher's 'exit' hook does not run
  // on a signal death, and the app (in its own process group) is orphaned, still serving on its port.
  it('a second SIGTERM while stopping (Ctrl-C twice) leaves no app running', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const mark = newMark();
    const run = `node -e "process.on('SIGTERM',()=>console.log('ignoring SIGTERM'));require('http').createServer((q,s)=>s.end('stubborn')).listen(+process.env.PORT,'127.0.0.1',()=>console.log('stubborn up'))"`;
    const { file } = writeProject(
      'twice',
      meshYaml({
        stubborn: [{ name: 'stubborn-v1', instances: [`127.0.0.1:${port}`], run, env: { LM_CLI_TEST_MARK: mark } }]
      })
    );
    const { c, admin } = await up(file, tempDir('state'));
    await c.waitFor(/^stubborn-v1 \| stubborn up$/m);
    await workloads(admin); // records the app's process group for afterEach
    c.child.kill('SIGTERM');
    await c.waitFor(/^stubborn-v1 \| ignoring SIGTERM$/m);
    c.child.kill('SIGTERM'); // the impatient second Ctrl-C, inside the 3 s grace period
    await c.waitExit(20_000);
    // whatever the exit code, the mesh must not leave the app behind (serving on its port, holding it)
    await until(
      'the app to be gone',
      async () => !(await canConnect(port)) && markedProcesses(mark).length === 0,
      5_000
    ).catch(() => undefined);
    expect(await canConnect(port), `app port ${port} still open after localmesh exited`).toBe(false);
    expect(markedProcesses(mark)).toEqual([]);
  });

  it(
    'an unusable --state-dir is a clean error with a code, not a stack trace, and leaves nothing running',
    { timeout: 60_000 },
    async () => {
      const port = await freePort();
      const mark = newMark();
      const { file, dir } = writeProject(
        'bad-state',
        meshYaml({
          web: [
            {
              name: 'web-v1',
              instances: [`127.0.0.1:${port}`],
              run: nodeServer('web'),
              env: { LM_CLI_TEST_MARK: mark }
            }
          ]
        })
      );
      const notADir = path.join(dir, 'a-file');
      fs.writeFileSync(notADir, '');
      const r = await runCli(['up', '-c', file, '--admin-port', '0', '--state-dir', path.join(notADir, 'state')]);
      expect(r.code).toBe(1);
      expect(markedProcesses(mark)).toEqual([]);
      expect(await canConnect(port)).toBe(false);
      expect(r.stderr).toMatch(/^localmesh: error LM\d{3}: .*a-file/m);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  );

  it(
    'an instance nobody listens on: 503 with Envoy’s reset body, and the mesh keeps serving',
    { timeout: 60_000 },
    async () => {
      const dead = await freePort();
      const { file } = writeProject(
        'dead',
        meshYaml({
          dead: [{ name: 'dead-v1', instances: [`127.0.0.1:${dead}`] }],
          web: [{ name: 'web-v1', instances: [`127.0.0.1:${await httpStub('stub-web')}`] }],
          client: [{ name: 'client-v1', instances: [`127.0.0.1:${await freePort()}`] }]
        })
      );
      const { c, admin } = await up(file, tempDir('state'));
      const out = byName(await workloads(admin), 'client-v1').outbound!.port;
      for (let i = 0; i < 2; i++) {
        const r = await request(out, 'http://dead:9080/anything');
        expect(r.status).toBe(503);
        expect(r.headers.server).toBe('envoy');
        expect(
          r.body.startsWith(
            'upstream connect error or disconnect/reset before headers. retried and the latest reset reason:'
          )
        ).toBe(true);
        expect(r.body).toContain('Connection refused');
      }
      const ok = await request(out, 'http://web:9080/next');
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('stub-web /next');
      expect(c.running).toBe(true);
      const flows = await getJson<{ destinationService: string | null; status: number; flags: string }[]>(
        `${admin}/api/v1/flows?limit=10`
      );
      expect(flows.some((f) => f.status === 503 && /UF/.test(f.flags) && /URX/.test(f.flags))).toBe(true);
    }
  );
});

// ---------------------------------------------------------------------------------------------------------------
// 7. a mesh that died without cleaning up, and a reader that went away
// ---------------------------------------------------------------------------------------------------------------

describe('localmesh status after the mesh was killed (kill -9)', () => {
  // Failed when written: admin.json stayed behind and status reported "error LM500: admin API at … unreachable:
  // fetch failed" instead of saying that no mesh runs.
  it('reports LM104: the admin.json left behind is stale', { timeout: 60_000 }, async () => {
    const app = await httpStub('web');
    const { file } = writeProject('killed', meshYaml({ web: [{ name: 'web-v1', instances: [`127.0.0.1:${app}`] }] }));
    const state = tempDir('state');
    const { c, admin } = await up(file, state);
    const pid = c.child.pid!;
    c.child.kill('SIGKILL');
    expect(await c.waitExit(20_000)).toEqual({ code: null, signal: 'SIGKILL' });
    const stateFile = path.join(state, 'admin.json');
    expect(fs.existsSync(stateFile), 'kill -9 leaves admin.json behind').toBe(true);

    for (const args of [
      ['status', '--state-dir', state],
      ['status', '--state-dir', state, '-c', file, '--json'],
      ['replay', 'f-1', '--state-dir', state]
    ]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^localmesh: error LM104: no running mesh found /);
      expect(r.stderr).toContain(`${stateFile} is stale (the mesh that wrote it, pid ${pid}, is not running)`);
      expect(r.stderr).not.toMatch(/LM500|fetch failed|unreachable/);
      expect(r.stdout).toBe('');
    }

    // its pid taken by another live process (here: this test runner): nothing listening at the URL says it is stale
    fs.writeFileSync(
      stateFile,
      JSON.stringify({ ...JSON.parse(fs.readFileSync(stateFile, 'utf8')), pid: process.pid })
    );
    const r = await runCli(['status', '--state-dir', state]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^localmesh: error LM104: no running mesh found /);
    expect(r.stderr).toContain(
      `${stateFile} is stale (nothing listens at ${admin}: the mesh that wrote it is not running)`
    );

    // an admin.json that is not JSON: LM104 too, not a SyntaxError stack trace
    fs.writeFileSync(stateFile, '{"url": ');
    const garbled = await runCli(['status', '--state-dir', state]);
    expect(garbled.code).toBe(1);
    expect(garbled.stderr).toMatch(/^localmesh: error LM104: .*admin\.json is stale \(it cannot be read: /);
    expect(garbled.stderr).not.toMatch(/^\s+at /m);
  });
});

/** Start the CLI with the read end of its stdout closed at once, as `localmesh … | head -0` would. */
function cliWithClosedStdout(...args: string[]): Cli {
  const c = cli(...args);
  c.child.stdout!.destroy(); // before the child can have written anything: its first write gets EPIPE
  return c;
}

// Failed when written: the first write to the closed pipe raised an unhandled 'error' event: "Error: write EPIPE"
// with a stack trace on stderr, exit 1.
describe('a closed stdout (`localmesh … | head`) ends the command quietly', () => {
  it('help, validate and validate --json: the usual exit code, no stack trace', { timeout: 60_000 }, async () => {
    for (const [args, code] of [
      [['help'], 0],
      [['validate', '-c', path.join(BOOKINFO, 'localmesh.yaml')], 0],
      [['validate', '-c', path.join(FIXTURES, 'broken', 'localmesh.yaml')], 1],
      [['validate', '-c', path.join(FIXTURES, 'broken', 'localmesh.yaml'), '--json'], 1]
    ] as const) {
      const c = cliWithClosedStdout(...args);
      const exit = await c.waitExit();
      expect(exit, `${args.join(' ')}: ${c.stderr}`).toEqual({ code, signal: null });
      expect(c.stderr, args.join(' ')).toBe('');
    }
  });

  it('status exits 0; up stops cleanly (as on Ctrl-C) when its output is gone', { timeout: 60_000 }, async () => {
    const web = await httpStub('web');
    const { file } = writeProject(
      'epipe',
      meshYaml({
        web: [{ name: 'web-v1', instances: [`127.0.0.1:${web}`] }],
        client: [{ name: 'client-v1', instances: [`127.0.0.1:${await freePort()}`] }]
      })
    );
    const state = tempDir('state');
    const { c, admin } = await up(file, state, '--access-log');
    const out = byName(await workloads(admin), 'client-v1').outbound!.port;

    for (const args of [
      ['status', '--state-dir', state],
      ['status', '--state-dir', state, '--json']
    ]) {
      const st = cliWithClosedStdout(...args);
      const exit = await st.waitExit();
      expect(exit, `${args.join(' ')}: ${st.stderr}`).toEqual({ code: 0, signal: null });
      expect(st.stderr).toBe('');
    }

    // the reader of up's output goes away; the next access-log line (of this request's first finished hop) finds
    // the pipe closed, and the mesh begins to stop, maybe before this response is through
    c.child.stdout!.destroy();
    await request(out, 'http://web:9080/after-head').catch(() => undefined);
    expect(await c.waitExit(20_000), c.stderr).toEqual({ code: 0, signal: null });
    expect(c.stderr).not.toMatch(/EPIPE|^\s+at /m);
    expect(fs.existsSync(path.join(state, 'admin.json')), 'a clean stop removes admin.json').toBe(false);
    expect(await canConnect(out)).toBe(false);
  });
});
