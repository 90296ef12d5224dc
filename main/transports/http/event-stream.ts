/**
 * One subscriber's Server-Sent Events stream (GET /api/v1/events). With the UI open, every request a sidecar handles
 * sends the window a `flow-start` and a `flow` event, so this is on the engine's hot path:
 * - events are gathered and written once per event-loop turn (one socket write for all the events of a turn, where a
 *   write each cost a system call per event: at saturation, one hop with the UI subscribed spent ~40 µs more CPU per
 *   request than with nobody listening, issue 7);
 * - an event is turned into its SSE text once, however many streams send it (`sseText`);
 * - a subscriber that reads slower than events come (a stalled client, a window that stopped reading) gets no more
 *   events once `maxBufferedBytes` wait for it, instead of the engine buffering its stream without bound: the events
 *   meanwhile are dropped and counted, and when what waited has been read the stream says so with a `resync` event
 *   (`dropped`: how many), then goes on. The subscriber re-reads the state (the UI reloads its lists).
 */
import type { ServerResponse } from 'node:http';
import type { MeshEvent } from '../../contract/api.js';

/** Bytes that may wait for a slow subscriber before events are dropped for it (its socket's buffer and the queue). */
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** The SSE text of each event sent lately: several streams share one serialization, and it goes with the event. */
const texts = new WeakMap<MeshEvent, string>();

/** An event as SSE text (`event:` and `data:` lines and the blank line that ends it). */
export function sseText(event: MeshEvent): string {
  let t = texts.get(event);
  if (t === undefined) {
    t = `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    texts.set(event, t);
  }
  return t;
}

export interface EventStream {
  /** Queue an event for the next write (or count it dropped while the subscriber is behind). */
  send(event: MeshEvent): void;
  /** Queue an SSE comment (a heartbeat; none while the subscriber is behind). */
  comment(text: string): void;
  /** Events dropped since the subscriber fell behind (0 while it keeps up). */
  readonly dropped: number;
}

/**
 * A stream on `res` (its head already written). `onBehind` is called each time the subscriber falls more than
 * `maxBufferedBytes` (counted as the socket's buffered bytes plus the queued events' characters) behind.
 */
export function createEventStream(
  res: ServerResponse,
  opts: { maxBufferedBytes?: number; onBehind?: (bufferedBytes: number) => void } = {}
): EventStream {
  const max = opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
  let queue: string[] = [];
  let queued = 0;
  let scheduled = false;
  /** Events dropped since the subscriber fell behind; null while it keeps up. */
  let dropped: number | null = null;

  const open = (): boolean => !res.writableEnded && !res.destroyed;

  const flush = (): void => {
    scheduled = false;
    if (queue.length === 0 || !open()) return;
    const chunk = queue.length === 1 ? queue[0]! : queue.join('');
    queue = [];
    queued = 0;
    res.write(chunk);
  };

  /** What waited has been read: say how many events were dropped meanwhile, and go on. */
  const caughtUp = (): void => {
    if (dropped === null || !open()) return;
    const resync: MeshEvent = { type: 'resync', dropped };
    dropped = null;
    push(sseText(resync), 1);
  };

  const push = (text: string, events: number): void => {
    if (!open()) return;
    if (dropped !== null) {
      dropped += events;
      return;
    }
    queue.push(text);
    queued += text.length;
    const behind = res.writableLength + queued;
    if (behind > max) {
      dropped = queue.filter((t) => t.startsWith('event: ')).length;
      queue = [];
      queued = 0;
      opts.onBehind?.(behind);
      // the queue is gone; once the socket has sent what it holds, the stream resumes with a resync
      if (res.writableNeedDrain) res.once('drain', caughtUp);
      else setImmediate(caughtUp);
      return;
    }
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  return {
    send: (event) => push(sseText(event), 1),
    comment: (text) => push(`: ${text}\n\n`, 0),
    get dropped() {
      return dropped ?? 0;
    }
  };
}
