import { EventEmitter } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ConfigView,
  FlowRecord,
  HealthView,
  MeshApi,
  MeshEvent,
  ReloadResult,
  WorkloadView
} from '../../contract/api.js';
import { ErrorCodes, MeshError } from '../../contract/errors.js';
import { createHttpMeshApi } from './admin-client.js';
import { startAdminServer, type AdminServer } from './admin-server.js';

const WAIT_MS = 5_000;

const HEALTH: HealthView = { status: 'ok', version: 3, uptimeMs: 1234, workloads: 1 };
const WORKLOADS: WorkloadView[] = [
  {
    name: 'reviews-v1',
    service: 'reviews',
    servicePort: 9080,
    namespace: 'default',
    labels: { app: 'reviews', version: 'v1' },
    serviceAccount: 'bookinfo-reviews',
    sidecar: true,
    outbound: { host: '127.0.0.1', port: 15001 },
    upstreams: {},
    instances: [{ address: '127.0.0.1:19081', inbound: { host: '127.0.0.1', port: 15101 } }],
    processes: []
  }
];
const RELOAD: ReloadResult = { ok: true, version: 3, at: '2026-01-01T00:00:00.000Z', issues: [] };
const CONFIG: ConfigView = {
  version: 3,
  meshFile: '/tmp/localmesh.yaml',
  istioPaths: ['/tmp/istio'],
  compatibilityVersion: null,
  capture: true,
  resources: [],
  issues: [],
  lastReload: RELOAD
};
const FLOW: FlowRecord = {
  id: 'f1',
  requestId: 'r1',
  reporter: 'source',
  source: 'productpage-v1',
  destination: 'reviews-v1',
  destinationService: 'reviews.default.svc.cluster.local',
  method: 'GET',
  authority: 'reviews:9080',
  path: '/reviews/1',
  status: 200,
  flags: '-',
  durationMs: 4,
  startedAt: '2026-01-01T00:00:00.000Z',
  virtualService: null,
  rule: null,
  subset: null,
  endpoint: '127.0.0.1:19081',
  attempts: 1,
  attemptLog: [],
  localReply: null,
  trace: [{ step: 'route', detail: 'default' }],
  configVersion: 3,
  requestHeaders: {},
  responseHeaders: {}
};
const EVENTS: MeshEvent[] = [
  { type: 'flow', flow: FLOW },
  { type: 'config', reload: RELOAD },
  {
    type: 'process',
    workload: 'reviews-v1',
    process: {
      instance: '127.0.0.1:19081',
      state: 'running',
      pid: 42,
      restarts: 0,
      lastExitCode: null,
      command: 'node server.js'
    }
  },
  {
    type: 'log',
    workload: 'reviews-v1',
    instance: '127.0.0.1:19081',
    stream: 'stdout',
    line: 'hello',
    at: '2026-01-01T00:00:00.000Z',
    seq: 7
  }
];

/** Resolves once `check()` is true, re-checking whenever `emitter` emits 'change'; bounded. */
function waitUntil(emitter: EventEmitter, check: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onChange = (): void => {
      if (!check()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}`));
    }, WAIT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off('change', onChange);
    };
    emitter.on('change', onChange);
    onChange();
  });
}

const SESSION = {
  id: 1,
  label: null,
  kind: 'up' as const,
  startedAt: '2026-11-22T10:00:00.000Z',
  endedAt: null,
  flows: 3,
  bytes: 1200,
  current: true,
  readOnly: false
};
const HAR = { log: { version: '1.2', creator: { name: 'localmesh', version: '0.1.0' }, entries: [] } };
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A MeshApi with canned data that records calls and lets the test emit events. */
function createFakeApi() {
  const changes = new EventEmitter();
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const listeners = new Set<(event: MeshEvent) => void>();
  const record = (method: string, args: unknown[]): void => {
    calls.push({ method, args });
  };
  const failFor = (workload: string): void => {
    if (workload === 'missing') throw new MeshError(ErrorCodes.NOT_FOUND, 'no workload "missing"');
    if (workload === 'idle') throw new MeshError(ErrorCodes.NOT_RUNNING, 'idle has no running process');
    if (workload === 'schema') {
      throw new MeshError(ErrorCodes.MESH_SCHEMA, 'bad field', {
        where: { file: 'localmesh.yaml', line: 3, column: 5 },
        details: { path: 'spec.services[0]' }
      });
    }
    if (workload === 'boom') throw new Error('kaboom');
  };
  const api: MeshApi = {
    health: async (...args: unknown[]) => (record('health', args), HEALTH),
    listWorkloads: async (...args: unknown[]) => (record('listWorkloads', args), WORKLOADS),
    getConfig: async (...args: unknown[]) => (record('getConfig', args), CONFIG),
    reload: async (...args: unknown[]) => (record('reload', args), RELOAD),
    listFlows: async (...args: unknown[]) => (record('listFlows', args), [FLOW]),
    getFlow: async (...args: unknown[]) => (record('getFlow', args), FLOW),
    clearFlows: async (...args: unknown[]) => void record('clearFlows', args),
    listIstioFiles: async (...args: unknown[]) => (record('listIstioFiles', args), []),
    readIstioFile: async (...args: unknown[]) => (record('readIstioFile', args), { path: 'x.yaml', content: '' }),
    validateIstioText: async (...args: unknown[]) => (record('validateIstioText', args), []),
    writeIstioFile: async (...args: unknown[]) => (record('writeIstioFile', args), RELOAD),
    getSecurity: async (...args: unknown[]) => (
      record('getSecurity', args),
      {
        ca: { subject: '', fingerprint256: '', validFrom: '', validTo: '', keyAlgorithm: 'ec' as const, certFile: '' },
        workloads: [],
        matrix: []
      }
    ),
    planQuickAction: async (...args: unknown[]) => (
      record('planQuickAction', args),
      { path: 'x.yaml', relative: 'x.yaml', before: '', after: '', summary: '' }
    ),
    listSessions: async (...args: unknown[]) => (record('listSessions', args), [SESSION]),
    startSession: async (...args: unknown[]) => (record('startSession', args), SESSION),
    stopSession: async (...args: unknown[]) => (record('stopSession', args), SESSION),
    deleteSession: async (...args: unknown[]) => void record('deleteSession', args),
    exportHar: async (...args: unknown[]) => (record('exportHar', args), HAR),
    importHar: async (...args: unknown[]) => (record('importHar', args), SESSION),
    replayFlow: async (...args: unknown[]) => (record('replayFlow', args), FLOW),
    compareFlows: async (...args: unknown[]) => (
      record('compareFlows', args),
      {
        a: FLOW,
        b: FLOW,
        changes: [],
        requestHeaders: [],
        responseHeaders: [],
        requestBody: { same: true, lines: [] },
        responseBody: { same: true, lines: [] }
      }
    ),
    compareSessions: async (...args: unknown[]) => (
      record('compareSessions', args),
      { a: SESSION, b: SESSION, added: [], missing: [], changed: [], unchanged: 0 }
    ),
    getTrace: async (...args: unknown[]) => (record('getTrace', args), { traceId: TRACE_ID, spans: [] }),
    getGraph: async (...args: unknown[]) => (
      record('getGraph', args),
      { since: '', until: '', windowSec: 300, nodes: [], edges: [] }
    ),
    getMetrics: async (...args: unknown[]) => (
      record('getMetrics', args),
      { service: 'reviews', windowSec: 900, stepSec: 10, points: [] }
    ),
    restartProcess: async (...args: unknown[]) => {
      record('restartProcess', args);
      failFor(String(args[0]));
    },
    stopProcess: async (...args: unknown[]) => {
      record('stopProcess', args);
      failFor(String(args[0]));
    },
    listLogs: async (...args: unknown[]) => (record('listLogs', args), []),
    onEvent(listener) {
      listeners.add(listener);
      changes.emit('change');
      return () => {
        listeners.delete(listener);
        changes.emit('change');
      };
    }
  };
  return {
    api,
    calls,
    emit: (event: MeshEvent) => listeners.forEach((l) => l(event)),
    listenerCount: () => listeners.size,
    waitForListeners: (n: number) => waitUntil(changes, () => listeners.size === n, `${n} event listener(s)`)
  };
}

/** A raw request (the path is sent exactly as given, no client-side normalisation). */
function rawRequest(
  url: string,
  reqPath: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {}
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(url),
      { path: reqPath, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      }
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** An SSE reader over a raw socket, so the test can drop the connection. */
function openSse(url: string, reqPath: string) {
  const changes = new EventEmitter();
  const state = { text: '', status: 0, headers: {} as IncomingMessage['headers'] };
  const req = httpRequest(new URL(url), { path: reqPath, headers: { accept: 'text/event-stream' } }, (res) => {
    state.status = res.statusCode ?? 0;
    state.headers = res.headers;
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      state.text += chunk;
      changes.emit('change');
    });
  });
  req.on('error', () => undefined);
  req.end();
  const events = (): Array<{ name: string; data: MeshEvent }> =>
    state.text
      .split('\n\n')
      .filter((block) => block.startsWith('event: '))
      .map((block) => {
        const [eventLine, dataLine] = block.split('\n');
        return { name: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) as MeshEvent };
      });
  return {
    state,
    events,
    waitForText: (s: string) => waitUntil(changes, () => state.text.includes(s), `stream text ${JSON.stringify(s)}`),
    waitForEvents: (n: number) => waitUntil(changes, () => events().length >= n, `${n} SSE events`),
    close: () => req.destroy()
  };
}

describe('admin HTTP server', () => {
  let fake: ReturnType<typeof createFakeApi>;
  let server: AdminServer;

  beforeEach(async () => {
    fake = createFakeApi();
    server = await startAdminServer(fake.api, { port: 0 });
  });
  afterEach(async () => {
    await server.close();
  });

  it('binds to 127.0.0.1 on an ephemeral port', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it.each([
    ['/api/v1/health', HEALTH, 'health'],
    ['/api/v1/workloads', WORKLOADS, 'listWorkloads'],
    ['/api/v1/config', CONFIG, 'getConfig'],
    ['/api/v1/flows', [FLOW], 'listFlows']
  ])('GET %s returns the method result as JSON', async (route, expected, method) => {
    const res = await fetch(server.url + route);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual(expected);
    expect(fake.calls).toEqual([{ method, args: [] }]);
  });

  it('a query field given twice is refused, by name (each takes one value)', async () => {
    const r = await fetch(`${server.url}/api/v1/flows?limit=2&limit=3`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: unknown }).error).toEqual({
      code: 'LM201',
      message: 'limit: given 2 times; give it once'
    });
  });

  it('parses the query string into the single argument (coerced by the method schema); unknown keys are rejected', async () => {
    await fetch(`${server.url}/api/v1/flows?limit=5`);
    const bad = await fetch(`${server.url}/api/v1/flows?limit=5&colour=blue`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('LM201');
    const notNumber = await fetch(`${server.url}/api/v1/flows?limit=many`);
    expect(notNumber.status).toBe(400);
    expect(fake.calls).toEqual([{ method: 'listFlows', args: [{ limit: 5 }] }]);
  });

  it('POST takes an object body as the single argument, {"args": [...]} as positional arguments', async () => {
    const post = (route: string, body?: string) =>
      fetch(server.url + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const reload = await post('/api/v1/config/reload', JSON.stringify({ args: [] }));
    expect(reload.status).toBe(200);
    expect(await reload.json()).toEqual(RELOAD);
    const extra = await post('/api/v1/config/reload', JSON.stringify({ dryRun: true }));
    expect(extra.status).toBe(400);
    const restart = await post(
      '/api/v1/processes/restart',
      JSON.stringify({ args: ['reviews-v1', '127.0.0.1:19081'] })
    );
    expect(restart.status).toBe(204);
    expect(await restart.text()).toBe('');
    const stop = await post('/api/v1/processes/stop', JSON.stringify({ args: ['reviews-v1'] }));
    expect(stop.status).toBe(204);
    await post('/api/v1/config/reload');
    expect(fake.calls).toEqual([
      { method: 'reload', args: [] },
      { method: 'restartProcess', args: ['reviews-v1', '127.0.0.1:19081'] },
      { method: 'stopProcess', args: ['reviews-v1'] },
      { method: 'reload', args: [] }
    ]);
  });

  it.each([
    ['missing', 404, ErrorCodes.NOT_FOUND],
    ['idle', 409, ErrorCodes.NOT_RUNNING],
    ['schema', 500, ErrorCodes.MESH_SCHEMA],
    ['boom', 500, ErrorCodes.INTERNAL]
  ])('maps an error for workload %s to HTTP %i with code %s', async (workload, status, code) => {
    const res = await fetch(`${server.url}/api/v1/processes/restart`, {
      method: 'POST',
      body: JSON.stringify({ args: [workload] })
    });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message).toBeTruthy();
    if (workload === 'schema') {
      expect(body.error).toEqual({
        code,
        message: 'bad field',
        where: { file: 'localmesh.yaml', line: 3, column: 5 },
        details: { path: 'spec.services[0]' }
      });
    }
  });

  it('names what is wrong with the arguments: a missing field is required, arguments where none are taken', async () => {
    const message = async (res: Response) => {
      expect(res.status).toBe(400);
      return ((await res.json()) as { error: { code: string; message: string } }).error.message;
    };
    const post = (route: string, body: string) => fetch(server.url + route, { method: 'POST', body });
    expect(await message(await fetch(`${server.url}/api/v1/flow`))).toBe('bad arguments for getFlow: id is required');
    expect(await message(await post('/api/v1/sessions/delete', '{}'))).toBe(
      'bad arguments for deleteSession: id is required'
    );
    expect(await message(await post('/api/v1/flows/clear', '{"x": 1}'))).toBe(
      'bad arguments for clearFlows: this endpoint takes no arguments'
    );
    expect(await message(await fetch(`${server.url}/api/v1/flows?limit=many`))).toMatch(
      /^bad arguments for listFlows: limit: /
    );
    // positional arguments: a missing one by its place, whether sent as {"args": []} or as nothing
    expect(await message(await post('/api/v1/processes/restart', '{"args": []}'))).toBe(
      'bad arguments for restartProcess: argument 1 is required'
    );
    expect(await message(await post('/api/v1/processes/restart', '{}'))).toBe(
      'bad arguments for restartProcess: argument 1: Invalid input: expected string, received object'
    );
    expect(fake.calls).toEqual([]);
  });

  it('answers a bad JSON body with 400 LM201', async () => {
    for (const body of ['{not json', '"a string"', '[1,2]']) {
      const res = await fetch(`${server.url}/api/v1/config/reload`, { method: 'POST', body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(ErrorCodes.BAD_REQUEST);
    }
    expect(fake.calls).toEqual([]);
  });

  it('answers an unknown path with 404 LM202 and a wrong method with 405 + allow', async () => {
    const unknown = await fetch(`${server.url}/api/v1/nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe(ErrorCodes.NOT_FOUND);
    const root = await fetch(`${server.url}/`);
    expect(root.status).toBe(404);
    await root.body?.cancel();

    const postToGet = await fetch(`${server.url}/api/v1/health`, { method: 'POST' });
    expect(postToGet.status).toBe(405);
    expect(postToGet.headers.get('allow')).toBe('GET, HEAD');
    await postToGet.body?.cancel();
    const getToPost = await fetch(`${server.url}/api/v1/config/reload`);
    expect(getToPost.status).toBe(405);
    expect(getToPost.headers.get('allow')).toBe('POST');
    await getToPost.body?.cancel();
    const postToEvents = await fetch(`${server.url}/api/v1/events`, { method: 'POST' });
    expect(postToEvents.status).toBe(405);
    expect(postToEvents.headers.get('allow')).toBe('GET, HEAD');
    await postToEvents.body?.cancel();
    expect(fake.calls).toEqual([]);
  });

  it('answers HEAD on a GET endpoint as GET without a body, and OPTIONS with the methods an endpoint takes', async () => {
    const get = await fetch(`${server.url}/api/v1/health`);
    const getBody = await get.text();
    const head = await fetch(`${server.url}/api/v1/health`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(getBody)));
    expect(await head.text()).toBe('');
    const calls = fake.calls.length;
    for (const [p, allow] of [
      ['/api/v1/health', 'GET, HEAD'],
      ['/api/v1/config/reload', 'POST'],
      ['/api/v1/events', 'GET, HEAD']
    ] as const) {
      const o = await fetch(`${server.url}${p}`, { method: 'OPTIONS' });
      expect(o.status, p).toBe(204);
      expect(o.headers.get('allow'), p).toBe(allow);
    }
    // OPTIONS runs nothing, and HEAD on a POST endpoint is still refused
    expect(fake.calls.length).toBe(calls);
    // the event stream's HEAD: its headers, no stream opened
    const events = await fetch(`${server.url}/api/v1/events`, { method: 'HEAD' });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toBe('text/event-stream');
    expect(await events.text()).toBe('');
    const headToPost = await fetch(`${server.url}/api/v1/config/reload`, { method: 'HEAD' });
    expect(headToPost.status).toBe(405);
    expect(headToPost.headers.get('allow')).toBe('POST');
  });

  it('refuses requests from another site (Origin) or another host name (DNS rebinding)', async () => {
    const evilOrigin = await rawRequest(server.url, '/api/v1/health', { headers: { origin: 'http://evil.example' } });
    expect(evilOrigin.status).toBe(403);
    expect(JSON.parse(evilOrigin.body).error.code).toBe('LM203');
    const evilHost = await rawRequest(server.url, '/api/v1/health', {
      headers: { host: `evil.example:${server.port}` }
    });
    expect(evilHost.status).toBe(403);
    // a page on another local port is another origin (its requests would carry the SameSite cookie)
    const otherPort = await rawRequest(server.url, '/api/v1/health', {
      headers: { origin: 'http://localhost:5173', host: `localhost:${server.port}` }
    });
    expect(otherPort.status).toBe(403);
    expect(JSON.parse(otherPort.body).error.message).toMatch(/own pages/);
    const opaque = await rawRequest(server.url, '/api/v1/health', { headers: { origin: 'null' } });
    expect(opaque.status).toBe(403);
    const own = await rawRequest(server.url, '/api/v1/health', {
      headers: { origin: `http://localhost:${server.port}`, host: `localhost:${server.port}` }
    });
    expect(own.status).toBe(200);
    expect(fake.calls).toEqual([{ method: 'health', args: [] }]);
  });

  it('streams events over SSE in order with their event names', async () => {
    const sse = openSse(server.url, '/api/v1/events');
    await sse.waitForText(': connected\n\n');
    expect(sse.state.status).toBe(200);
    expect(sse.state.headers['content-type']).toBe('text/event-stream');
    expect(sse.state.headers['cache-control']).toBe('no-cache');
    await fake.waitForListeners(1);
    EVENTS.forEach(fake.emit);
    await sse.waitForEvents(EVENTS.length);
    expect(sse.events()).toEqual(EVENTS.map((e) => ({ name: e.type, data: e })));
    sse.close();
    await fake.waitForListeners(0);
  });

  it('filters SSE events with ?types=', async () => {
    const sse = openSse(server.url, '/api/v1/events?types=flow,config');
    await fake.waitForListeners(1);
    EVENTS.forEach(fake.emit);
    fake.emit(EVENTS[0]!);
    await sse.waitForEvents(3);
    expect(sse.events().map((e) => e.name)).toEqual(['flow', 'config', 'flow']);
    sse.close();
    await fake.waitForListeners(0);
  });

  it('refuses ?types= naming no event type (400 LM201), before any stream opens', async () => {
    const r = await fetch(`${server.url}/api/v1/events?types=flow,bogus`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'LM201',
      message: 'types: unknown event type "bogus" (one of flow-start, flow, config, process, log, store, resync)'
    });
  });

  it('sends heartbeat comments', async () => {
    const fast = await startAdminServer(fake.api, { heartbeatMs: 10 });
    try {
      const sse = openSse(fast.url, '/api/v1/events');
      await sse.waitForText(': ping\n\n');
      sse.close();
      await fake.waitForListeners(0);
    } finally {
      await fast.close();
    }
  });

  it('close() ends open SSE streams and keep-alive sockets promptly', async () => {
    const sse = openSse(server.url, '/api/v1/events');
    await fake.waitForListeners(1);
    const keepAlive = await fetch(`${server.url}/api/v1/health`); // undici keeps the socket alive
    await keepAlive.json();
    await server.close();
    await fake.waitForListeners(0);
    sse.close();
    server = await startAdminServer(fake.api); // for afterEach
  });
});

describe('HTTP MeshApi client', () => {
  let fake: ReturnType<typeof createFakeApi>;
  let server: AdminServer;

  beforeEach(async () => {
    fake = createFakeApi();
    server = await startAdminServer(fake.api);
  });
  afterEach(async () => {
    await server.close();
  });

  it('round-trips every method', async () => {
    const client = createHttpMeshApi(`${server.url}/`);
    expect(await client.health()).toEqual(HEALTH);
    expect(await client.listWorkloads()).toEqual(WORKLOADS);
    expect(await client.getConfig()).toEqual(CONFIG);
    expect(await client.reload()).toEqual(RELOAD);
    expect(await client.listFlows()).toEqual([FLOW]);
    expect(await client.listFlows({ limit: 2 })).toEqual([FLOW]);
    expect(await client.restartProcess('reviews-v1', '127.0.0.1:19081')).toBeUndefined();
    expect(await client.stopProcess('reviews-v1')).toBeUndefined();
    // the capture methods: GET filters travel in the query string and are coerced back by the schemas
    const query = {
      session: 3,
      since: '2026-11-22T10:00:00.000Z',
      caller: 'unknown',
      service: 'reviews',
      status: '5xx' as const,
      flag: 'UF',
      text: 'a b&c',
      limit: 5
    };
    expect(await client.listFlows(query)).toEqual([FLOW]);
    expect(await client.exportHar({ session: 3 })).toEqual(HAR);
    expect(await client.importHar({ har: HAR, label: 'x.har' })).toEqual(SESSION);
    expect(
      await client.replayFlow({ id: 'f1', edit: { method: 'POST', headers: { 'x-a': null }, body: 'hi' } })
    ).toEqual(FLOW);
    expect((await client.compareSessions({ a: 1, b: 2 })).unchanged).toBe(0);
    expect((await client.getTrace({ traceId: TRACE_ID })).traceId).toBe(TRACE_ID);
    expect((await client.getGraph({ windowSec: 60 })).windowSec).toBe(300);
    expect((await client.getMetrics({ service: 'reviews', windowSec: 600, stepSec: 30 })).service).toBe('reviews');
    await expect(client.getTrace({ traceId: 'not-hex' })).rejects.toMatchObject({ code: 'LM201' });
    await expect(client.listFlows({ status: '6xx' } as never)).rejects.toMatchObject({ code: 'LM201' });
    // a body said to be base64 that is not: refused, not sent as whatever Buffer.from makes of it
    await expect(client.replayFlow({ id: 'f1', edit: { body: '!!!', bodyEncoding: 'base64' } })).rejects.toMatchObject({
      code: 'LM201',
      message: expect.stringContaining('body is not base64')
    });
    await expect(client.importHar({ har: { log: { version: '1.2' } } } as never)).rejects.toMatchObject({
      code: 'LM201'
    });
    expect(fake.calls.slice(8)).toEqual([
      { method: 'listFlows', args: [query] },
      { method: 'exportHar', args: [{ session: 3 }] },
      { method: 'importHar', args: [{ har: HAR, label: 'x.har' }] },
      { method: 'replayFlow', args: [{ id: 'f1', edit: { method: 'POST', headers: { 'x-a': null }, body: 'hi' } }] },
      { method: 'compareSessions', args: [{ a: 1, b: 2 }] },
      { method: 'getTrace', args: [{ traceId: TRACE_ID }] },
      { method: 'getGraph', args: [{ windowSec: 60 }] },
      { method: 'getMetrics', args: [{ service: 'reviews', windowSec: 600, stepSec: 30 }] }
    ]);
    expect(fake.calls.slice(0, 8)).toEqual([
      { method: 'health', args: [] },
      { method: 'listWorkloads', args: [] },
      { method: 'getConfig', args: [] },
      { method: 'reload', args: [] },
      { method: 'listFlows', args: [] },
      { method: 'listFlows', args: [{ limit: 2 }] },
      { method: 'restartProcess', args: ['reviews-v1', '127.0.0.1:19081'] },
      { method: 'stopProcess', args: ['reviews-v1'] }
    ]);
  });

  it('rethrows server errors as MeshError with the same code and message', async () => {
    const client = createHttpMeshApi(server.url);
    const err = await client.stopProcess('idle').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshError);
    expect(err).toMatchObject({ code: ErrorCodes.NOT_RUNNING, message: 'idle has no running process' });
    const schema = await client.restartProcess('schema').catch((e: unknown) => e);
    expect(schema).toMatchObject({
      code: ErrorCodes.MESH_SCHEMA,
      where: { file: 'localmesh.yaml', line: 3, column: 5 }
    });
  });

  it('wraps an unreachable server in a MeshError', async () => {
    const client = createHttpMeshApi(server.url);
    await server.close();
    const err = await client.health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshError);
    // nothing answers: no running mesh there (LM104), not an internal error of one
    expect(err).toMatchObject({ code: 'LM104', message: expect.stringMatching(/^admin API at .* unreachable: /) });
    server = await startAdminServer(fake.api); // for afterEach
  });

  it('receives events through onEvent and unsubscribes', async () => {
    const client = createHttpMeshApi(server.url);
    const changes = new EventEmitter();
    const received: MeshEvent[] = [];
    const unsubscribe = client.onEvent((event) => {
      received.push(event);
      changes.emit('change');
    });
    await fake.waitForListeners(1);
    EVENTS.forEach(fake.emit);
    await waitUntil(changes, () => received.length === EVENTS.length, 'client events');
    expect(received).toEqual(EVENTS);
    unsubscribe();
    await fake.waitForListeners(0);
  });

  it('reconnects when the stream ends', async () => {
    let streams = 0;
    const countingFetch: typeof fetch = (input, init) => {
      if (String(input).endsWith('/api/v1/events') && ++streams === 1) {
        return Promise.resolve(new Response(': connected\n\n', { headers: { 'content-type': 'text/event-stream' } }));
      }
      return fetch(input, init);
    };
    const client = createHttpMeshApi(server.url, { fetch: countingFetch });
    const changes = new EventEmitter();
    const received: MeshEvent[] = [];
    const unsubscribe = client.onEvent((event) => {
      received.push(event);
      changes.emit('change');
    });
    await fake.waitForListeners(1);
    expect(streams).toBe(2);
    fake.emit(EVENTS[3]!);
    await waitUntil(changes, () => received.length === 2, 'event after reconnect');
    // the stream opened again first tells the listener that events may have been missed
    expect(received).toEqual([{ type: 'resync', dropped: null }, EVENTS[3]]);
    unsubscribe();
    await fake.waitForListeners(0);
  });
});

describe('admin HTTP server static files', () => {
  const SECRET = 'TOP-SECRET-PACKAGE-JSON';
  let dir: string;
  let server: AdminServer;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'localmesh admin '));
    const ui = path.join(dir, 'ui');
    await mkdir(path.join(ui, 'assets'), { recursive: true });
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: SECRET }));
    await writeFile(path.join(ui, 'index.html'), '<!doctype html><title>localmesh</title>');
    await writeFile(path.join(ui, 'assets', 'app.js'), 'console.log(1);');
    await writeFile(path.join(ui, 'assets', 'app.css'), 'body{}');
    await writeFile(path.join(ui, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(path.join(ui, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    await writeFile(path.join(ui, 'data.json'), '{"a":1}');
    server = await startAdminServer(createFakeApi().api, { staticDir: ui });
  });
  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['/', 'text/html; charset=utf-8', '<!doctype html><title>localmesh</title>'],
    ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>localmesh</title>'],
    ['/assets/app.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['/assets/app.css', 'text/css; charset=utf-8', 'body{}'],
    ['/logo.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
    ['/logo.png', 'image/png', '\x89PNG'],
    ['/data.json', 'application/json; charset=utf-8', '{"a":1}'],
    ['/flows/f1', 'text/html; charset=utf-8', '<!doctype html><title>localmesh</title>']
  ])('GET %s serves %s', async (route, type, body) => {
    const res = await fetch(server.url + route);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(Buffer.from(await res.arrayBuffer()).toString('latin1')).toBe(body);
  });

  it('keeps unknown /api paths as JSON 404s', async () => {
    const res = await fetch(`${server.url}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(ErrorCodes.NOT_FOUND);
  });

  it.each([
    '/../package.json',
    '/..%2fpackage.json',
    '/%2e%2e/package.json',
    '/assets/../../package.json',
    '/..\\package.json',
    '/%2e%2e%5cpackage.json'
  ])('does not serve %s from outside staticDir', async (reqPath) => {
    const res = await rawRequest(server.url, reqPath);
    expect(res.body).not.toContain(SECRET);
    expect([200, 400, 404]).toContain(res.status);
  });
});
