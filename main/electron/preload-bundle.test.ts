// The preload as the sandbox runs it: bundled like build.mjs does (CJS, `electron` external), then executed in a bare
// V8 context whose only host objects are `require` (serving 'electron' alone, as a sandboxed preload's does),
// `module` and `exports`. No process, Buffer or Node module: if the bundle needed one, this would throw.
import path from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');

async function bundlePreload(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(repo, 'preload/index.ts')],
    bundle: true,
    format: 'cjs',
    platform: 'browser',
    target: 'chrome120',
    external: ['electron', 'electron/*'],
    write: false,
    logLevel: 'silent'
  });
  return result.outputFiles[0]!.text;
}

describe('preload bundle in a sandbox-like context', () => {
  it('needs nothing but electron, and exposes exactly localmesh and localmeshShell', async () => {
    const exposed: Record<string, Record<string, (...args: unknown[]) => unknown>> = {};
    const invokes: unknown[][] = [];
    type Listener = (event: unknown, payload: unknown) => void;
    const on = new Map<string, Set<Listener>>();
    const sends: unknown[][] = [];
    const deliver = (channel: string, payload: unknown) => {
      for (const l of [...(on.get(channel) ?? [])]) l({ sender: 'ipcRenderer' }, payload);
    };
    const electron = {
      contextBridge: {
        exposeInMainWorld: (key: string, value: Record<string, (...args: unknown[]) => unknown>) =>
          (exposed[key] = value)
      },
      ipcRenderer: {
        invoke: async (channel: string, ...args: unknown[]) => {
          invokes.push([channel, ...args]);
          return channel === 'localmesh:getFlow'
            ? { __meshError: { code: 'LM202', message: 'no flow f-1' } }
            : { ok: true };
        },
        on: (channel: string, listener: Listener) => void on.set(channel, (on.get(channel) ?? new Set()).add(listener)),
        off: (channel: string, listener: Listener) => void on.get(channel)?.delete(listener),
        send: (channel: string, ...args: unknown[]) => void sends.push([channel, ...args])
      }
    };
    const requested: string[] = [];
    const module = { exports: {} };
    const context = vm.createContext({
      require: (name: string) => {
        requested.push(name);
        if (name !== 'electron') throw new Error(`a sandboxed preload cannot require('${name}')`);
        return electron;
      },
      module,
      exports: module.exports
    });

    vm.runInContext(await bundlePreload(), context, { filename: 'out/preload/index.cjs' });

    expect(requested).toEqual(['electron']);
    expect(Object.keys(exposed)).toEqual(['localmesh', 'localmeshShell']);
    expect(Object.values(exposed).some((api) => 'invoke' in api || 'send' in api)).toBe(false); // no raw ipcRenderer
    await expect(exposed.localmesh!.health!()).resolves.toEqual({ ok: true });
    await expect(exposed.localmesh!.getFlow!({ id: 'f-1' })).rejects.toThrow('LM202: no flow f-1');
    expect(invokes).toEqual([['localmesh:health'], ['localmesh:getFlow', { id: 'f-1' }]]);
    expect(typeof exposed.localmeshShell!.onNavigate).toBe('function');

    // Events come in batches, one IPC message per event-loop turn of the main side; the page gets one call each.
    const seen: unknown[] = [];
    const off = exposed.localmesh!.onEvent!((e: unknown) => seen.push(e)) as () => void;
    const batch = [
      { type: 'resync', dropped: 2 },
      { type: 'resync', dropped: null }
    ];
    deliver('localmesh:events', batch);
    expect(seen).toEqual(batch);
    // each batch is acknowledged once the page's listeners have had it (the main side's bound, ipc-events.ts)
    expect(sends).toEqual([]);
    await Promise.resolve();
    expect(sends).toEqual([['localmesh:events-ack']]);
    off();
    expect(on.get('localmesh:events')?.size).toBe(1); // the acknowledgement's own listener stays
    deliver('localmesh:events', batch);
    await Promise.resolve();
    expect(sends).toHaveLength(2);
    expect(seen).toHaveLength(2);
  });
});
