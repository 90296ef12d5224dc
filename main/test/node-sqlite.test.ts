// The desktop app's flow store, for real. Electron 41 runs Node 24 in its engine host, from an esbuild bundle with no
// node_modules beside it, so the better-sqlite3 that `npm ci` built for this Node cannot load there and the store runs
// on node:sqlite (sqlite-driver.mjs). Node 20 has no node:sqlite, so these tests run under a Node 24 binary from the
// npm registry (helpers/node24.ts): the whole store suite again with LOCALMESH_SQLITE=node:sqlite, and the engine-host
// bundle built into a folder of its own, proxying a call, stopped and started again with its history still there.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpMeshApi } from '../contract/http-client.js';
import { startEngine, type EngineHandle } from '../electron/engine-process.js';
import { meshYaml, stub, viaProxy, writeProject, type Stub } from './helpers/harness.js';
import { node24, node24Unavailable } from './helpers/node24.js';

const REPO = path.resolve(import.meta.dirname, '../..');

describe.skipIf(node24Unavailable !== undefined)(
  `under Node 24 (Electron 41's Node)${node24Unavailable ? `: skipped, ${node24Unavailable}` : ''}`,
  () => {
    let node: string;
    beforeAll(() => {
      node = node24();
    }, 120_000);

    it('the flow store suite passes on node:sqlite', async () => {
      const run = spawn(
        node,
        [
          'node_modules/vitest/vitest.mjs',
          'run',
          '--config',
          'main/test/vitest.config.ts',
          'main/test/flow-store.test.ts'
        ],
        {
          cwd: REPO,
          env: { ...process.env, LOCALMESH_SQLITE: 'node:sqlite', NO_COLOR: '1', FORCE_COLOR: '0' },
          stdio: ['ignore', 'pipe', 'pipe']
        }
      );
      let out = '';
      run.stdout.on('data', (d: Buffer) => (out += d.toString()));
      run.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((r) => run.on('close', r));
      expect(out, out).toMatch(/Tests\s+\d+ passed/);
      expect(out).not.toMatch(/failed/i);
      expect(code).toBe(0);
    }, 180_000);

    describe('the engine host bundle', () => {
      const children: ChildProcess[] = [];
      let bundleDir: string;
      let app: Stub;
      let project: { dir: string; file: string };

      beforeAll(async () => {
        // a folder outside the repo: no node_modules above it, as in the packaged app
        bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-bundle-'));
        execFileSync(process.execPath, [path.join(REPO, 'main/electron/build.mjs'), '--out-dir', bundleDir], {
          cwd: REPO,
          stdio: 'ignore'
        });
        app = await stub('orders');
        project = writeProject({
          meshYaml: meshYaml({ orders: { workloads: [{ name: 'orders-v1', instances: [app.address] }] } })
        });
      }, 60_000);

      afterAll(async () => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        await app?.close();
        fs.rmSync(bundleDir, { recursive: true, force: true });
        fs.rmSync(project.dir, { recursive: true, force: true });
      });

      async function start(logs: string[]): Promise<{ engine: EngineHandle; child: ChildProcess }> {
        let child: ChildProcess | undefined;
        const env: NodeJS.ProcessEnv = { ...process.env };
        delete env.LOCALMESH_SQLITE;
        const engine = await startEngine({
          fork: () => {
            const c = fork(path.join(bundleDir, 'electron/engine-host.cjs'), [], {
              execPath: node,
              execArgv: [],
              env,
              stdio: ['ignore', 'ignore', 'pipe', 'ipc']
            });
            c.stderr?.on('data', (d: Buffer) => logs.push(`stderr: ${d.toString()}`));
            children.push(c);
            child = c;
            return {
              send: (m) => void c.send(m),
              onMessage: (l) => void c.on('message', l),
              onExit: (l) => void c.on('exit', (code) => l(code)),
              kill: () => void c.kill()
            };
          },
          meshFile: project.file,
          token: 'bundle-token',
          log: (l) => logs.push(l),
          onCrash: (info) => logs.push(`crash: ${JSON.stringify(info)}`)
        });
        return { engine, child: child! };
      }

      const exited = (c: ChildProcess) =>
        c.exitCode !== null || c.signalCode !== null
          ? Promise.resolve()
          : new Promise<void>((r) => c.once('exit', () => r()));

      it('keeps flows in SQLite through node:sqlite, written by its writer thread, and lists them after a restart', async () => {
        const logs: string[] = [];
        const first = await start(logs);
        const api = createHttpMeshApi(first.engine.url, { token: first.engine.token });
        const [orders] = await api.listWorkloads();
        const reply = await viaProxy(orders!.outbound!.port, 'orders:9080', '/kept-on-disk');
        expect(reply.status).toBe(200);
        const before = (await api.listFlows({ text: 'kept-on-disk' })).map((f) => [f.id, f.reporter, f.sessionId]);
        expect(before).toHaveLength(2); // the caller's and the callee's sidecar
        await first.engine.stop();
        await exited(first.child);

        expect(logs.join('\n')).toContain(
          `flow store: ${path.join(project.dir, '.localmesh', 'flows.db')} (node:sqlite)`
        );
        // the writer thread started from the bundle beside the engine host and wrote every batch
        expect(logs.filter((l) => /writer thread|engine thread|failed|crash|stderr/.test(l))).toEqual([]);

        const second = await start(logs);
        const again = createHttpMeshApi(second.engine.url, { token: second.engine.token });
        expect((await again.listFlows({ text: 'kept-on-disk' })).map((f) => [f.id, f.reporter, f.sessionId])).toEqual(
          before
        );
        const sessions = await again.listSessions();
        expect(sessions.filter((s) => s.kind === 'up').map((s) => [s.current, s.flows])).toEqual([
          [false, 2],
          [true, 0]
        ]);
        await second.engine.stop();
        await exited(second.child);
      }, 60_000);
    });
  }
);
