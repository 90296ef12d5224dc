// The preload's api without Electron: a fake ipcRenderer records invokes and plays the main side's answers.
import { describe, expect, it, vi } from 'vitest';
import { MESH_API_METHODS, type MeshEvent } from '../main/contract/api.js';

// The real `electron` package throws without its binary; the module under test only needs the two names.
vi.mock('electron', () => ({ contextBridge: undefined, ipcRenderer: undefined }));
const { createIpcMeshApi, createShell } = await import('./index.js');

type Listener = (event: unknown, payload: unknown) => void;

function fakeIpc(answer: (channel: string, args: unknown[]) => unknown = () => undefined) {
  const invokes: { channel: string; args: unknown[] }[] = [];
  const listeners = new Map<string, Set<Listener>>();
  const sends: string[] = [];
  const ipc = {
    invoke: async (channel: string, ...args: unknown[]) => {
      invokes.push({ channel, args });
      return answer(channel, args);
    },
    send(channel: string) {
      sends.push(channel);
    },
    on(channel: string, l: Listener) {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(l);
      return ipc;
    },
    off(channel: string, l: Listener) {
      listeners.get(channel)?.delete(l);
      return ipc;
    }
  };
  const emit = (channel: string, payload: unknown) => {
    for (const l of listeners.get(channel) ?? []) l({ sender: 'ipcRenderer itself' }, payload);
  };
  return { ipc: ipc as never, invokes, listeners, emit, sends };
}

describe('preload MeshApi', () => {
  it('has every MeshApi method, each invoking localmesh:<method> with the arguments', async () => {
    const { ipc, invokes } = fakeIpc((channel) => ({ from: channel }));
    const api = createIpcMeshApi(ipc);
    expect(Object.keys(api).sort()).toEqual([...Object.keys(MESH_API_METHODS), 'onEvent'].sort());
    await expect(api.getFlow({ id: 'f1' })).resolves.toEqual({ from: 'localmesh:getFlow' });
    await api.restartProcess('reviews-v1', 'i0');
    expect(invokes).toEqual([
      { channel: 'localmesh:getFlow', args: [{ id: 'f1' }] },
      { channel: 'localmesh:restartProcess', args: ['reviews-v1', 'i0'] }
    ]);
  });

  it('rethrows the main side error envelope as an Error carrying code (also in the message)', async () => {
    const where = { file: '/p/vs.yaml', line: 2, column: 1 };
    const { ipc } = fakeIpc(() => ({
      __meshError: { code: 'LM202', message: 'no flow f-9', where, details: { id: 'f-9' } }
    }));
    const api = createIpcMeshApi(ipc);
    const err = await api.getFlow({ id: 'f-9' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'MeshError',
      code: 'LM202',
      message: 'LM202: no flow f-9',
      where,
      details: { id: 'f-9' }
    });
  });

  const log = (seq: number): MeshEvent => ({
    type: 'log',
    workload: 'w',
    instance: 'i',
    stream: 'stdout',
    line: `line ${seq}`,
    at: new Date(0).toISOString(),
    seq
  });

  it('unpacks each batch on localmesh:events into one call per event, in order, without the IpcRendererEvent', () => {
    const { ipc, emit, listeners } = fakeIpc();
    const api = createIpcMeshApi(ipc);
    const seen: unknown[][] = [];
    const off = api.onEvent((...args: unknown[]) => seen.push(args));
    emit('localmesh:events', [log(1), log(2), log(3)]);
    emit('localmesh:events', [log(4)]);
    emit('localmesh:events', log(5)); // not a batch: ignored
    off();
    off();
    emit('localmesh:events', [log(6)]);
    expect(seen).toEqual([[log(1)], [log(2)], [log(3)], [log(4)]]);
    expect(listeners.get('localmesh:events')?.size).toBe(1); // the acknowledgement's, which stays
  });

  it('acknowledges each batch once, after every listener had it, whoever listens (and if a listener throws)', async () => {
    const { ipc, emit, sends } = fakeIpc();
    const api = createIpcMeshApi(ipc);
    createIpcMeshApi(ipc); // a second api on the same ipcRenderer: still one acknowledgement per batch
    emit('localmesh:events', [log(1)]); // nobody listens: the page still had it
    await Promise.resolve();
    expect(sends).toEqual(['localmesh:events-ack']);
    const order: string[] = [];
    api.onEvent(() => {
      order.push(`first saw it, acks so far ${sends.length}`);
      throw new Error('listener failed');
    });
    api.onEvent(() => void order.push(`second saw it, acks so far ${sends.length}`));
    expect(() => emit('localmesh:events', [log(2)])).toThrow('listener failed');
    await Promise.resolve();
    expect(order).toEqual(['first saw it, acks so far 1']); // a throwing relay stops the emitter, as Electron's does
    expect(sends).toEqual(['localmesh:events-ack', 'localmesh:events-ack']);
  });

  it('filters a batch by the types asked for, but always passes resync', () => {
    const { ipc, emit } = fakeIpc();
    const seen: MeshEvent[] = [];
    createIpcMeshApi(ipc).onEvent((e) => seen.push(e), ['config']);
    const config: MeshEvent = { type: 'config', reload: { ok: true, version: 2, at: '', issues: [] } };
    const resync: MeshEvent = { type: 'resync', dropped: null };
    emit('localmesh:events', [log(1), config, resync, log(2)]);
    expect(seen).toEqual([config, resync]);
  });

  it('goes on with the batch when the listener throws, then rethrows; stops when it unsubscribes mid-batch', () => {
    const { ipc, emit } = fakeIpc();
    const api = createIpcMeshApi(ipc);
    const seen: number[] = [];
    const off = api.onEvent((e) => {
      const seq = e.type === 'log' ? e.seq : 0;
      seen.push(seq);
      if (seq === 1) throw new Error('listener failed on 1');
      if (seq === 3) off();
    });
    expect(() => emit('localmesh:events', [log(1), log(2)])).toThrow('listener failed on 1');
    emit('localmesh:events', [log(3), log(4)]);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('navigates only to known views', () => {
    const { ipc, emit } = fakeIpc();
    const seen: string[] = [];
    const off = createShell(ipc).onNavigate((v) => seen.push(v));
    for (const v of ['services', 'evil', 3, 'traffic', 'rules']) emit('localmesh:navigate', v);
    off();
    emit('localmesh:navigate', 'services');
    expect(seen).toEqual(['services', 'traffic', 'rules']);
  });
});
