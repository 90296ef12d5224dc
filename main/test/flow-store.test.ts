import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { openSqliteStore } from '../engine/capture/flow-store.js';
import { flow } from './helpers/flow.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lm-store-'));

describe('SQLite flow store', () => {
  it('keeps flows across a restart, with bodies on get and without on list; keyset pagination', () => {
    const dir = tmp();
    const a = openSqliteStore(dir);
    expect(a.kind).toBe('sqlite');
    for (let i = 1; i <= 5; i++) a.append(flow(i));
    a.close();
    const b = openSqliteStore(dir);
    expect(b.count()).toBe(5);
    const last2 = b.list({ limit: 2 });
    expect(last2.map((f) => f.id)).toEqual(['f-4', 'f-5']);
    expect(last2[0]!.responseBody).toBeUndefined();
    expect(b.list({ limit: 2, before: 'f-4' }).map((f) => f.id)).toEqual(['f-2', 'f-3']);
    expect(b.get('f-3')?.responseBody?.data).toBe('{"n":3}');
    expect(b.get('f-3')?.trace).toEqual([{ step: 'route', detail: 'default route' }]);
    b.clear();
    expect(b.count()).toBe(0);
    b.close();
  });

  it('retention by count keeps the newest flows', () => {
    const s = openSqliteStore(tmp(), { maxFlows: 10 });
    for (let i = 1; i <= 25; i++) s.append(flow(i));
    expect(s.count()).toBe(10);
    expect(s.list({ limit: 100 })[0]!.id).toBe('f-16');
    s.close();
  });

  it('migrates an empty database to the current schema, refuses one from a newer localmesh', () => {
    const dir = tmp();
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    new Sqlite(path.join(dir, 'flows.db')).close(); // an empty file at version 0
    const s = openSqliteStore(dir);
    s.append(flow(1));
    s.close();
    const db = new Sqlite(path.join(dir, 'flows.db'));
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.pragma('user_version = 99');
    db.close();
    expect(() => openSqliteStore(dir)).toThrow(/schema version 99, newer than this localmesh/);
  });

  it('kill -9: flows appended more than a second before the crash are on disk', async () => {
    const dir = tmp();
    const script = `
      import { openSqliteStore } from ${JSON.stringify(path.resolve(import.meta.dirname, '../engine/capture/flow-store.ts'))};
      import { flow } from ${JSON.stringify(path.resolve(import.meta.dirname, 'helpers/flow.ts'))};
      const s = openSqliteStore(${JSON.stringify(dir)});
      for (let i = 1; i <= 50; i++) s.append(flow(i));
      setTimeout(() => { process.stdout.write('appended\\n'); setInterval(() => {}, 1000); }, 1100);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: path.resolve(import.meta.dirname, '../..') });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('appended') && resolve());
      child.once('exit', (c) => reject(new Error(`child exited early (${c})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const s = openSqliteStore(dir);
    expect(s.count()).toBe(50);
    s.close();
  });
});

describe('the engine keeps flows across restarts', () => {
  it('flows captured by one run are listed by the next, bodies included', async () => {
    const { startMesh, stub, meshYaml, viaProxy } = await import('./helpers/harness.js');
    const { createMesh } = await import('../engine/mesh.js');
    const [a, b] = await Promise.all([stub('a'), stub('b')]);
    const first = await startMesh({ meshYaml: meshYaml({ a: { workloads: [{ name: 'a-v1', instances: [a.address] }] }, b: { workloads: [{ name: 'b-v1', instances: [b.address] }] } }) });
    await viaProxy(first.outbound('a-v1'), 'b:9080', '/kept', { headers: { 'x-request-id': 'kept-1' } });
    await first.mesh.close();
    const again = await createMesh(first.file, { watch: false });
    try {
      const kept = (await again.listFlows({ limit: 10 })).filter((f) => f.requestId === 'kept-1');
      expect(kept.map((f) => f.reporter).sort()).toEqual(['destination', 'source']);
      expect((await again.getFlow({ id: kept[0]!.id })).responseBody?.data).toContain('"stub":"b"');
    } finally {
      await again.close();
      await Promise.all([a.close(), b.close()]);
      fs.rmSync(first.dir, { recursive: true, force: true });
    }
  });
});
