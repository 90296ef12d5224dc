import { describe, expect, it } from 'vitest';
import { MESH_API_METHODS, type MeshApi, type MeshEvent, type MeshEventType } from '../contract/api.js';
import { ErrorCodes, MeshError } from '../contract/errors.js';
import { createSwitchableApi } from './api-switch.js';

function fakeEngine(name: string) {
  const listeners = new Set<(e: MeshEvent) => void>();
  const api = {
    onEvent(l: (e: MeshEvent) => void, types?: readonly MeshEventType[]) {
      const own = (e: MeshEvent) => (types === undefined || types.includes(e.type) ? l(e) : undefined);
      listeners.add(own);
      return () => listeners.delete(own);
    }
  } as unknown as Record<string, unknown>;
  for (const m of Object.keys(MESH_API_METHODS))
    api[m] = async (...args: unknown[]) => ({ engine: name, method: m, args });
  const emit = (line: string) => {
    for (const l of [...listeners]) {
      try {
        l({ type: 'log', workload: 'w', instance: 'i', stream: 'stdout', line, at: new Date(0).toISOString(), seq: 1 });
      } catch {
        // as the engine's emitter: a listener's failure is its own
      }
    }
  };
  return { api: api as unknown as MeshApi, listeners, emit };
}

describe('createSwitchableApi', () => {
  it('fails calls with LM104 before any engine', async () => {
    const s = createSwitchableApi();
    expect(s.state).toBe('down');
    await expect(s.api.health()).rejects.toMatchObject({ code: ErrorCodes.NOT_RUNNING });
  });

  it('holds calls while starting and releases them to the engine once ready', async () => {
    const s = createSwitchableApi();
    s.starting();
    const pending = s.api.getFlow({ id: 'f1' });
    let done = false;
    void pending.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    s.ready(fakeEngine('a').api);
    await expect(pending).resolves.toEqual({ engine: 'a', method: 'getFlow', args: [{ id: 'f1' }] });
  });

  it('rejects held and later calls with the reason the engine could not start', async () => {
    const s = createSwitchableApi();
    s.starting();
    const pending = s.api.listWorkloads();
    const why = new MeshError(ErrorCodes.MESH_SCHEMA, 'bad mesh file');
    s.down(why);
    await expect(pending).rejects.toBe(why);
    await expect(s.api.health()).rejects.toBe(why);
  });

  it('moves event listeners from one engine to the next and stops them on unsubscribe', () => {
    const s = createSwitchableApi();
    const seen: string[] = [];
    const unsubscribe = s.api.onEvent((e) => seen.push(e.type === 'log' ? e.line : e.type));
    const a = fakeEngine('a');
    const b = fakeEngine('b');
    s.ready(a.api);
    a.emit('from a');
    s.starting();
    expect(a.listeners.size).toBe(0);
    a.emit('late a');
    s.ready(b.api);
    b.emit('from b');
    unsubscribe();
    expect(b.listeners.size).toBe(0);
    b.emit('after unsubscribe');
    expect(seen).toEqual(['from a', 'resync', 'from b']);
  });

  it('subscribes a listener added while ready straight away, and drops the engine when down', async () => {
    const s = createSwitchableApi();
    const a = fakeEngine('a');
    s.ready(a.api);
    const seen: string[] = [];
    s.api.onEvent((e) => seen.push(e.type));
    a.emit('x');
    expect(seen).toEqual(['log']);
    s.down();
    expect(a.listeners.size).toBe(0);
    await expect(s.api.reload()).rejects.toMatchObject({ code: 'LM104' });
  });

  it('tells listeners to resync when they move to another engine, not when the first one is ready', () => {
    const s = createSwitchableApi();
    const all: MeshEvent[] = [];
    const flowsOnly: MeshEvent[] = [];
    s.api.onEvent((e) => all.push(e));
    s.api.onEvent((e) => flowsOnly.push(e), ['flow']);
    s.api.onEvent(() => {
      throw new Error('a listener that throws');
    });
    const a = fakeEngine('a');
    s.starting();
    s.ready(a.api);
    expect(all).toEqual([]);
    a.emit('from a');
    s.starting(); // a restart, or another project
    s.ready(fakeEngine('b').api);
    const resync: MeshEvent = { type: 'resync', dropped: null };
    expect(all.map((e) => e.type)).toEqual(['log', 'resync']);
    expect(all[1]).toEqual(resync);
    expect(flowsOnly).toEqual([resync]); // whatever types it asked for, as the event stream does
    s.down();
    s.ready(fakeEngine('c').api); // after an engine that failed to start too
    expect(all.slice(2)).toEqual([resync]);
  });
});
