// Requests in flight: a sidecar announces a request as it starts (`flow-start` on /api/v1/events), and the finished
// `flow` with the same id follows, also for a request its caller abandons; nothing is built when nobody subscribes.
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FlowRecord, FlowStart, MeshEvent } from '../contract/api.js';
import { Exchange } from '../engine/sidecar/exchange.js';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

const TOKEN = 'flow-start-token';

let web: Stub;
let store: Stub;
let m: Running;
let admin: AdminServer;
/** Responses the store app holds until the test releases them, by path. */
const held = new Map<string, () => void>();

beforeAll(async () => {
  web = await stub('web');
  store = await stub('store', (req, res) => {
    const body = JSON.stringify({ path: req.url });
    held.set(req.url ?? '', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  m = await startMesh(
    {
      meshYaml: meshYaml({
        web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
        store: { workloads: [{ name: 'store-v1', instances: [store.address] }] }
      })
    },
    { store: 'memory' }
  );
  admin = await startAdminServer(m.mesh, { token: TOKEN });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await admin?.close();
  await m?.close();
  await web?.close();
  await store?.close();
});

/** An SSE subscription to the admin API: every event as it arrives, in order. */
async function subscribe(types: string): Promise<{ events: MeshEvent[]; close: () => void }> {
  const controller = new AbortController();
  const res = await fetch(`${admin.url}/api/v1/events?types=${types}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: controller.signal
  });
  expect(res.status).toBe(200);
  const events: MeshEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)) as MeshEvent);
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return { events, close: () => controller.abort() };
}

const starts = (events: MeshEvent[], path: string): FlowStart[] =>
  events.flatMap((e) => (e.type === 'flow-start' && e.flow.path === path ? [e.flow] : []));
const flows = (events: MeshEvent[], path: string): FlowRecord[] =>
  events.flatMap((e) => (e.type === 'flow' && e.flow.path === path ? [e.flow] : []));

describe('flow-start events', () => {
  it('announces a request at both sidecars while the app holds it, then the flow with the same id', async () => {
    const sub = await subscribe('flow-start,flow');
    try {
      const reply = viaProxy(m.outbound('web-v1'), 'store:9080', '/held', { headers: { 'x-test': 'pending' } });
      // the app has the request and has not answered: both sidecars announced it, neither finished it
      await until(() => held.has('/held') && starts(sub.events, '/held').length === 2, 'both starts');
      expect(flows(sub.events, '/held')).toEqual([]);
      const [out, inb] = [...starts(sub.events, '/held')]
        .sort((a, b) => a.reporter.localeCompare(b.reporter))
        .reverse();
      expect(out).toMatchObject({
        reporter: 'source',
        source: 'web-v1',
        destination: null,
        destinationService: 'store.default.svc.cluster.local',
        method: 'GET',
        authority: 'store:9080',
        path: '/held',
        replayOf: null
      });
      expect(out!.requestHeaders['x-test']).toBe('pending');
      expect(inb).toMatchObject({ reporter: 'destination', source: 'web-v1', destination: 'store-v1', path: '/held' });
      expect(inb!.requestId).toBe(out!.requestId);
      expect(new Date(out!.startedAt).toISOString()).toBe(out!.startedAt);

      held.get('/held')!();
      expect((await reply).status).toBe(200);
      await until(() => flows(sub.events, '/held').length === 2, 'both flows');
      for (const start of [out!, inb!]) {
        const at = sub.events.findIndex((e) => e.type === 'flow-start' && e.flow.id === start.id);
        const end = sub.events.findIndex((e) => e.type === 'flow' && e.flow.id === start.id);
        expect(end).toBeGreaterThan(at);
        const flow = (sub.events[end] as { flow: FlowRecord }).flow;
        expect(flow).toMatchObject({ reporter: start.reporter, startedAt: start.startedAt, status: 200 });
      }
    } finally {
      sub.close();
    }
  });

  it('a request its caller abandons still ends with its flow (DC), so it is not pending forever', async () => {
    const sub = await subscribe('flow-start,flow');
    try {
      const req = http.request({
        host: '127.0.0.1',
        port: m.outbound('web-v1'),
        path: 'http://store:9080/abandoned',
        agent: false
      });
      req.on('error', () => undefined);
      req.end();
      await until(() => held.has('/abandoned') && starts(sub.events, '/abandoned').length === 2, 'both starts');
      req.destroy();
      await until(() => flows(sub.events, '/abandoned').length === 2, 'both flows');
      const startIds = starts(sub.events, '/abandoned').map((s) => s.id);
      const ended = flows(sub.events, '/abandoned');
      expect(ended.map((f) => f.id).sort()).toEqual([...startIds].sort());
      expect(ended.find((f) => f.reporter === 'source')!.flags).toContain('DC');
      held.get('/abandoned')!();
    } finally {
      sub.close();
    }
  });

  it('builds no start event while nobody subscribes to flow-start (a flow subscriber does not count)', async () => {
    const built = vi.spyOn(Exchange.prototype, 'startRecord');
    const call = async (path: string): Promise<void> => {
      const reply = viaProxy(m.outbound('web-v1'), 'store:9080', path);
      await until(() => held.has(path), `the app to get ${path}`);
      held.get(path)!();
      expect((await reply).status).toBe(200);
    };

    // nobody at all
    await call('/quiet-1');
    expect(built).not.toHaveBeenCalled();

    // a subscriber of flows only (the SSE stream with ?types=flow, and one in the engine)
    const seen: MeshEvent['type'][] = [];
    const off = m.mesh.onEvent((e) => seen.push(e.type), ['flow']);
    const sub = await subscribe('flow');
    try {
      await call('/quiet-2');
      await until(() => flows(sub.events, '/quiet-2').length === 2, 'the flows of /quiet-2');
      expect(built).not.toHaveBeenCalled();
      expect(seen).not.toContain('flow-start');
    } finally {
      off();
      sub.close();
    }

    // a subscriber of every type wants the starts: one per sidecar
    const offAll = m.mesh.onEvent(() => undefined);
    try {
      await call('/loud');
      expect(built).toHaveBeenCalledTimes(2);
    } finally {
      offAll();
    }

    // and once it leaves, nothing is built again
    await call('/quiet-3');
    expect(built).toHaveBeenCalledTimes(2);
  });

  it('lists flow-start among the event types ?types= accepts', async () => {
    const res = await fetch(`${admin.url}/api/v1/events?types=nope`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain('flow-start');
  });
});
