/**
 * e2e fixtures (Bruno style): one temp bookinfo mesh per test, served by the real `localmesh up --ui`, and a page
 * that has opened the UI with the admin token and waited for `[data-testid=app][data-ready=true]`.
 *
 * The mesh: resources/examples/bookinfo copied to a temp folder (its istio/ folder included, since the Rules specs
 * write Istio files), every app instance moved to a free port, no `portBase` (sidecars on ephemeral ports), the
 * apps' `run.cwd` pointing back at the example's service folders. `--admin-port 0` and a temp `--state-dir`.
 * Teardown: SIGTERM, SIGKILL after 10 s, then SIGKILL to any process group of a launched app still alive, and the
 * temp folders removed.
 *
 * Rules kept: only 127.0.0.1, no fixed sleeps (every wait is for an output line or a polled condition, bounded).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect } from '@playwright/test';
import { appPorts, groupAlive, request, type Reply } from '../main/test/helpers/processes.js';
import { AppPage } from './pages/app-page.js';
import { QuickActionDialog } from './pages/quick-action-dialog.js';
import { RulesPage } from './pages/rules-page.js';
import { SecurityPage } from './pages/security-page.js';
import { ServicesPage } from './pages/services-page.js';
import { TrafficPage } from './pages/traffic-page.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'main', 'cli', 'bin.js');
const BOOKINFO = path.join(ROOT, 'resources', 'examples', 'bookinfo');

/** The six bookinfo workloads, in mesh-file order. */
export const BOOKINFO_WORKLOADS = [
  'productpage-v1',
  'details-v1',
  'reviews-v1',
  'reviews-v2',
  'reviews-v3',
  'ratings-v1'
] as const;

const STARTUP_TIMEOUT_MS = 30_000;
const SERVICES_TIMEOUT_MS = 20_000;
const KILL_GRACE_MS = 10_000;

/** What a plaintext request straight to an inbound sidecar got: an HTTP answer, or the connection closed first. */
export type PlainReply = { refused: false; status: number; body: string } | { refused: true };

/** The part of GET /api/v1/workloads the tests use. */
export interface Workload {
  name: string;
  service: string;
  outbound: { host: string; port: number } | null;
  instances: { address: string; inbound: { host: string; port: number } | null }[];
  processes: { instance: string; state: string; pid: number | null }[];
}

export interface Mesh {
  /** Admin API base, e.g. http://127.0.0.1:40123 (no trailing slash). */
  adminUrl: string;
  /** The URL `up --ui` printed, token included: opening it once sets the session cookie. */
  uiUrl: string;
  token: string;
  /** The temp folder holding localmesh.yaml and istio/. */
  meshDir: string;
  meshFile: string;
  /** fetch on the admin API with `Authorization: Bearer <token>`; `apiPath` starts with /api/. */
  api(apiPath: string, init?: RequestInit): Promise<Response>;
  /** `api` + status check + JSON parse (throws with the body on a non-2xx answer). */
  json<T>(apiPath: string, init?: RequestInit): Promise<T>;
  workloads(): Promise<Workload[]>;
  /** Port of the workload's outbound sidecar (its HTTP_PROXY). */
  outbound(workload: string): Promise<number>;
  /** One HTTP request through `fromWorkload`'s outbound sidecar, used as an HTTP proxy (absolute `url`). */
  send(fromWorkload: string, url: string, headers?: Record<string, string>): Promise<Reply>;
  /**
   * One plaintext HTTP request straight to `workload`'s INBOUND sidecar port (instances[0].inbound), as a caller
   * without a sidecar would send it. `{ refused: true }` when the sidecar closes the connection without an HTTP
   * response (STRICT mTLS); any other failure (nothing listening, a timeout, a broken response) rejects.
   */
  plainRequest(workload: string, path: string): Promise<PlainReply>;
  /** Everything the CLI printed so far (stdout and stderr). */
  log(): string;
  /** Stop `localmesh up` (SIGTERM) and start it again on the same mesh file and state dir; adminUrl, uiUrl and
   * token change (a new admin port and token), the helpers follow. */
  restart(): Promise<void>;
}

export interface Fixtures {
  mesh: Mesh;
  app: AppPage;
  services: ServicesPage;
  rules: RulesPage;
  traffic: TrafficPage;
  security: SecurityPage;
  dialog: QuickActionDialog;
}

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

/** A port that was free a moment ago (127.0.0.1). */
/** Poll `fn` until it returns a truthy value; bounded by `timeoutMs` (the poll interval is not an assertion). */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${String(last)}` : ''}`
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A plaintext request on a fresh connection; a connection closed (reset) before any response is `refused`. */
function plainRequest(host: string, port: number, target: string): Promise<PlainReply> {
  return new Promise((resolve, reject) => {
    let responded = false;
    const req = http.request({ host, port, path: target, agent: false }, (res) => {
      responded = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ refused: false, status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`plaintext request ${target} to ${host}:${port} timed out`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // "socket hang up" / reset: the peer accepted the connection and closed it without answering
      if (!responded && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) resolve({ refused: true });
      else reject(e);
    });
    req.end();
  });
}

/**
 * The bookinfo project in `dir`: localmesh.yaml with free instance ports, no portBase, `run.cwd` back at the
 * example's service folders; istio/ copied (the mesh file keeps `istio: [./istio]`, now the copy).
 */
async function writeBookinfoProject(dir: string): Promise<string> {
  fs.cpSync(path.join(BOOKINFO, 'istio'), path.join(dir, 'istio'), { recursive: true });
  let text = fs.readFileSync(path.join(BOOKINFO, 'localmesh.yaml'), 'utf8');
  const addresses = [...text.matchAll(/127\.0\.0\.1:(\d{4,5})/g)].map((m) => m[0]);
  if (addresses.length !== BOOKINFO_WORKLOADS.length) {
    throw new Error(
      `expected ${BOOKINFO_WORKLOADS.length} instance addresses in bookinfo/localmesh.yaml, found ${addresses.length}`
    );
  }
  const ports = await appPorts(addresses.length);
  addresses.forEach((addr, i) => (text = text.replace(addr, `127.0.0.1:${ports[i]}`)));
  text = text.replace(/^\s*portBase:.*\n/m, '');
  text = text.replace(/cwd: \.\/([\w-]+)/g, (_m, d: string) => `cwd: ${JSON.stringify(path.join(BOOKINFO, d))}`);
  if (/portBase|cwd: \.\//.test(text) || !/istio: \[\.\/istio\]/.test(text)) {
    throw new Error(`could not rewrite bookinfo/localmesh.yaml for a temp project:\n${text}`);
  }
  const file = path.join(dir, 'localmesh.yaml');
  fs.writeFileSync(file, text);
  return file;
}

/** The `localmesh up` child: collects output, waits for lines, stops with SIGTERM then SIGKILL. */
class MeshProcess {
  readonly child: ChildProcess;
  output = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  private waiters = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    const collect = (d: string): void => {
      this.output += d;
      for (const w of [...this.waiters]) w();
    };
    this.child.stdout!.setEncoding('utf8').on('data', collect);
    this.child.stderr!.setEncoding('utf8').on('data', collect);
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal };
        for (const w of [...this.waiters]) w();
        resolve();
      });
    });
  }

  /** Wait for `re` in the output (bounded); fails at once when the process exits first. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = this.output.match(re);
        if (m) return finish(() => resolve(m));
        if (this.exit) {
          finish(() =>
            reject(
              new Error(`localmesh up exited (${JSON.stringify(this.exit)}) before printing ${re}\n${this.output}`)
            )
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() => reject(new Error(`localmesh up did not print ${re} within ${timeoutMs} ms\n${this.output}`))),
        timeoutMs
      );
      const finish = (then: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        then();
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
    await this.exited;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------------------------------

export const test = base.extend<Fixtures>({
  mesh: async ({}, use, testInfo) => {
    const meshDir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-e2e-'));
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-e2e-state-'));
    const groups = new Set<number>();
    let proc: MeshProcess | undefined;
    try {
      const meshFile = await writeBookinfoProject(meshDir);
      // `up --ui` on this project and state dir; restart() runs it again on the same state dir (a new admin port)
      let adminUrl = '';
      let uiUrl = '';
      let token = '';
      const start = async (): Promise<MeshProcess> => {
        const p = new MeshProcess(['up', '--ui', '-c', meshFile, '--admin-port', '0', '--state-dir', stateDir]);
        proc = p;
        const [uiLine, ready] = await Promise.all([
          p.waitFor(/^UI: (\S+)$/m, STARTUP_TIMEOUT_MS),
          p.waitFor(/^localmesh ready (http:\/\/127\.0\.0\.1:\d+)$/m, STARTUP_TIMEOUT_MS)
        ]);
        uiUrl = uiLine[1]!;
        adminUrl = ready[1]!.replace(/\/$/, '');
        const tokenFile = path.join(stateDir, 'admin-token');
        token = fs.existsSync(tokenFile)
          ? fs.readFileSync(tokenFile, 'utf8').trim()
          : (new URL(uiUrl).searchParams.get('token') ?? '');
        if (!token) {
          throw new Error(
            `no admin token: neither ${tokenFile} nor "?token=" in the printed UI URL (${uiUrl}); browser-mode auth is missing\n${p.output}`
          );
        }
        return p;
      };
      let p = await start();

      const api = (apiPath: string, init: RequestInit = {}): Promise<Response> => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${token}`);
        if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
        return fetch(adminUrl + apiPath, { ...init, headers });
      };
      const json = async <T>(apiPath: string, init?: RequestInit): Promise<T> => {
        const res = await api(apiPath, init);
        const text = await res.text();
        if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${apiPath}: HTTP ${res.status}: ${text}`);
        return (text ? JSON.parse(text) : undefined) as T;
      };
      const workloads = (): Promise<Workload[]> => json<Workload[]>('/api/v1/workloads');
      const outbound = async (name: string): Promise<number> => {
        const w = (await workloads()).find((x) => x.name === name);
        if (!w) throw new Error(`no workload "${name}" in the mesh`);
        if (!w.outbound) throw new Error(`workload "${name}" has no outbound sidecar`);
        return w.outbound.port;
      };
      const send = async (from: string, url: string, headers: Record<string, string> = {}): Promise<Reply> =>
        request(await outbound(from), url, headers);
      const plain = async (name: string, apiPath: string): Promise<PlainReply> => {
        const w = (await workloads()).find((x) => x.name === name);
        if (!w) throw new Error(`no workload "${name}" in the mesh`);
        const inbound = w.instances[0]?.inbound;
        if (!inbound) throw new Error(`workload "${name}" has no inbound sidecar on its first instance`);
        return plainRequest(inbound.host, inbound.port, apiPath);
      };

      /** Wait until the six apps run and answer, directly and through the sidecars. */
      const ready = async (): Promise<void> => {
        // the launched apps: all six running and answering, then the whole path through the sidecars
        const ws = await until(
          'the six bookinfo processes to run',
          async () => {
            const list = await workloads();
            const ok =
              BOOKINFO_WORKLOADS.every((n) => list.some((w) => w.name === n)) &&
              list.every((w) => w.processes.length > 0 && w.processes.every((x) => x.state === 'running'));
            return ok ? list : undefined;
          },
          SERVICES_TIMEOUT_MS
        );
        for (const w of ws) for (const x of w.processes) if (x.pid) groups.add(x.pid);
        // each app on its own address (not through a sidecar, so no flow is recorded)
        await Promise.all(
          ws.flatMap((w) =>
            w.instances.map((i) =>
              until(
                `${w.name} to answer /health on ${i.address}`,
                async () => (await request(Number(i.address.split(':')[1]), '/health')).status === 200,
                SERVICES_TIMEOUT_MS
              )
            )
          )
        );
        // through the outbound sidecars, as the specs will send
        const probes: [string, string, Record<string, string>][] = [
          ['productpage-v1', 'http://productpage:9080/health', {}],
          ['productpage-v1', 'http://details:9080/health', {}],
          ['productpage-v1', 'http://reviews:9080/health', {}],
          ['reviews-v2', 'http://ratings:9080/health', {}]
        ];
        for (const [from, url, headers] of probes) {
          await until(
            `${url} to answer 200 through ${from}'s sidecar`,
            async () => (await send(from, url, headers)).status === 200,
            SERVICES_TIMEOUT_MS
          );
        }
      };
      await ready();
      const restart = async (): Promise<void> => {
        await p.stop();
        p = await start();
        await ready();
      };

      // start every test with an empty Traffic list
      const cleared = await api('/api/v1/flows/clear', { method: 'POST' });
      if (!cleared.ok) throw new Error(`POST /api/v1/flows/clear: HTTP ${cleared.status}: ${await cleared.text()}`);

      await use({
        get adminUrl() {
          return adminUrl;
        },
        get uiUrl() {
          return uiUrl;
        },
        get token() {
          return token;
        },
        restart,
        meshDir,
        meshFile,
        api,
        json,
        workloads,
        outbound,
        send,
        plainRequest: plain,
        log: () => p.output
      });
    } finally {
      await proc?.stop();
      for (const g of groups) {
        if (!groupAlive(g)) continue;
        try {
          process.kill(-g, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
      if (proc && testInfo.status !== testInfo.expectedStatus) {
        await testInfo.attach('localmesh-up.log', { body: proc.output, contentType: 'text/plain' });
      }
      fs.rmSync(meshDir, { recursive: true, force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  },

  page: async ({ page, mesh }, use, testInfo) => {
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await new AppPage(page).open(mesh.uiUrl);
    await use(page);
    if (consoleErrors.length > 0 && testInfo.status !== testInfo.expectedStatus) {
      await testInfo.attach('browser-console-errors.txt', {
        body: consoleErrors.join('\n'),
        contentType: 'text/plain'
      });
    }
  },

  app: async ({ page }, use) => use(new AppPage(page)),
  services: async ({ page }, use) => use(new ServicesPage(page)),
  rules: async ({ page }, use) => use(new RulesPage(page)),
  traffic: async ({ page }, use) => use(new TrafficPage(page)),
  security: async ({ page }, use) => use(new SecurityPage(page)),
  dialog: async ({ page }, use) => use(new QuickActionDialog(page))
});

export { expect };
