// The engine host for real, without Electron: engine-host.ts runs in a child process forked by plain Node (through
// tsx), exactly the code utilityProcess.fork runs in the app; the main side is engine-process.ts. The mesh proxies to
// a stub app on an ephemeral port, and the admin API is called the way main calls it (HTTP client + bearer token).
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpMeshApi } from '../contract/http-client.js';
import { meshYaml, request, stub, viaProxy, writeProject, type Stub } from '../test/helpers/harness.js';
import { startEngine, type EngineHandle, type HostChild } from './engine-process.js';

const HOST = path.join(import.meta.dirname, 'engine-host.ts');
const BROKEN = path.resolve(import.meta.dirname, '../test/fixtures/broken-mesh/localmesh.yaml');

interface Forked extends HostChild {
  child: ChildProcess;
  stderr: string[];
}

const children: ChildProcess[] = [];

function nodeFork(): Forked {
  const child = fork(HOST, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  children.push(child);
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  return {
    child,
    stderr,
    send: (m) => void child.send(m),
    onMessage: (l) => void child.on('message', l),
    onExit: (l) => void child.on('exit', (code) => l(code)),
    kill: () => void child.kill()
  };
}

/** Main's client: the HTTP MeshApi with the engine's bearer token (also sent on the event stream). */
function clientFor(engine: EngineHandle) {
  return createHttpMeshApi(engine.url, { token: engine.token });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));
}

describe('engine host process', () => {
  let app: Stub;
  let project: { dir: string; file: string };
  const logs: string[] = [];

  beforeEach(async () => {
    app = await stub('orders');
    project = writeProject({
      meshYaml: meshYaml({ orders: { workloads: [{ name: 'orders-v1', instances: [app.address] }] } })
    });
    logs.length = 0;
  });

  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    await app.close();
    fs.rmSync(project.dir, { recursive: true, force: true });
  });

  it('starts the mesh behind a token-gated admin API, serves MeshApi, and stops cleanly', async () => {
    let forked: Forked | undefined;
    const crashes: unknown[] = [];
    const engine = await startEngine({
      fork: () => (forked = nodeFork()),
      meshFile: project.file,
      token: 'test-token-123',
      log: (l) => logs.push(l),
      onCrash: (info) => crashes.push(info)
    });
    expect(engine.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // The token is required.
    const anonymous = await fetch(`${engine.url}/api/v1/health`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('LM204');

    const api = clientFor(engine);
    expect(await api.health()).toMatchObject({ status: 'ok', workloads: 1 });
    const [orders] = await api.listWorkloads();
    expect(orders?.name).toBe('orders-v1');

    // The mesh really proxies, and the flow shows up through the api.
    const reply = await viaProxy(orders!.outbound!.port, 'orders:9080', '/hello');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ stub: 'orders' });
    await expect(api.listFlows()).resolves.toEqual(
      expect.arrayContaining([expect.objectContaining({ path: '/hello' })])
    );

    await engine.stop();
    await engine.stop(); // twice is fine
    await exited(forked!.child);
    expect(crashes).toEqual([]);
    // The sidecar's port is closed with the engine.
    await expect(request(orders!.outbound!.port, '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('rejects with the engine error code when the mesh file is invalid, and ends the host', async () => {
    let forked: Forked | undefined;
    const start = startEngine({
      fork: () => (forked = nodeFork()),
      meshFile: BROKEN,
      token: 't',
      log: (l) => logs.push(l),
      onCrash: () => undefined
    });
    await expect(start).rejects.toMatchObject({ name: 'MeshError', code: expect.stringMatching(/^LM00\d$/) });
    await exited(forked!.child);
  });

  it('reports a crash after start (the window survives; main offers a restart)', async () => {
    let forked: Forked | undefined;
    let crashed: (info: { code: number | null }) => void = () => undefined;
    const crash = new Promise<{ code: number | null }>((r) => (crashed = r));
    await startEngine({
      fork: () => (forked = nodeFork()),
      meshFile: project.file,
      token: 't',
      log: (l) => logs.push(l),
      onCrash: (info) => crashed(info)
    });
    forked!.child.kill('SIGKILL');
    await expect(crash).resolves.toEqual({ code: null });
  });

  it('closes the mesh by itself when its parent disconnects', async () => {
    let forked: Forked | undefined;
    const engine = await startEngine({
      fork: () => (forked = nodeFork()),
      meshFile: project.file,
      token: 't',
      log: (l) => logs.push(l),
      onCrash: () => undefined
    });
    const [orders] = await clientFor(engine).listWorkloads();
    forked!.child.disconnect();
    await exited(forked!.child);
    expect(forked!.child.exitCode).toBe(0);
    await expect(request(orders!.outbound!.port, '/')).rejects.toThrow(/ECONNREFUSED/);
  });
});
