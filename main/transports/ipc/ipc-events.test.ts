// Event forwarding to the window (ipc-main.ts forwardEvents → ipc-events.ts): the window is a fake WebContents that
// records sends (no Electron binary here); the events come from a real admin API and HTTP client, or, where the test
// is about event-loop turns, straight from an in-process source.
import { EventEmitter } from 'node:events';
import type { WebContents } from 'electron';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MeshApi, MeshEvent } from '../../contract/api.js';
import { createHttpMeshApi } from '../http/admin-client.js';
import { startAdminServer, type AdminServer } from '../http/admin-server.js';
import {
  IPC_EVENT_BATCH_MAX,
  IPC_EVENTS_ACK_CHANNEL,
  IPC_EVENTS_CHANNEL,
  IPC_EVENTS_UNACKED_MAX
} from './ipc-events.js';

// The real `electron` package throws without its binary; forwardEvents needs nothing of it.
vi.mock('electron', () => ({ ipcMain: undefined }));
const { forwardEvents } = await import('./ipc-main.js');

const WAIT_MS = 5_000;

class FakeWebContents extends EventEmitter {
  readonly sent: { channel: string; args: unknown[] }[] = [];
  destroyed = false;
  /** This page's messages (webContents.ipc): its preload acknowledges each batch here. */
  readonly ipc = new EventEmitter();
  /** A page that runs acknowledges each batch a moment after it came (as the preload does); a stalled one does not. */
  reading = true;
  send(channel: string, ...args: unknown[]): void {
    if (this.destroyed) throw new Error('Object has been destroyed'); // as Electron does
    this.sent.push({ channel, args });
    if (this.reading) setImmediate(() => this.ack());
    this.emit('sent');
  }
  /** The page acknowledges `n` batches. */
  ack(n = 1): void {
    for (let i = 0; i < n; i++) this.ipc.emit(IPC_EVENTS_ACK_CHANNEL, { sender: this });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('destroyed');
  }
  /** The events of each send, checking every send is one batch on the events channel. */
  batches(): MeshEvent[][] {
    return this.sent.map(({ channel, args }) => {
      expect(channel).toBe(IPC_EVENTS_CHANNEL);
      expect(args).toHaveLength(1);
      expect(Array.isArray(args[0])).toBe(true);
      return args[0] as MeshEvent[];
    });
  }
  waitForEvents(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.batches().flat().length < n) return;
        clearTimeout(timer);
        this.off('sent', check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('sent', check);
        reject(new Error(`timed out waiting for ${n} forwarded events`));
      }, WAIT_MS);
      this.on('sent', check);
      check();
    });
  }
}

const asWebContents = (w: FakeWebContents) => w as unknown as WebContents;

/** An event source: the engine's side of onEvent, emitting when the test says. */
function eventSource() {
  const listeners = new Set<(e: MeshEvent) => void>();
  const subscribed = new EventEmitter();
  const api = {
    onEvent(listener: (e: MeshEvent) => void) {
      listeners.add(listener);
      subscribed.emit('change');
      return () => void listeners.delete(listener);
    }
  } as unknown as MeshApi;
  const emit = (...events: MeshEvent[]) => events.forEach((e) => [...listeners].forEach((l) => l(e)));
  const subscriber = () =>
    new Promise<void>((resolve) => {
      if (listeners.size > 0) return resolve();
      subscribed.once('change', () => resolve());
    });
  return { api, listeners, emit, subscriber };
}

const log = (seq: number): MeshEvent => ({
  type: 'log',
  workload: 'reviews-v1',
  instance: '127.0.0.1:19081',
  stream: 'stdout',
  line: `line ${seq}`,
  at: new Date(0).toISOString(),
  seq
});
const logs = (from: number, n: number) => Array.from({ length: n }, (_, i) => log(from + i));

/** Resolves after the immediates queued so far, i.e. at the end of the current event-loop turn's check phase. */
const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('forwardEvents', () => {
  let server: AdminServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('forwards what the admin API streams as batches on localmesh:events, every event once, in order', async () => {
    const source = eventSource();
    server = await startAdminServer(source.api, { port: 0 });
    const contents = new FakeWebContents();
    const stop = forwardEvents(createHttpMeshApi(server.url), asWebContents(contents));
    await source.subscriber();
    const first = logs(1, 50);
    source.emit(...first);
    await contents.waitForEvents(50);
    const second = [...logs(51, 20), { type: 'resync', dropped: 3 } as MeshEvent];
    source.emit(...second);
    await contents.waitForEvents(71);
    stop();
    expect(contents.batches().flat()).toEqual([...first, ...second]);
    expect(contents.batches().every((b) => b.length > 0)).toBe(true);
  });

  it('sends the events of one event-loop turn as one message, at the end of the turn', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    forwardEvents(source.api, asWebContents(contents));
    source.emit(log(1), log(2));
    source.emit(log(3));
    expect(contents.sent).toEqual([]); // not yet: the turn is not over
    await endOfTurn();
    expect(contents.batches()).toEqual([[log(1), log(2), log(3)]]);
    source.emit(log(4));
    await endOfTurn();
    await endOfTurn(); // a turn without events sends nothing
    expect(contents.batches()).toEqual([[log(1), log(2), log(3)], [log(4)]]);
  });

  it('sends early once a batch is full, so no one message grows without bound', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    forwardEvents(source.api, asWebContents(contents), { maxBatch: 3 });
    source.emit(...logs(1, 7));
    expect(contents.batches()).toEqual([logs(1, 3), logs(4, 3)]); // full batches go at once, within the turn
    await endOfTurn();
    expect(contents.batches()).toEqual([logs(1, 3), logs(4, 3), [log(7)]]);

    const byDefault = new FakeWebContents();
    forwardEvents(source.api, asWebContents(byDefault));
    source.emit(...logs(1, IPC_EVENT_BATCH_MAX + 1));
    expect(byDefault.batches().map((b) => b.length)).toEqual([IPC_EVENT_BATCH_MAX]);
    await endOfTurn();
    expect(byDefault.batches().flat()).toEqual(logs(1, IPC_EVENT_BATCH_MAX + 1));
  });

  it('sends nothing to a window destroyed meanwhile, and stops listening when it is destroyed', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    forwardEvents(source.api, asWebContents(contents));
    source.emit(log(1));
    contents.destroyed = true; // destroyed, its 'destroyed' event not emitted yet
    await endOfTurn(); // the flush must not throw (an uncaught exception in main would end the app)
    expect(contents.sent).toEqual([]);
    source.emit(log(2));
    contents.destroy();
    expect(source.listeners.size).toBe(0);
    await endOfTurn();
    expect(contents.sent).toEqual([]);
  });

  it('sends what waits when unsubscribed, then nothing more', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    const stop = forwardEvents(source.api, asWebContents(contents));
    source.emit(log(1));
    stop();
    stop();
    expect(source.listeners.size).toBe(0);
    expect(contents.listenerCount('destroyed')).toBe(0);
    expect(contents.listenerCount('did-finish-load')).toBe(0);
    expect(contents.ipc.listenerCount(IPC_EVENTS_ACK_CHANNEL)).toBe(0);
    source.emit(log(2));
    await endOfTurn();
    expect(contents.batches()).toEqual([[log(1)]]);
  });

  it('a page that stops acknowledging gets maxUnacked batches; the rest are counted, and a resync follows once it caught up', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    contents.reading = false;
    forwardEvents(source.api, asWebContents(contents), { maxBatch: 2, maxUnacked: 3 });
    source.emit(...logs(1, 11)); // batches of 2: three go, the rest (5 events) are dropped
    await endOfTurn();
    expect(contents.batches()).toEqual([logs(1, 2), logs(3, 2), logs(5, 2)]);
    contents.ack(2); // one batch still unacknowledged: still dropping
    source.emit(log(12));
    await endOfTurn();
    expect(contents.sent).toHaveLength(3);
    contents.ack(); // everything sent has been had: the resync, with every event dropped counted
    expect(contents.batches().at(-1)).toEqual([{ type: 'resync', dropped: 6 }]);
    source.emit(log(13), log(14));
    await endOfTurn();
    expect(contents.batches().slice(3)).toEqual([[{ type: 'resync', dropped: 6 }], [log(13), log(14)]]);
    // every event was either delivered or counted as dropped
    const delivered = contents
      .batches()
      .flat()
      .filter((e) => e.type === 'log').length;
    expect(delivered + 6).toBe(14);
  });

  it('by default, a stalled page holds IPC_EVENTS_UNACKED_MAX batches at most, whatever the engine sends', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    contents.reading = false;
    forwardEvents(source.api, asWebContents(contents));
    for (let turn = 0; turn < IPC_EVENTS_UNACKED_MAX * 2; turn++) {
      source.emit(...logs(turn * 10, 10));
      await endOfTurn();
    }
    expect(contents.sent).toHaveLength(IPC_EVENTS_UNACKED_MAX);
    contents.ack(IPC_EVENTS_UNACKED_MAX);
    expect(contents.batches().at(-1)).toEqual([{ type: 'resync', dropped: IPC_EVENTS_UNACKED_MAX * 10 }]);
  });

  it('a page that reloads starts afresh: no resync for what the page before it missed', async () => {
    const source = eventSource();
    const contents = new FakeWebContents();
    contents.reading = false;
    forwardEvents(source.api, asWebContents(contents), { maxUnacked: 1 });
    source.emit(log(1));
    await endOfTurn();
    source.emit(log(2)); // dropped: the page has one batch unacknowledged
    await endOfTurn();
    contents.emit('did-finish-load'); // the reloaded page reads everything itself
    contents.reading = true;
    source.emit(log(3));
    await endOfTurn();
    source.emit(log(4));
    await endOfTurn();
    expect(contents.batches()).toEqual([[log(1)], [log(3)], [log(4)]]);
  });
});
