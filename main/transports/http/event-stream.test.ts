import { createServer, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MeshApi, MeshEvent } from '../../contract/api.js';
import { createHttpMeshApi } from '../../contract/http-client.js';
import { startAdminServer, type AdminServer } from './admin-server.js';
import { createEventStream, sseText } from './event-stream.js';

const logEvent = (line: string): MeshEvent =>
  ({ type: 'log', workload: 'reviews-v1', stream: 'stdout', line }) as unknown as MeshEvent;

/** A MeshApi with nothing but onEvent (the event stream needs no other method). */
function eventOnlyApi() {
  const listeners = new Set<(e: MeshEvent) => void>();
  const api = {
    onEvent(listener: (e: MeshEvent) => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    }
  } as unknown as MeshApi;
  return { api, listeners, emit: (e: MeshEvent) => listeners.forEach((l) => l(e)) };
}

/** Resolve when `check` holds, polling once per event-loop turn, at most `turns` times. */
async function until(check: () => boolean, what: string, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (check()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let closeAll: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closeAll.reverse()) await c();
  closeAll = [];
});

describe('SSE event stream', () => {
  it('writes the events of one event-loop turn with one socket write, in order', async () => {
    let writes: ReturnType<typeof vi.fn> | undefined;
    let stream: ReturnType<typeof createEventStream> | undefined;
    const server = createServer((_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      writes = vi.spyOn(res, 'write') as unknown as ReturnType<typeof vi.fn>;
      stream = createEventStream(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closeAll.push(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
    const port = (server.address() as AddressInfo).port;
    const socket = net.connect(port, '127.0.0.1');
    closeAll.push(() => void socket.destroy());
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await until(() => stream !== undefined && text.includes(': connected'), 'the stream to open');

    const events = ['one', 'two', 'three'].map(logEvent);
    for (const e of events) stream!.send(e);
    stream!.comment('ping');
    expect(writes).not.toHaveBeenCalled(); // nothing is written before the turn ends
    await until(() => text.includes(': ping\n\n'), 'the events');
    expect(writes).toHaveBeenCalledTimes(1);
    const body = text.slice(text.indexOf(': connected\n\n') + ': connected\n\n'.length);
    // chunked framing around one chunk: the three events and the comment, in the order sent
    expect(body).toContain(events.map(sseText).join('') + ': ping\n\n');
    expect(sseText(events[0]!)).toBe(`event: log\ndata: ${JSON.stringify(events[0])}\n\n`);
  });

  it('serializes an event once however many streams send it', () => {
    let serialized = 0;
    const event = { ...logEvent('x'), extra: { toJSON: () => (serialized++, 'n') } } as unknown as MeshEvent;
    const a = sseText(event);
    const b = sseText(event);
    expect(a).toBe(b);
    expect(a).toContain('"extra":"n"');
    expect(serialized).toBe(1);
  });

  it('drops events for a subscriber that stops reading, counts them, and says so once it reads again', async () => {
    const { api, listeners, emit } = eventOnlyApi();
    const server: AdminServer = await startAdminServer(api, { maxEventBufferBytes: 256 * 1024 });
    closeAll.push(() => server.close());

    // a subscriber that reads its response head and then nothing more, until told
    const stalled = net.connect(server.port, '127.0.0.1');
    closeAll.push(() => void stalled.destroy());
    let text = '';
    let bytes = 0;
    stalled.setEncoding('latin1').on('data', (d: string) => {
      text += d;
      bytes += d.length;
      if (text.includes(': connected') && bytes < 1024) stalled.pause();
    });
    stalled.write('GET /api/v1/events?types=log HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await until(() => listeners.size === 1 && text.includes(': connected'), 'the stalled subscriber');

    // a subscriber that reads
    const reading = net.connect(server.port, '127.0.0.1');
    closeAll.push(() => void reading.destroy());
    let got = '';
    reading.setEncoding('latin1').on('data', (d: string) => (got += d));
    reading.write('GET /api/v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await until(() => listeners.size === 2 && got.includes(': connected'), 'the reading subscriber');

    // 1024 events of 16 KiB (16 MiB), a few per turn: far more than the 256 KiB that may wait for the stalled one
    const pad = 'x'.repeat(16 * 1024);
    const sent = 1024;
    for (let n = 0; n < sent;) {
      for (let i = 0; i < 4; i++) emit(logEvent(`${n++} ${pad}`));
      await new Promise((r) => setImmediate(r));
    }
    emit(logEvent('after'));
    await until(() => got.includes('"line":"after"'), 'the reading subscriber to get everything');
    expect(got.match(/event: log\n/g)).toHaveLength(sent + 1);
    expect(got).not.toContain('event: resync');
    expect(listeners.size).toBe(2); // the stalled one is still subscribed

    stalled.resume();
    await until(() => /event: resync\ndata: .*\n\n/.test(text), 'the stalled subscriber to read on', 1_000_000);
    emit(logEvent('later'));
    await until(() => text.includes('"line":"later"'), 'the next event');
    const resync = /event: resync\ndata: (.*)\n\n/.exec(text)!;
    const { dropped } = JSON.parse(resync[1]!) as { type: string; dropped: number };
    const before = text.slice(0, resync.index).match(/event: log\n/g)?.length ?? 0;
    // every event (`after` too) either reached it before the resync or is counted in it; then the stream goes on
    expect(before + dropped).toBe(sent + 1);
    expect(dropped).toBeGreaterThan(sent / 2);
    expect(text.slice(resync.index).match(/event: log\n/g)).toHaveLength(1);
    // what waited for it stayed bounded: well under the 16 MiB sent. What reached it is the engine's 256 KiB plus
    // what the kernel's socket buffers took (loopback autotuning grew the reader's to ~4 MiB in CI runs; tcp_rmem
    // allows more), so the bound here is half of what was sent, not the engine's own
    expect(bytes).toBeLessThan((sent * pad.length) / 2);
  });

  it('the HTTP client tells its listener with a resync when it had to open its stream again', async () => {
    const { api, listeners, emit } = eventOnlyApi();
    let server: AdminServer = await startAdminServer(api);
    const port = server.port;
    closeAll.push(() => server.close());
    const seen: MeshEvent[] = [];
    const client = createHttpMeshApi(server.url);
    const unsubscribe = client.onEvent((e) => seen.push(e), ['log']);
    closeAll.push(unsubscribe);
    await until(() => listeners.size === 1, 'the subscription', 1_000_000);
    emit(logEvent('first'));
    await until(() => seen.length === 1, 'the first event', 1_000_000);
    expect(seen).toEqual([logEvent('first')]);

    await server.close(); // ends the stream; the client tries again
    server = await startAdminServer(api, { port });
    await until(() => listeners.size === 1 && seen.length === 2, 'the stream to be opened again', 5_000_000);
    emit(logEvent('second'));
    await until(() => seen.length === 3, 'the next event', 1_000_000);
    expect(seen.slice(1)).toEqual([{ type: 'resync', dropped: null }, logEvent('second')]);
  });
});
