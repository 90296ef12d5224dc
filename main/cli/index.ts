/**
 * The localmesh CLI (plain Node): `up`, `validate`, `status`, `ca`, `replay`. Every command programs against the same engine and
 * MeshApi the desktop app uses.
 */
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCodes, MeshError, isMeshError } from '../contract/errors.js';
import { loadProject } from '../engine/config/load-project.js';
import { createMesh } from '../engine/mesh.js';
import { MeshCa } from '../engine/tls/ca.js';
import { LOCALMESH_VERSION } from '../engine/version.js';
import { startAdminServer } from '../transports/http/admin-server.js';
import { createHttpMeshApi } from '../transports/http/admin-client.js';
import { formatIssue, summary, workloadTable } from './format.js';
import type { FlowRecord, Har, MeshApi, ReplayEdit } from '../contract/api.js';

const USAGE = `localmesh: run an Istio-style service mesh on this machine

Usage:
  localmesh up       [-c localmesh.yaml] [--admin-port N] [--seed N] [--state-dir DIR] [--ui [--ui-port N]] [--access-log]
  localmesh validate [-c localmesh.yaml] [--json]
  localmesh status   [-c localmesh.yaml] [--state-dir DIR] [--admin-url URL] [--json]
  localmesh ca       [show | export [--out FILE] | rotate [--rsa]] [-c localmesh.yaml] [--state-dir DIR]
  localmesh replay   <flow-id | file.har> [--as WORKLOAD] [-X METHOD] [--path P] [-H 'name: value']... [-d BODY | --data-file F]
                     [-c localmesh.yaml] [--state-dir DIR] [--admin-url URL] [--json]
  localmesh help | --version

  -c, --config      the mesh file (default: ./localmesh.yaml)
  --admin-port      port of the admin API on 127.0.0.1 (default 15000; 0 = any free port)
  --seed            seed of the random generator (weights, fault percentages, jitter) to reproduce a run
  --state-dir       where localmesh keeps its state (default: .localmesh beside the mesh file)
  --ui              serve the browser UI from the admin server and print its URL (built on first use)
  --ui-port         the port of that server: the same as --admin-port (the UI and the API share one origin)
  --access-log      print Envoy's access log: one line per request a sidecar finished, in Istio's default format
  --as              replay as this workload (through its outbound sidecar) instead of the recorded caller
  -H, --header      replay with this header set ("name:" removes it); -X, --path, -d edit the method, path, body

  The admin API needs the token "up" writes to <state-dir>/admin-token (or LOCALMESH_ADMIN_TOKEN).
`;

/** A mistake in how the command was called: usage and exit 2. */
class UsageError extends Error {}

/** Where a command writes: `log` for its output (stdout), `err` for diagnostics and notes (stderr). */
type Out = {
  log: (s: string) => void;
  err: (s: string) => void;
  /** Settles when the reader of the output went away (`localmesh up | head -1`): `up` then stops as on Ctrl-C. */
  closed?: Promise<void>;
};

/**
 * The process's stdout and stderr, made safe against a reader that went away: a write to a closed pipe (EPIPE, as
 * after `localmesh status | head -1`) drops that line and every later one instead of crashing with an unhandled
 * 'error' event, and a closed stdout settles `closed`.
 */
function processOut(): Out {
  let stdoutOpen = true;
  let stderrOpen = true;
  let settle!: () => void;
  const closed = new Promise<void>((resolve) => (settle = resolve));
  process.stdout.on('error', () => {
    stdoutOpen = false;
    settle();
  });
  process.stderr.on('error', () => (stderrOpen = false));
  return {
    log: (s) => void (stdoutOpen && !process.stdout.destroyed && process.stdout.write(s + '\n')),
    err: (s) => void (stderrOpen && !process.stderr.destroyed && process.stderr.write(s + '\n')),
    closed
  };
}

export async function main(argv: string[], out: Out = processOut()): Promise<number> {
  const [cmd, ...rest] = argv;
  // `localmesh <command> --help` is help, not an unknown option
  if (cmd !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    out.log(USAGE);
    return 0;
  }
  try {
    switch (cmd) {
      case 'up':
        return await up(rest, out);
      case 'validate':
        return validate(rest, out);
      case 'status':
        return await status(rest, out);
      case 'ca':
        return await caCommand(rest, out);
      case 'replay':
        return await replayCommand(rest, out);
      case 'version':
      case '--version':
      case '-v':
        out.log(`localmesh ${LOCALMESH_VERSION}`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        out.err(`localmesh: unknown command "${cmd}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (isMeshError(e)) {
      out.err(`localmesh: error ${e.code}: ${e.message}`);
      const issues = (e.details as { issues?: import('../contract/api.js').ValidationIssue[] } | undefined)?.issues;
      if (issues) for (const i of issues) out.err('  ' + formatIssue(i));
      return 1;
    }
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS'))
    ) {
      out.err(`localmesh: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

function meshPath(c: string | undefined): string {
  return path.resolve(c ?? 'localmesh.yaml');
}

function stateDirOf(file: string, dir: string | undefined): string {
  return path.resolve(dir ?? path.join(path.dirname(file), '.localmesh'));
}

function validate(args: string[], out: Out): number {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
    strict: true
  });
  const file = meshPath(values.config);
  const p = loadProject(file);
  const errors = p.issues.filter((i) => i.severity === 'error').length;
  if (values.json) {
    out.log(JSON.stringify({ file, ok: errors === 0, resources: p.resources.length, issues: p.issues }, null, 2));
  } else {
    for (const i of p.issues) out.log(formatIssue(i));
    out.log(
      `${path.relative(process.cwd(), file) || file}: ${p.resources.length} Istio resource(s) in ${p.files.length} file(s); ${summary(p.issues)}`
    );
  }
  return errors > 0 ? 1 : 0;
}

async function up(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'admin-port': { type: 'string' },
      seed: { type: 'string' },
      'state-dir': { type: 'string' },
      ui: { type: 'boolean' },
      'ui-port': { type: 'string' },
      'access-log': { type: 'boolean' }
    },
    strict: true
  });
  const file = meshPath(values.config);
  // the UI is served by the admin server (issue 4): --ui-port names the same port as --admin-port
  const uiPort = values['ui-port'];
  if (uiPort !== undefined && values['admin-port'] !== undefined && uiPort !== values['admin-port'])
    throw new UsageError(
      `--ui-port ${uiPort} and --admin-port ${values['admin-port']} differ: the UI is served by the admin server, so they name one port; give one of them`
    );
  const adminPort = portArg(uiPort ?? values['admin-port'], 15000, uiPort !== undefined ? '--ui-port' : '--admin-port');
  const seed = values.seed === undefined ? undefined : numberArg(values.seed, 0, '--seed');
  const stateDir = stateDirOf(file, values['state-dir']);

  const stateFile = path.join(stateDir, 'admin.json');
  checkMeshFile(file); // before the state dir is made: nothing is created beside a mesh file that is not there
  try {
    fs.mkdirSync(stateDir, { recursive: true });
    fs.accessSync(stateDir, fs.constants.W_OK);
  } catch (e) {
    throw new MeshError(
      ErrorCodes.STATE_DIR_UNUSABLE,
      `cannot use ${stateDir} as the state directory: ${(e as Error).message}; pass --state-dir with a writable folder`
    );
  }

  // sidecars first, then the admin API, and only then the developer's processes: nothing starts that must be undone
  const staticDir = values.ui ? uiDir(out) : undefined;
  // every admin API request needs the per-launch token (LOCALMESH_ADMIN_TOKEN lets a script choose it); the CLI reads
  // it from <state-dir>/admin-token (mode 0600), the browser UI gets it once in the printed URL
  const token = process.env.LOCALMESH_ADMIN_TOKEN || randomBytes(24).toString('base64url');
  const tokenFile = path.join(stateDir, 'admin-token');
  const mesh = await createMesh(file, {
    seed,
    log: (l) => out.log(l),
    launch: false,
    stateDir,
    // Envoy's access log in Istio's default format, one line per request each sidecar finished
    accessLog: values['access-log'] ? (line) => out.log(line) : undefined
  });
  let admin;
  try {
    admin = await startAdminServer(mesh, { port: adminPort, staticDir, token, metrics: () => mesh.metrics() });
    // the token first: whoever sees admin.json may expect the token file beside it
    fs.writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    fs.chmodSync(tokenFile, 0o600);
    fs.writeFileSync(
      stateFile,
      JSON.stringify({ url: admin.url, pid: process.pid, meshFile: file, tokenFile }) + '\n',
      { mode: 0o600 }
    );
  } catch (e) {
    await mesh.close();
    throw e;
  }
  mesh.launchProcesses();

  const issues = (await mesh.getConfig()).issues;
  for (const i of issues) out.log(formatIssue(i));
  // only process events: a subscriber to every type would make the sidecars build flow events for nobody
  mesh.onEvent(
    (e) => {
      if (e.type === 'process' && (e.process.state === 'crashed' || e.process.state === 'failed')) {
        out.log(
          `${e.workload}: process ${e.process.state}${e.process.lastExitCode !== null ? ` (exit ${e.process.lastExitCode})` : ''}`
        );
      }
    },
    ['process']
  );
  out.log('');
  out.log(workloadTable(await mesh.listWorkloads()));
  out.log('');
  if (values.ui) out.log(`UI: ${admin.url}/?token=${token}`);
  out.log(`admin API token: ${tokenFile} (send Authorization: Bearer <token>)`);
  out.log(`localmesh ready ${admin.url}`);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      if (++signals === 1) return resolve();
      // a second Ctrl-C: stop waiting for graceful shutdown; the launcher's exit hook kills the process groups
      out.err('localmesh: second signal, killing processes now');
      process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // nobody reads the output any more (`localmesh up | head`): stop cleanly, as on Ctrl-C
    void out.closed?.then(() => resolve());
  });
  out.log('localmesh: stopping sidecars and processes…');
  await admin.close();
  await mesh.close();
  fs.rmSync(stateFile, { force: true });
  fs.rmSync(tokenFile, { force: true });
  out.log('localmesh: stopped');
  return 0;
}

/**
 * The running mesh's admin API: from --admin-url, or admin.json in the state dir; the token from the environment or
 * the state dir. An admin.json whose mesh is gone (killed with kill -9, so it could not remove it) is LM104, as no
 * admin.json is, not an unreachable API.
 */
async function connect(values: {
  config?: string;
  'state-dir'?: string;
  'admin-url'?: string;
}): Promise<{ api: MeshApi; url: string }> {
  const tokenPath = path.join(path.dirname(stateFileFor(values)), 'admin-token');
  const token = () =>
    process.env.LOCALMESH_ADMIN_TOKEN ||
    (fs.existsSync(tokenPath) ? fs.readFileSync(tokenPath, 'utf8').trim() : undefined);
  if (values['admin-url'] !== undefined) {
    const url = adminUrlArg(values['admin-url']);
    return { api: createHttpMeshApi(url, { token: token() }), url };
  }
  const stateFile = stateFileFor(values);
  // with --state-dir alone the mesh file plays no part: name the state dir
  const forWhat =
    values.config === undefined && values['state-dir'] !== undefined
      ? `in ${path.dirname(stateFile)}`
      : `for ${meshPath(values.config)}`;
  if (!fs.existsSync(stateFile)) {
    requireMeshFile(values); // no mesh file at all says so (LM001) rather than "no running mesh"
    throw new MeshError(
      ErrorCodes.NOT_RUNNING,
      `no running mesh found ${forWhat} (no ${stateFile}); start one with "localmesh up" or pass --admin-url`
    );
  }
  const stale = (why: string) =>
    new MeshError(
      ErrorCodes.NOT_RUNNING,
      `no running mesh found ${forWhat}: ${stateFile} is stale (${why}); start one with "localmesh up" or pass --admin-url`
    );
  let state: { url?: unknown; pid?: unknown };
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as typeof state;
  } catch (e) {
    throw stale(`it cannot be read: ${(e as Error).message.replace(/\s+/g, ' ')}`);
  }
  if (typeof state?.url !== 'string') throw stale('it names no admin URL');
  const url = state.url;
  if (Number.isInteger(state.pid) && (state.pid as number) > 0 && !processExists(state.pid as number))
    throw stale(`the mesh that wrote it, pid ${state.pid}, is not running`);
  const api = createHttpMeshApi(url, { token: token() });
  // the pid may have been reused by another process: nothing listening at the URL says the same
  try {
    await api.health();
  } catch (e) {
    if (connectionRefused(e)) throw stale(`nothing listens at ${url}: the mesh that wrote it is not running`);
    throw e;
  }
  return { api, url };
}

const CONNECT_OPTIONS = {
  config: { type: 'string', short: 'c' },
  'state-dir': { type: 'string' },
  'admin-url': { type: 'string' },
  json: { type: 'boolean' }
} as const;

async function status(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({ args, options: CONNECT_OPTIONS, strict: true });
  const { api, url } = await connect(values);
  const [health, workloads, config] = await Promise.all([api.health(), api.listWorkloads(), api.getConfig()]);
  if (values.json) {
    out.log(
      JSON.stringify(
        {
          admin: url,
          health,
          config: { version: config.version, lastReload: config.lastReload, issues: config.issues },
          workloads
        },
        null,
        2
      )
    );
    return 0;
  }
  out.log(
    `mesh ${config.meshFile} at ${url}: config version ${config.version}, ${config.resources.length} Istio resource(s), up ${Math.round(health.uptimeMs / 1000)} s`
  );
  const lr = config.lastReload;
  out.log(`last reload: ${lr.ok ? 'ok' : 'REJECTED'} at ${lr.at}${lr.error ? ` — ${lr.error}` : ''}`);
  for (const i of lr.issues.filter((x) => x.severity !== 'info')) out.log('  ' + formatIssue(i));
  out.log('');
  out.log(workloadTable(workloads));
  const procs = workloads.flatMap((w) =>
    w.processes.map(
      (p) =>
        `${w.name} ${p.instance}: ${p.state}${p.pid ? ` pid ${p.pid}` : ''}${p.restarts ? `, ${p.restarts} restart(s)` : ''}`
    )
  );
  if (procs.length) out.log('\nprocesses:\n  ' + procs.join('\n  '));
  return 0;
}

/**
 * `localmesh replay <flow-id | file.har>`: resend a captured request through the caller's sidecar (optionally edited),
 * or every request of a HAR file (imported first as a read-only session, so each replay links to its original; the
 * same file again reuses that session while it is stored).
 */
async function replayCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...CONNECT_OPTIONS,
      as: { type: 'string' },
      method: { type: 'string', short: 'X' },
      path: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      data: { type: 'string', short: 'd' },
      'data-file': { type: 'string' }
    },
    allowPositionals: true,
    strict: true
  });
  if (positionals.length !== 1) throw new UsageError('replay takes one flow id or one HAR file');
  const target = positionals[0]!;
  const edit: ReplayEdit = {};
  if (values.method) edit.method = values.method.toUpperCase();
  if (values.path) edit.path = values.path;
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new UsageError(`--header needs "name: value" (or "name:" to remove it), got "${h}"`);
    const value = h.slice(colon + 1).trim();
    (edit.headers ??= {})[h.slice(0, colon).trim().toLowerCase()] = value === '' ? null : value;
  }
  if (values.data !== undefined && values['data-file'] !== undefined)
    throw new UsageError('give --data or --data-file, not both');
  if (values.data !== undefined) edit.body = values.data;
  if (values['data-file'] !== undefined) {
    try {
      edit.body = fs.readFileSync(values['data-file']).toString('base64');
    } catch (e) {
      throw new MeshError(ErrorCodes.BAD_REQUEST, `--data-file ${values['data-file']}: ${(e as Error).message}`);
    }
    edit.bodyEncoding = 'base64';
  }
  const { api } = await connect(values);

  let ids: string[];
  const isFile = /\.(har|json)$/i.test(target) || fs.existsSync(target);
  if (isFile) {
    let har: unknown;
    try {
      har = JSON.parse(fs.readFileSync(target, 'utf8'));
    } catch (e) {
      throw new MeshError(ErrorCodes.BAD_REQUEST, `${target}: not a readable JSON file: ${(e as Error).message}`);
    }
    // the same file replayed again reuses its import (imported sessions are kept whatever the retention)
    const known = new Set((await api.listSessions()).map((s) => s.id));
    const session = await api.importHar({ har: har as Har, label: path.basename(target), reuse: true });
    ids = (await api.listFlows({ session: session.id, limit: 100_000 })).map((f) => f.id);
    // a note, not the output: with --json, stdout carries only the JSON
    (values.json ? out.err : out.log)(
      known.has(session.id)
        ? `${target} was imported before as session ${session.id}: replaying its ${ids.length} request(s)`
        : `imported ${ids.length} request(s) from ${target} as session ${session.id}`
    );
  } else ids = [target];

  const results: { original: string; flow?: FlowRecord; error?: string }[] = [];
  for (const id of ids) {
    try {
      const flow = await api.replayFlow({ id, as: values.as, edit: Object.keys(edit).length ? edit : undefined });
      results.push({ original: id, flow });
      if (!values.json)
        out.log(
          `${id} → ${flow.id}  ${flow.method} ${flow.authority}${flow.path}  ${flow.status} ${flow.flags}  ${flow.durationMs.toFixed(1)} ms${flow.source ? `  as ${flow.source}` : ''}`
        );
    } catch (e) {
      const error = isMeshError(e) ? `${e.code}: ${e.message}` : (e as Error).message;
      results.push({ original: id, error });
      if (!values.json) out.err(`${id}: replay failed: ${error}`);
    }
  }
  if (values.json) out.log(JSON.stringify(results, null, 2));
  return results.some((r) => r.error) ? 1 : 0;
}

/** `localmesh ca`: show the mesh CA, export its root for your own TLS clients, or rotate it. */
async function caCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'state-dir': { type: 'string' },
      out: { type: 'string', short: 'o' },
      rsa: { type: 'boolean' }
    },
    allowPositionals: true,
    strict: true
  });
  const sub = positionals[0] ?? 'show';
  if (!['show', 'export', 'rotate'].includes(sub))
    throw new UsageError(`unknown ca command "${sub}" (show, export, rotate)`);
  // the CA lives in the state dir beside the mesh file: a mesh file that is not there is LM001, and nothing is created
  const dir = stateDirOf(requireMeshFile(values), values['state-dir']);
  if (sub === 'rotate') {
    const ca = await MeshCa.create(dir, values.rsa ? 'rsa' : 'ec');
    const i = ca.info();
    out.log(
      `new mesh CA ${i.fingerprint256} (${i.keyAlgorithm}), valid until ${i.validTo}; restart "localmesh up" to issue workload certificates from it`
    );
    return 0;
  }
  const ca = await MeshCa.loadOrCreate(dir, values.rsa ? 'rsa' : 'ec');
  if (sub === 'export') {
    if (values.out) {
      try {
        fs.writeFileSync(values.out, ca.root.cert);
      } catch (e) {
        throw new MeshError(ErrorCodes.BAD_REQUEST, `--out ${values.out}: ${(e as Error).message}`);
      }
      out.log(`wrote the mesh CA root certificate to ${values.out}`);
    } else out.log(ca.root.cert.trimEnd());
    return 0;
  }
  const i = ca.info();
  out.log(`mesh CA: ${i.subject.replace(/\n/g, ', ')}`);
  out.log(`  key:          ${i.keyAlgorithm === 'ec' ? 'EC P-256' : 'RSA 2048'}`);
  out.log(`  valid:        ${i.validFrom} → ${i.validTo}`);
  out.log(`  SHA-256:      ${i.fingerprint256}`);
  out.log(`  certificate:  ${i.certFile}`);
  return 0;
}

function stateFileFor(values: { config?: string; 'state-dir'?: string }): string {
  return path.join(stateDirOf(meshPath(values.config), values['state-dir']), 'admin.json');
}

function numberArg(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0)
    throw new UsageError(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

/** A TCP port option: an integer from 0 (any free port) to 65535, checked before anything starts. */
function portArg(v: string | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim()) || Number(v) > 65535)
    throw new UsageError(`${name} must be a non-negative integer from 0 to 65535 (0 = any free port), got "${v}"`);
  return Number(v);
}

/** --admin-url: an http(s) URL with a valid port, or a usage error (not a fetch failure later). */
function adminUrlArg(v: string): string {
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw new UsageError(
      `--admin-url must be an http(s) URL with a port from 0 to 65535, as "localmesh up" prints it, got "${v}"`
    );
  return v;
}

/**
 * The mesh file of a command that only needs it to find the state dir (ca, status, replay): it must exist when it
 * was named (-c) or when it places the state dir (no --state-dir), as for validate and up (LM001); nothing is created
 * beside a mesh file that is not there.
 */
function requireMeshFile(values: { config?: string; 'state-dir'?: string }): string {
  const file = meshPath(values.config);
  if (values.config !== undefined || values['state-dir'] === undefined) checkMeshFile(file);
  return file;
}

/** LM001 (as the mesh loader words it) unless `file` is a readable file. */
function checkMeshFile(file: string): void {
  let problem: string | undefined;
  try {
    if (fs.statSync(file).isDirectory()) problem = `${file} is a folder; pass the path of localmesh.yaml`;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    problem =
      err.code === 'ENOENT' || err.code === 'ENOTDIR'
        ? `mesh file not found: ${file}; create it or pass the right path`
        : `cannot read mesh file ${file}: ${err.message}`;
  }
  if (problem) throw new MeshError(ErrorCodes.MESH_FILE_NOT_FOUND, problem, { where: { file, line: 1, column: 1 } });
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether an error (or one of its causes) is a refused TCP connection: nothing listens at that address. */
function connectionRefused(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++)
    if ((c as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  return false;
}

/** The built renderer (npm run build:renderer), built here first when a source checkout has not built it yet. */
function uiDir(out: Out): string {
  const root = path.resolve(import.meta.dirname, '../..');
  const dir = path.join(root, 'out/renderer');
  const built = () => fs.existsSync(path.join(dir, 'index.html'));
  const vite = path.join(root, 'node_modules/vite/bin/vite.js');
  if (!built() && fs.existsSync(vite) && fs.existsSync(path.join(root, 'renderer/vite.config.ts'))) {
    out.err('localmesh: the browser UI is not built yet; building it (npm run build:renderer, a few seconds)…');
    // vite's own output goes to stderr: stdout carries the lines scripts read (UI:, localmesh ready)
    const r = spawnSync(
      process.execPath,
      [vite, 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'],
      {
        cwd: root,
        stdio: ['ignore', process.stderr, process.stderr],
        timeout: 300_000
      }
    );
    if (r.status !== 0) out.err(`localmesh: building the UI failed (exit ${r.status ?? r.signal})`);
  }
  if (!built()) {
    throw new MeshError(
      ErrorCodes.UI_NOT_BUILT,
      `the UI is not built (${dir} has no index.html); run "npm run build:renderer" first (npm start does it for you)`
    );
  }
  return dir;
}
