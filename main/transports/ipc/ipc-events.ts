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
 * Bound: `webContents.send` gives no backpressure (it neither blocks nor says whether the page keeps up), so nothing
 * here can slow the engine down for a page that stopped reading. What this does bound is one message: a batch is sent
 * early once it holds `maxBatch` events (IPC_EVENT_BATCH_MAX, 256: a few hundred KB of flow records at most,
 * far below what makes one structured clone a stall), and the rest of the turn goes in the next message(s). A page
 * that stops reading for long is covered upstream: the admin API drops events for a subscriber that falls behind and
 * sends `resync` (main/transports/http/event-stream.ts), which this forwards like any event.
 */
import type { MeshApi, MeshEvent } from '../../contract/api.js';

/** main → renderer: a batch of engine events (IpcEventBatch), in order. */
export const IPC_EVENTS_CHANNEL = 'localmesh:events';

/** The payload of IPC_EVENTS_CHANNEL: never empty; the preload calls the page's listener per element. */
export type IpcEventBatch = MeshEvent[];

/** Events in one IPC message at most; more in one turn are sent as several messages, in order. */
export const IPC_EVENT_BATCH_MAX = 256;

/** The part of Electron's WebContents forwarding needs (the real one fits; tests pass a fake). */
export interface IpcEventSink {
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
  off(event: 'destroyed', listener: () => void): unknown;
}

export interface ForwardEventsOptions {
  /** Events per message at most (default IPC_EVENT_BATCH_MAX). */
  maxBatch?: number;
}

/**
 * Forward every event of `api` to `sink` in batches while it lives. Returns the unsubscribe, which also sends what is
 * still waiting; a destroyed sink gets nothing (no throw), and forwarding stops with its `destroyed` event.
 */
export function forwardEventBatches(api: MeshApi, sink: IpcEventSink, opts: ForwardEventsOptions = {}): () => void {
  const maxBatch = Math.max(1, opts.maxBatch ?? IPC_EVENT_BATCH_MAX);
  let batch: IpcEventBatch = [];
  let scheduled: ReturnType<typeof setImmediate> | undefined;

  const flush = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    if (batch.length === 0) return;
    const events = batch;
    batch = [];
    if (!sink.isDestroyed()) sink.send(IPC_EVENTS_CHANNEL, events);
  };

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
    unsubscribe();
    flush();
  };
  sink.once('destroyed', stop);
  return stop;
}
