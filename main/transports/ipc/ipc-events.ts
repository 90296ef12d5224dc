/**
 * Engine events to a window, batched, without Electron (ipc-main.ts hands it the window's WebContents).
 *
 * With the window open every request a sidecar handles makes two events (`flow-start`, `flow`); one IPC message each
 * would be thousands of messages per second at load, each a structured clone, a Mojo message and a renderer task.
 * So the events of one event-loop turn (those the HTTP client parses from one SSE chunk, which the admin API writes
 * once per turn) are gathered and sent at the end of the turn (setImmediate) as one message on `localmesh:events`:
 * an array of MeshEvents, in the order they came. The preload unpacks it and calls the page's listener once per event,
 * so the page's `onEvent(listener)` is unchanged.
 *
 * Bounds: one message, and what a page has not taken. A batch is sent early once it holds `maxBatch` events
 * (IPC_EVENT_BATCH_MAX, 256: a few hundred KB of flow records at most, far below what makes one structured clone a
 * stall), and the rest of the turn goes in the next message(s). `webContents.send` gives no backpressure (it neither
 * blocks nor says whether the page keeps up), and the admin API's own bound (main/transports/http/event-stream.ts)
 * does not see a page: the main process reads the stream at once and queued every batch for a page that stopped
 * running (hung, or paused in a debugger), without limit. So the preload acknowledges each batch on
 * `localmesh:events-ack` once the page's listeners have had it (through `webContents.ipc`, which hears that page
 * only), and at most `maxUnacked` batches (IPC_EVENTS_UNACKED_MAX, 64: 16k events) wait for acknowledgement. Past
 * that, events are dropped and counted until the page has acknowledged everything sent, and then it gets
 * `{"type":"resync","dropped":N}` (as a stalled event-stream subscriber does) and the events that follow.
 */
import type { MeshApi, MeshEvent } from '../../contract/api.js';

/** main → renderer: a batch of engine events (IpcEventBatch), in order. */
export const IPC_EVENTS_CHANNEL = 'localmesh:events';
/** renderer → main: the page's listeners have had one more batch (no payload). */
export const IPC_EVENTS_ACK_CHANNEL = 'localmesh:events-ack';

/** The payload of IPC_EVENTS_CHANNEL: never empty; the preload calls the page's listener per element. */
export type IpcEventBatch = MeshEvent[];

/** Events in one IPC message at most; more in one turn are sent as several messages, in order. */
export const IPC_EVENT_BATCH_MAX = 256;
/** Batches sent to a page and not acknowledged by it, at most; past that its events are dropped until it catches up. */
export const IPC_EVENTS_UNACKED_MAX = 64;

/** The part of Electron's WebContents forwarding needs (the real one fits; tests pass a fake). */
export interface IpcEventSink {
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
  off(event: 'destroyed', listener: () => void): unknown;
  /** The page (re)loaded: it asks for everything afresh, and the batches the page before it had are gone with it. */
  on(event: 'did-finish-load', listener: () => void): unknown;
  off(event: 'did-finish-load', listener: () => void): unknown;
  /** The messages of this page only (Electron's `webContents.ipc`): the acknowledgements come here. */
  ipc: {
    on(channel: string, listener: () => void): unknown;
    off(channel: string, listener: () => void): unknown;
  };
}

export interface ForwardEventsOptions {
  /** Events per message at most (default IPC_EVENT_BATCH_MAX). */
  maxBatch?: number;
  /** Batches not acknowledged at most (default IPC_EVENTS_UNACKED_MAX). */
  maxUnacked?: number;
}

/**
 * Forward every event of `api` to `sink` in batches while it lives. Returns the unsubscribe, which also sends what is
 * still waiting; a destroyed sink gets nothing (no throw), and forwarding stops with its `destroyed` event.
 */
export function forwardEventBatches(api: MeshApi, sink: IpcEventSink, opts: ForwardEventsOptions = {}): () => void {
  const maxBatch = Math.max(1, opts.maxBatch ?? IPC_EVENT_BATCH_MAX);
  const maxUnacked = Math.max(1, opts.maxUnacked ?? IPC_EVENTS_UNACKED_MAX);
  let batch: IpcEventBatch = [];
  let scheduled: ReturnType<typeof setImmediate> | undefined;
  /** Batches sent and not acknowledged; events dropped since the page fell behind (null: it has not). */
  let unacked = 0;
  let dropped: number | null = null;

  const send = (events: IpcEventBatch): void => {
    if (sink.isDestroyed()) return;
    unacked++;
    sink.send(IPC_EVENTS_CHANNEL, events);
  };

  const flush = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    if (batch.length === 0) return;
    const events = batch;
    batch = [];
    if (dropped === null && unacked >= maxUnacked) dropped = 0;
    if (dropped !== null) dropped += events.length;
    else send(events);
  };

  const onAck = (): void => {
    if (unacked > 0) unacked--;
    if (dropped === null || unacked > 0) return;
    // the page has had everything sent: it hears what it missed, then the events that follow
    const n = dropped;
    dropped = null;
    send([{ type: 'resync', dropped: n }]);
  };
  sink.ipc.on(IPC_EVENTS_ACK_CHANNEL, onAck);
  // a page that went away (a reload) acknowledges nothing more, and its successor loads everything itself
  const onLoad = (): void => {
    unacked = 0;
    dropped = null;
  };
  sink.on('did-finish-load', onLoad);

  const unsubscribe = api.onEvent((event: MeshEvent) => {
    batch.push(event);
    if (batch.length >= maxBatch) flush();
    else scheduled ??= setImmediate(flush);
  });

  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    sink.off('destroyed', stop);
    sink.ipc.off(IPC_EVENTS_ACK_CHANNEL, onAck);
    sink.off('did-finish-load', onLoad);
    unsubscribe();
    flush();
  };
  sink.once('destroyed', stop);
  return stop;
}
