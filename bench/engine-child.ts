/**
 * The localmesh engine in a process of its own, so the benchmark can read its CPU time and memory from outside.
 *   serve <meshFile> <stateDir> <sqlite|memory>   start the mesh as `localmesh up` does (watching files), report the
 *                                                  listener ports, run until told to close
 *   startup <n> <dir>                              time createMesh for a fresh mesh of n services, report, exit
 *   store <n> <dir>                                append n flows to the SQLite flow store, flush, report, exit
 */
import crypto from 'node:crypto';
import type { FlowRecord } from '../main/contract/api.js';
import { createMesh, type Mesh } from '../main/engine/mesh.js';
import { openSqliteStore } from '../main/engine/capture/flow-store.js';
import { writeStartupProject } from './paths.js';

const send = (m: object) =>
  new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

async function serve(meshFile: string, stateDir: string, store: 'sqlite' | 'memory'): Promise<void> {
  const t0 = performance.now();
  const mesh: Mesh = await createMesh(meshFile, { stateDir, store, launch: false, seed: 1, watch: true });
  const startMs = performance.now() - t0;
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await mesh.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'close') void close();
    else if (m?.type === 'flows')
      void mesh
        .listFlows({ limit: 5 })
        .then((f) => send({ type: 'flows', count: f.length, version: mesh.snapshot.version }));
  });
  process.on('disconnect', () => void close());
  await send({ type: 'ready', startMs, listeners: Object.fromEntries(mesh.listeners()) });
}

async function startup(n: number, dir: string): Promise<void> {
  const file = writeStartupProject(dir, n);
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const mesh = await createMesh(file, { stateDir: `${dir}/.localmesh`, launch: false, seed: 1, watch: true });
  const ms = performance.now() - t0;
  const rssAfter = process.memoryUsage().rss;
  const listeners = mesh.listeners().size;
  await mesh.close();
  await send({ type: 'startup', n, ms, listeners, rssBeforeMb: rssBefore / 2 ** 20, rssMb: rssAfter / 2 ** 20 });
}

function syntheticFlow(i: number, response: string): FlowRecord {
  const id = crypto.randomUUID();
  return {
    id,
    requestId: crypto.randomUUID(),
    reporter: i % 2 ? 'destination' : 'source',
    source: 'client-v1',
    destination: 'api-v1',
    destinationService: 'api.default.svc.cluster.local',
    method: 'GET',
    authority: 'api:9080',
    path: `/bench/items/${i}`,
    status: 200,
    flags: '-',
    durationMs: 0.4,
    startedAt: new Date().toISOString(),
    virtualService: null,
    rule: null,
    subset: null,
    endpoint: '127.0.0.1:9080',
    attempts: 1,
    attemptLog: [{ attempt: 1, endpoint: '127.0.0.1:9080', status: 200, flags: '-', durationMs: 0.3 }],
    localReply: null,
    trace: [
      { step: 'route', detail: 'default route to api.default.svc.cluster.local' },
      { step: 'endpoint', detail: '127.0.0.1:9080 (LEAST_REQUEST)' }
    ],
    configVersion: 1,
    requestHeaders: { host: 'api:9080', 'user-agent': 'bench', accept: '*/*', 'x-request-id': id },
    responseHeaders: { 'content-type': 'application/json', 'content-length': String(response.length), server: 'envoy' },
    connectionSecurity: 'mutual_tls',
    requestBody: null,
    responseBody: { encoding: 'utf8', data: response, size: response.length, truncated: false }
  };
}

async function store(n: number, dir: string): Promise<void> {
  const response = JSON.stringify({ ok: true, pad: 'x'.repeat(1000) });
  const flows = Array.from({ length: n }, (_, i) => syntheticFlow(i, response));
  const s = openSqliteStore(dir, {}, () => undefined);
  const before = s.count();
  const t0 = performance.now();
  for (const f of flows) s.append(f);
  const appendMs = performance.now() - t0;
  s.flush();
  const totalMs = performance.now() - t0;
  const count = s.count() - before;
  s.close();
  await send({ type: 'store', n, appendMs, totalMs, count, kind: s.kind });
}

async function main(): Promise<void> {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === 'serve') await serve(a!, b!, c === 'memory' ? 'memory' : 'sqlite');
  else if (mode === 'startup') await startup(Number(a), b!);
  else if (mode === 'store') await store(Number(a), b!);
  else throw new Error(`unknown mode ${mode}`);
  if (mode !== 'serve') process.exit(0);
}

main().catch((e: Error) => {
  void send({ type: 'error', message: e.stack ?? e.message }).finally(() => process.exit(1));
});
