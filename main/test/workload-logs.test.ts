/**
 * Integration: the engine keeps the recent output of the processes it launched (a ring buffer per workload), and
 * GET /api/v1/logs reads it back through the admin server, in the same order and with the same `seq` as the live
 * `log` events, so a client that reloads can join the history and the live lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_LINES_KEPT, MAX_LOG_LINE_CHARS, type LogLine, type MeshApi } from '../contract/api.js';
import { createHttpMeshApi } from '../contract/http-client.js';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { startMesh, until, type Running } from './helpers/harness.js';
import { appPorts } from './helpers/processes.js';

const TOKEN = 'workload-logs-test-token';
/** chatty prints more lines than the engine keeps, then one over the length cap, then "done". */
const PRINTED = LOG_LINES_KEPT + 205;
const LONG = 'x'.repeat(MAX_LOG_LINE_CHARS + 300);

const CHATTY = `for (let i = 1; i <= ${PRINTED}; i++) console.log('line ' + i);
console.log('x'.repeat(${LONG.length}));
console.log('done');
setInterval(() => undefined, 1 << 30);
`;
const QUIET = `console.log('quiet ready');
console.error('quiet warns');
setInterval(() => undefined, 1 << 30);
`;

let m: Running;
let admin: AdminServer;
let api: MeshApi;
const live: LogLine[] = [];

function meshFile(ports: number[]): string {
  const workload = (service: string, name: string, port: number, run?: string) => [
    `  - name: ${service}`,
    '    port: 9080',
    '    workloads:',
    `    - name: ${name}`,
    `      labels: {app: ${service}}`,
    `      instances: ["127.0.0.1:${port}"]`,
    ...(run ? ['      run:', `        command: ${run}`] : [])
  ];
  return [
    'apiVersion: localmesh.dev/v1alpha1',
    'kind: Mesh',
    'metadata: {name: logs}',
    'spec:',
    '  istio: ["./istio"]',
    '  services:',
    ...workload('chatty', 'chatty-v1', ports[0]!, 'node chatty.mjs'),
    ...workload('quiet', 'quiet-v1', ports[1]!, 'node quiet.mjs'),
    ...workload('external', 'external-v1', ports[2]!)
  ].join('\n');
}

/** GET on the admin API with the token, as curl would send it. */
async function get(p: string): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  const res = await fetch(admin.url + p, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
}

beforeAll(async () => {
  m = await startMesh({ meshYaml: meshFile(await appPorts(3)) }, { launch: false });
  fs.writeFileSync(path.join(m.dir, 'chatty.mjs'), CHATTY);
  fs.writeFileSync(path.join(m.dir, 'quiet.mjs'), QUIET);
  m.mesh.onEvent((e) => {
    if (e.type === 'log')
      live.push({ workload: e.workload, instance: e.instance, stream: e.stream, line: e.line, at: e.at, seq: e.seq });
  });
  admin = await startAdminServer(m.mesh, { token: TOKEN });
  api = createHttpMeshApi(admin.url, { token: TOKEN });
  m.mesh.launchProcesses();
  await until(async () => {
    const lines = await api.listLogs({ limit: 10_000 });
    return ['done', 'quiet ready', 'quiet warns'].every((l) => lines.some((x) => x.line === l));
  }, 'the processes to print their lines');
});
afterAll(async () => {
  await admin?.close();
  await m?.close();
});

describe('workload logs', () => {
  it('keeps the newest lines of a workload, oldest first, each with instance, stream, time and seq', async () => {
    // asked for more than it keeps: the engine has only the newest LOG_LINES_KEPT
    const lines = await api.listLogs({ workload: 'chatty-v1', limit: 10_000 });
    expect(lines).toHaveLength(LOG_LINES_KEPT);
    expect(await api.listLogs({ workload: 'chatty-v1' })).toEqual(lines);
    // PRINTED + 2 lines went out; the oldest ones were dropped
    const firstKept = PRINTED + 2 - LOG_LINES_KEPT + 1;
    expect(lines[0]!.line).toBe(`line ${firstKept}`);
    expect(lines.at(-3)!.line).toBe(`line ${PRINTED}`);
    expect(lines.at(-1)!.line).toBe('done');
    const [w] = (await m.mesh.listWorkloads()).filter((x) => x.name === 'chatty-v1');
    for (const l of lines) {
      expect(l).toMatchObject({ workload: 'chatty-v1', instance: w!.instances[0]!.address, stream: 'stdout' });
      expect(new Date(l.at).toISOString()).toBe(l.at);
    }
    for (let i = 1; i < lines.length; i++) expect(lines[i]!.seq).toBeGreaterThan(lines[i - 1]!.seq);
  });

  it('cuts a line over the cap and says how much was left out', async () => {
    const lines = await api.listLogs({ workload: 'chatty-v1', limit: 2 });
    expect(lines.map((l) => l.line)).toEqual([`${LONG.slice(0, MAX_LOG_LINE_CHARS)}… [300 more characters]`, 'done']);
  });

  it('the history is what the live events carried, same seq and time: a client joins them by seq', async () => {
    const history = await api.listLogs({ workload: 'chatty-v1', limit: 10_000 });
    const sent = live.filter((l) => l.workload === 'chatty-v1');
    expect(sent).toHaveLength(PRINTED + 2);
    expect(history).toEqual(sent.slice(-LOG_LINES_KEPT));
  });

  it('without a workload: every workload, merged by seq, the newest `limit`', async () => {
    const all = await api.listLogs({ limit: 10_000 });
    const kept = [
      ...live.filter((l) => l.workload === 'quiet-v1'),
      ...live.filter((l) => l.workload === 'chatty-v1').slice(-LOG_LINES_KEPT)
    ].sort((a, b) => a.seq - b.seq);
    expect(all).toEqual(kept);
    expect(all.filter((l) => l.workload === 'quiet-v1').map((l) => [l.stream, l.line])).toEqual(
      expect.arrayContaining([
        ['stdout', 'quiet ready'],
        ['stderr', 'quiet warns']
      ])
    );
    for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBeGreaterThan(all[i - 1]!.seq);
    const newest = await api.listLogs();
    expect(newest).toEqual(all.slice(-LOG_LINES_KEPT));
    expect(await api.listLogs({ limit: 3 })).toEqual(all.slice(-3));
  });

  it('a workload localmesh does not start has no lines; an unknown one is 404 LM202', async () => {
    expect(await api.listLogs({ workload: 'external-v1' })).toEqual([]);
    await expect(api.listLogs({ workload: 'nope-v1' })).rejects.toMatchObject({ code: 'LM202' });
    const res = await get('/api/v1/logs?workload=nope-v1');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'LM202', message: 'no workload "nope-v1" in the mesh' });
  });

  it('a limit that is not a whole number from 1 to 10000 is 400 LM201', async () => {
    for (const limit of ['0', 'abc', '10001', '2.5']) {
      const res = await get(`/api/v1/logs?workload=chatty-v1&limit=${limit}`);
      expect(res.status, `limit=${limit}`).toBe(400);
      expect(res.body.error?.code).toBe('LM201');
      expect(res.body.error?.message).toMatch(/^bad arguments for listLogs: limit: /);
    }
    const extra = await get('/api/v1/logs?workload=chatty-v1&since=1');
    expect(extra.status).toBe(400);
    expect(extra.body.error?.code).toBe('LM201');
    expect((await get('/api/v1/logs?workload=chatty-v1&limit=10000')).status).toBe(200);
  });
});
