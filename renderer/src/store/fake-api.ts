/**
 * A scriptable MeshApi for the store tests (no engine, no network). Every method is implemented over the fake's
 * own data (`flows`, `workloads`, `sessions`…), following the contract's semantics closely enough for the slices'
 * tests: listFlows filters and pages, sessions record/stop/delete, HAR export/import, replay, comparisons, traces,
 * graph and metrics are computed from `flows`.
 */
import type {
  BodyDiff,
  CallStats,
  ConfigView,
  EditPlan,
  FieldChange,
  FlowComparison,
  FlowQuery,
  FlowRecord,
  GraphEdge,
  GraphNode,
  GraphView,
  Har,
  HarEntry,
  LogLine,
  MeshApi,
  MeshEvent,
  MetricsPoint,
  ReloadResult,
  SecurityView,
  SessionComparison,
  SessionView,
  SpanView,
  StoreTotals,
  ValidationIssue,
  WorkloadView
} from '../../../main/contract/api.js';
import { headerValue } from '../lib/body.js';
import { serviceMatches } from '../lib/flow-query.js';
import { flagList, shortService, statusClass } from '../lib/format.js';

export function flow(over: Partial<FlowRecord> & { id: string }): FlowRecord {
  return {
    requestId: `req-${over.id}`,
    reporter: 'destination',
    source: 'productpage-v1',
    destination: 'reviews-v1',
    destinationService: 'reviews.default.svc.cluster.local',
    method: 'GET',
    authority: 'reviews:9080',
    path: '/reviews/0',
    status: 200,
    flags: '-',
    durationMs: 3.2,
    startedAt: new Date(0).toISOString(),
    virtualService: 'default/reviews',
    rule: 'everyone-else',
    subset: 'v1',
    endpoint: '127.0.0.1:19082',
    attempts: 1,
    attemptLog: [],
    localReply: null,
    trace: [],
    configVersion: 1,
    requestHeaders: {},
    responseHeaders: {},
    ...over
  };
}

export function workload(over: Partial<WorkloadView> & { name: string; service: string }): WorkloadView {
  return {
    namespace: 'default',
    servicePort: 9080,
    labels: { app: over.service },
    serviceAccount: over.service,
    sidecar: true,
    outbound: { host: '127.0.0.1', port: 15100 },
    upstreams: {},
    instances: [{ address: '127.0.0.1:19080', inbound: { host: '127.0.0.1', port: 15101 } }],
    processes: [
      {
        instance: '127.0.0.1:19080',
        state: 'running',
        pid: 100,
        restarts: 0,
        lastExitCode: null,
        command: 'node server.mjs'
      }
    ],
    ...over
  };
}

export const reload = (over: Partial<ReloadResult> = {}): ReloadResult => ({
  ok: true,
  version: 1,
  at: new Date(0).toISOString(),
  issues: [],
  ...over
});

export function config(over: Partial<ConfigView> = {}): ConfigView {
  return {
    version: 1,
    meshFile: '/p/localmesh.yaml',
    istioPaths: ['/p/istio'],
    compatibilityVersion: null,
    capture: true,
    resources: [],
    issues: [],
    lastReload: reload(),
    ...over
  };
}

/** A small security view: productpage may call reviews, a caller without sidecar may not. */
export function security(over: Partial<SecurityView> = {}): SecurityView {
  const cert = (sa: string) => ({
    spiffeId: `spiffe://cluster.local/ns/default/sa/${sa}`,
    notBefore: new Date(0).toISOString(),
    notAfter: new Date(86_400_000).toISOString(),
    renewAt: new Date(43_200_000).toISOString(),
    keyAlgorithm: 'ec' as const
  });
  return {
    ca: {
      subject: 'CN=localmesh CA\nO=localmesh',
      fingerprint256: 'AB:CD:EF',
      validFrom: new Date(0).toISOString(),
      validTo: new Date(10 * 365 * 86_400_000).toISOString(),
      keyAlgorithm: 'ec',
      certFile: '/home/u/.localmesh/ca/ca.pem'
    },
    workloads: [
      {
        workload: 'productpage-v1',
        namespace: 'default',
        serviceAccount: 'productpage',
        sidecar: true,
        cert: cert('productpage'),
        mtls: [{ port: 19080, mode: 'PERMISSIVE', source: 'default (no PeerAuthentication): PERMISSIVE' }],
        policies: []
      },
      {
        workload: 'reviews-v1',
        namespace: 'default',
        serviceAccount: 'reviews',
        sidecar: true,
        cert: cert('reviews'),
        mtls: [{ port: 19081, mode: 'PERMISSIVE', source: 'default (no PeerAuthentication): PERMISSIVE' }],
        policies: [{ name: 'default/reviews-allow', action: 'ALLOW', dryRun: false }]
      }
    ],
    matrix: [
      { from: 'productpage-v1', to: 'productpage-v1', allowed: true, reason: 'no policies: allowed' },
      { from: 'reviews-v1', to: 'productpage-v1', allowed: true, reason: 'no policies: allowed' },
      { from: 'unknown', to: 'productpage-v1', allowed: true, reason: 'no policies: allowed' },
      { from: 'productpage-v1', to: 'reviews-v1', allowed: true, reason: 'ALLOW default/reviews-allow matched' },
      { from: 'reviews-v1', to: 'reviews-v1', allowed: false, reason: 'no ALLOW policy matched' },
      { from: 'unknown', to: 'reviews-v1', allowed: false, reason: 'no ALLOW policy matched' }
    ],
    ...over
  };
}

/** A session as the fake keeps it (flow count and bytes are computed from `flows`). */
export type FakeSession = Omit<SessionView, 'flows' | 'bytes'>;

export interface FakeApi extends MeshApi {
  emit(event: MeshEvent): void;
  /**
   * A new flow as the engine would record it: stamped with the current session, stored (retention dropping the oldest
   * captured ones beyond `maxFlows`), and emitted live, followed by the store's totals.
   */
  record(f: FlowRecord): FlowRecord;
  /** Captured flows kept (the engine's spec.capture.maxFlows); null: every one. */
  maxFlows: number | null;
  /** What the store holds, as the engine's `store` event says (sent after each change, and to a new subscriber). */
  totals(): StoreTotals;
  sessions: FakeSession[];
  /** Clock for getGraph/getMetrics windows; null = no window (every flow counts; the window ends at the newest). */
  now: (() => number) | null;
  calls: { method: string; args: unknown[] }[];
  workloads: WorkloadView[];
  flows: FlowRecord[];
  /** The lines the engine kept (listLogs reads them; an unknown workload is LM202, as in the engine). */
  logs: LogLine[];
  config: ConfigView;
  files: Record<string, string>;
  issuesFor: (content: string) => ValidationIssue[];
  writeResult: (content: string) => ReloadResult;
  plan: EditPlan;
  security: SecurityView;
  fail: Partial<Record<keyof MeshApi, Error & { code?: string }>>;
}

export function fakeApi(): FakeApi {
  const listeners = new Set<(e: MeshEvent) => void>();
  const api: FakeApi = {
    calls: [],
    workloads: [],
    flows: [],
    logs: [],
    config: config(),
    files: {},
    issuesFor: () => [],
    writeResult: () => reload({ version: 2 }),
    plan: {
      path: '/p/istio/vs.yaml',
      relative: 'istio/vs.yaml',
      before: 'a\n',
      after: 'b\n',
      summary: 'Inject a fault'
    },
    security: security(),
    fail: {},
    sessions: [
      {
        id: 1,
        label: null,
        kind: 'up',
        startedAt: new Date(0).toISOString(),
        endedAt: null,
        current: true,
        readOnly: false
      }
    ],
    now: null,
    maxFlows: null,
    emit: (e) => listeners.forEach((l) => l(e)),
    record(f) {
      const stamped = { ...f, sessionId: f.sessionId ?? api.sessions.find((x) => x.current)?.id };
      api.flows.push(stamped);
      if (api.maxFlows !== null) {
        const captured = api.flows.filter((x) => !isImported(x));
        const gone = new Set(captured.slice(0, Math.max(0, captured.length - api.maxFlows)));
        if (gone.size > 0) api.flows = api.flows.filter((x) => !gone.has(x));
      }
      const live = { ...stamped };
      delete live.requestBody;
      delete live.responseBody;
      api.emit({ type: 'flow', flow: live });
      emitTotals();
      return stamped;
    },
    totals() {
      const captured = api.sessions.some((x) => x.kind === 'import')
        ? api.flows.filter((x) => !isImported(x)).length
        : api.flows.length;
      return { flows: api.flows.length, capturedFlows: captured, capturedBytes: captured * 1000 };
    },
    async health() {
      return rec('health', [], {
        status: 'ok' as const,
        version: api.config.version,
        uptimeMs: 1,
        workloads: api.workloads.length
      });
    },
    listWorkloads: async () => rec('listWorkloads', [], structuredClone(api.workloads)),
    getConfig: async () => rec('getConfig', [], structuredClone(api.config)),
    reload: async () => rec('reload', [], reload()),
    listFlows: async (q) => rec('listFlows', [q], queryFlows(api, q ?? {})),
    getFlow: async (q) => {
      const f = api.flows.find((x) => x.id === q.id);
      if (!f) throw Object.assign(new Error(`no flow ${q.id}`), { code: 'LM202' });
      return rec('getFlow', [q], {
        ...f,
        responseBody: { encoding: 'utf8' as const, data: '{"ok":true}', size: 11, truncated: false }
      });
    },
    clearFlows: async () => {
      rec('clearFlows', [], undefined);
      // as the engine: captured traffic goes, imported sessions stay with their flows
      const imports = new Set(api.sessions.filter((x) => x.kind === 'import').map((x) => x.id));
      api.flows = api.flows.filter((f) => f.sessionId !== undefined && imports.has(f.sessionId));
      api.sessions = api.sessions.filter((x) => x.current || imports.has(x.id));
      emitTotals();
    },
    listIstioFiles: async () =>
      rec(
        'listIstioFiles',
        [],
        Object.keys(api.files).map((path) => ({ path, relative: path.replace('/p/', ''), resources: [] }))
      ),
    readIstioFile: async (q) => {
      const content = api.files[q.path];
      if (content === undefined) throw Object.assign(new Error(`no file ${q.path}`), { code: 'LM202' });
      return rec('readIstioFile', [q], { path: q.path, content });
    },
    validateIstioText: async (f) => rec('validateIstioText', [f], api.issuesFor(f.content)),
    writeIstioFile: async (f) => {
      const result = api.writeResult(f.content);
      api.files[f.path] = f.content;
      return rec('writeIstioFile', [f], result);
    },
    planQuickAction: async (a) => rec('planQuickAction', [a], api.plan),
    getSecurity: async () => rec('getSecurity', [], structuredClone(api.security)),
    listSessions: async () =>
      rec(
        'listSessions',
        [],
        api.sessions.map((x) => sessionView(api, x))
      ),
    startSession: async (q) => {
      rec('startSession', [q], undefined);
      const at = nowIso(api);
      for (const x of api.sessions) if (x.current) Object.assign(x, { current: false, endedAt: at });
      const id = nextSessionId(api);
      api.sessions.push({
        id,
        label: q?.label ?? null,
        kind: 'user',
        startedAt: at,
        endedAt: null,
        current: true,
        readOnly: false
      });
      return sessionView(api, api.sessions.at(-1)!);
    },
    stopSession: async () => {
      const current = api.sessions.find((x) => x.current);
      if (current?.kind !== 'user') {
        throw Object.assign(new Error('no recording is running'), { code: 'LM104' });
      }
      rec('stopSession', [], undefined);
      const at = nowIso(api);
      Object.assign(current, { current: false, endedAt: at });
      const up = [...api.sessions].reverse().find((x) => x.kind === 'up');
      if (up) Object.assign(up, { current: true, endedAt: null });
      return sessionView(api, current);
    },
    deleteSession: async (q) => {
      const target = api.sessions.find((x) => x.id === q.id);
      if (!target) throw Object.assign(new Error(`no session ${q.id}`), { code: 'LM202' });
      if (target.current) {
        throw Object.assign(new Error('the current session cannot be deleted'), { code: 'LM201' });
      }
      rec('deleteSession', [q], undefined);
      api.sessions = api.sessions.filter((x) => x !== target);
      api.flows = api.flows.filter((f) => sessionOf(api, f) !== q.id);
      emitTotals();
    },
    exportHar: async (q) => {
      const all = queryFlows(api, { ...q, limit: 10_000, before: undefined });
      const flows = q?.reporter
        ? all
        : all.filter(
            (f) => f.reporter === 'source' || !all.some((o) => o.reporter === 'source' && o.requestId === f.requestId)
          );
      return rec('exportHar', [q], toHar(flows));
    },
    importHar: async (q) => {
      if (!Array.isArray(q.har?.log?.entries)) {
        throw Object.assign(new Error('not a HAR file'), { code: 'LM201' });
      }
      rec('importHar', [q], undefined);
      const id = nextSessionId(api);
      const entries = q.har.log.entries;
      api.sessions.push({
        id,
        label: q.label ?? null,
        kind: 'import',
        startedAt: entries[0]?.startedDateTime ?? nowIso(api),
        endedAt: entries.at(-1)?.startedDateTime ?? nowIso(api),
        current: false,
        readOnly: true
      });
      entries.forEach((e, i) => api.flows.push({ ...fromHarEntry(e, `imp${id}-${i}`), sessionId: id }));
      emitTotals();
      return sessionView(api, api.sessions.at(-1)!);
    },
    replayFlow: async (q) => {
      const f = api.flows.find((x) => x.id === q.id);
      if (!f) throw Object.assign(new Error(`no flow ${q.id}`), { code: 'LM202' });
      rec('replayFlow', [q], undefined);
      const headers: Record<string, string | string[]> = { ...f.requestHeaders };
      for (const [k, v] of Object.entries(q.edit?.headers ?? {})) {
        if (v === null) delete headers[k];
        else headers[k] = v;
      }
      const replayed = flow({
        ...f,
        id: `${f.id}-replay-${api.flows.filter((x) => x.replayOf === f.id).length + 1}`,
        requestId: `req-replay-${api.flows.length}`,
        reporter: 'source',
        source: q.as ?? f.source,
        method: q.edit?.method ?? f.method,
        path: q.edit?.path ?? f.path,
        requestHeaders: headers,
        requestBody:
          q.edit?.body !== undefined
            ? { encoding: q.edit.bodyEncoding ?? 'utf8', data: q.edit.body, size: q.edit.body.length, truncated: false }
            : f.requestBody,
        startedAt: nowIso(api),
        replayOf: f.id
      });
      return api.record(replayed);
    },
    compareFlows: async (q) => {
      const a = api.flows.find((x) => x.id === q.a);
      const b = api.flows.find((x) => x.id === q.b);
      if (!a || !b) throw Object.assign(new Error(`no flow ${a ? q.b : q.a}`), { code: 'LM202' });
      return rec('compareFlows', [q], compareFlowRecords(a, b));
    },
    compareSessions: async (q) => {
      const a = api.sessions.find((x) => x.id === q.a);
      const b = api.sessions.find((x) => x.id === q.b);
      if (!a || !b) throw Object.assign(new Error(`no session ${a ? q.b : q.a}`), { code: 'LM202' });
      return rec('compareSessions', [q], compareSessionFlows(api, a, b));
    },
    getTrace: async (q) => {
      const spans = traceSpans(api.flows.filter((f) => f.traceId === q.traceId));
      if (spans.length === 0) throw Object.assign(new Error(`no trace ${q.traceId}`), { code: 'LM202' });
      return rec('getTrace', [q], { traceId: q.traceId, spans });
    },
    getGraph: async (q) => rec('getGraph', [q], graphOf(api, q?.windowSec ?? 300, q?.session)),
    getMetrics: async (q) =>
      rec('getMetrics', [q], {
        service: q.service,
        windowSec: q.windowSec ?? 900,
        stepSec: q.stepSec ?? 10,
        points: metricsOf(api, q.service, q.windowSec ?? 900, q.stepSec ?? 10)
      }),
    restartProcess: async (w, i) => rec('restartProcess', [w, i], undefined),
    stopProcess: async (w, i) => rec('stopProcess', [w, i], undefined),
    listLogs: async (q) => {
      const w = q?.workload;
      if (w !== undefined && !api.workloads.some((x) => x.name === w) && !api.logs.some((l) => l.workload === w))
        throw Object.assign(new Error(`no workload "${w}" in the mesh`), { code: 'LM202' });
      const lines = api.logs.filter((l) => w === undefined || l.workload === w).sort((a, b) => a.seq - b.seq);
      return rec('listLogs', [q], structuredClone(lines.slice(-(q?.limit ?? 1000))));
    },
    onEvent(listener, types) {
      const own = types === undefined ? listener : (e: MeshEvent) => void (types.includes(e.type) && listener(e));
      listeners.add(own);
      // as the engine: a new subscriber gets the store's totals at once
      queueMicrotask(() => listeners.has(own) && own({ type: 'store', store: api.totals() }));
      return () => listeners.delete(own);
    }
  };
  function isImported(f: FlowRecord): boolean {
    return api.sessions.find((x) => x.id === sessionOf(api, f))?.kind === 'import';
  }
  function emitTotals(): void {
    api.emit({ type: 'store', store: api.totals() });
  }
  function rec<T>(method: keyof MeshApi, args: unknown[], result: T): T {
    const failure = api.fail[method];
    if (failure) throw failure;
    api.calls.push({ method, args });
    return result;
  }
  return api;
}

/* ---------- the fake's data model ---------- */

function nowIso(api: FakeApi): string {
  return new Date(api.now ? api.now() : Date.now()).toISOString();
}

function nextSessionId(api: FakeApi): number {
  return Math.max(0, ...api.sessions.map((x) => x.id)) + 1;
}

/** A flow's session: its stamp, else the first session (flows put into `api.flows` by hand). */
function sessionOf(api: FakeApi, f: FlowRecord): number | undefined {
  return f.sessionId ?? api.sessions[0]?.id;
}

function sessionView(api: FakeApi, x: FakeSession): SessionView {
  const flows = api.flows.filter((f) => sessionOf(api, f) === x.id);
  return { ...x, flows: flows.length, bytes: flows.reduce((n, f) => n + JSON.stringify(f).length, 0) };
}

function lightFlow(f: FlowRecord): FlowRecord {
  const light = { ...f };
  delete light.requestBody;
  delete light.responseBody;
  return light;
}

function textMatch(f: FlowRecord, text: string): boolean {
  const t = text.toLowerCase();
  const hay = [f.path];
  for (const h of [f.requestHeaders, f.responseHeaders])
    for (const [k, v] of Object.entries(h)) hay.push(k, headerValue(v));
  for (const b of [f.requestBody, f.responseBody]) if (b?.encoding === 'utf8') hay.push(b.data);
  return hay.some((x) => x.toLowerCase().includes(t));
}

/** listFlows: every given filter (AND), keyset paging with `before`, the newest `limit` (default 100), newest last. */
export function queryFlows(api: FakeApi, q: FlowQuery): FlowRecord[] {
  let end = api.flows.length;
  if (q.before !== undefined) {
    const i = api.flows.findIndex((f) => f.id === q.before);
    end = i >= 0 ? i : 0;
  }
  const out: FlowRecord[] = [];
  const limit = Math.max(1, Math.min(q.limit ?? 100, 10_000));
  for (let i = end - 1; i >= 0 && out.length < limit; i--) {
    const f = api.flows[i]!;
    if (q.session !== undefined && sessionOf(api, f) !== q.session) continue;
    if (q.since !== undefined && f.startedAt < q.since) continue;
    if (q.until !== undefined && f.startedAt >= q.until) continue;
    if (q.caller !== undefined && (f.source ?? 'unknown') !== q.caller) continue;
    if (q.service !== undefined && !serviceMatches(f, q.service)) continue;
    if (q.workload !== undefined && f.source !== q.workload && f.destination !== q.workload) continue;
    if (q.method !== undefined && f.method.toUpperCase() !== q.method.toUpperCase()) continue;
    if (q.status !== undefined && statusClass(f.status) !== q.status) continue;
    if (q.flag !== undefined && !flagList(f.flags).includes(q.flag)) continue;
    if (q.text !== undefined && q.text !== '' && !textMatch(f, q.text)) continue;
    if (q.reporter !== undefined && f.reporter !== q.reporter) continue;
    if (q.requestId !== undefined && f.requestId !== q.requestId) continue;
    if (q.traceId !== undefined && f.traceId !== q.traceId) continue;
    out.push(lightFlow(f));
  }
  return out.reverse();
}

const nv = (h: Record<string, string | string[]>) =>
  Object.entries(h).map(([name, v]) => ({ name, value: headerValue(v) }));

export function toHar(flows: FlowRecord[]): Har {
  return {
    log: {
      version: '1.2',
      creator: { name: 'localmesh', version: 'fake' },
      entries: flows.map((f): HarEntry => {
        const rest = lightFlow(f) as Partial<FlowRecord>;
        delete rest.requestHeaders;
        delete rest.responseHeaders;
        return {
          startedDateTime: f.startedAt,
          time: f.durationMs,
          request: {
            method: f.method,
            url: `http://${f.authority}${f.path}`,
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: nv(f.requestHeaders),
            queryString: [],
            headersSize: -1,
            bodySize: f.requestBody?.size ?? 0
          },
          response: {
            status: f.status,
            statusText: '',
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: nv(f.responseHeaders),
            content: { size: f.responseBody?.size ?? 0, mimeType: 'application/octet-stream' },
            redirectURL: '',
            headersSize: -1,
            bodySize: f.responseBody?.size ?? 0
          },
          cache: {},
          timings: { send: 0, wait: f.durationMs, receive: 0 },
          _localmesh: rest as HarEntry['_localmesh']
        };
      })
    }
  };
}

function fromHarEntry(e: HarEntry, id: string): FlowRecord {
  const url = new URL(e.request.url);
  const headers = (list: { name: string; value: string }[]) => Object.fromEntries(list.map((h) => [h.name, h.value]));
  return flow({
    ...(e._localmesh ?? {}),
    id,
    method: e.request.method,
    authority: url.host,
    path: `${url.pathname}${url.search}`,
    status: e.response.status,
    durationMs: e.time,
    startedAt: e.startedDateTime,
    requestHeaders: headers(e.request.headers),
    responseHeaders: headers(e.response.headers)
  });
}

/* ---------- comparisons ---------- */

function change(field: string, a: unknown, b: unknown): FieldChange | null {
  const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
  return text(a) === text(b) ? null : { field, a: text(a), b: text(b) };
}

function headerChanges(a: Record<string, string | string[]>, b: Record<string, string | string[]>): FieldChange[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return names
    .map((n) => change(n, a[n] === undefined ? null : headerValue(a[n]), b[n] === undefined ? null : headerValue(b[n])))
    .filter((c): c is FieldChange => c !== null);
}

function bodyDiff(a: FlowRecord['requestBody'], b: FlowRecord['requestBody']): BodyDiff {
  const ta = a?.encoding === 'base64' ? null : (a?.data ?? '');
  const tb = b?.encoding === 'base64' ? null : (b?.data ?? '');
  if (ta === null || tb === null) return { same: a?.data === b?.data, lines: [] };
  if (ta === tb) return { same: true, lines: ta === '' ? [] : ta.split('\n').map((text) => ({ op: '=', text })) };
  const la = ta === '' ? [] : ta.split('\n');
  const lb = tb === '' ? [] : tb.split('\n');
  const lines: BodyDiff['lines'] = [];
  let i = 0;
  let j = 0;
  while (i < la.length || j < lb.length) {
    if (i < la.length && j < lb.length && la[i] === lb[j]) {
      lines.push({ op: '=', text: la[i]! });
      i++;
      j++;
    } else if (i < la.length && !lb.slice(j).includes(la[i]!)) {
      lines.push({ op: '-', text: la[i++]! });
    } else if (j < lb.length) {
      lines.push({ op: '+', text: lb[j++]! });
    } else {
      lines.push({ op: '-', text: la[i++]! });
    }
  }
  return { same: false, lines };
}

export function compareFlowRecords(a: FlowRecord, b: FlowRecord): FlowComparison {
  const fields: [string, (f: FlowRecord) => unknown][] = [
    ['method', (f) => f.method],
    ['path', (f) => f.path],
    ['status', (f) => f.status],
    ['flags', (f) => f.flags],
    ['durationMs', (f) => f.durationMs],
    ['source', (f) => f.source],
    ['destination', (f) => f.destination],
    ['route', (f) => f.rule],
    ['subset', (f) => f.subset],
    ['endpoint', (f) => f.endpoint]
  ];
  return {
    a,
    b,
    changes: fields.map(([n, get]) => change(n, get(a), get(b))).filter((c): c is FieldChange => c !== null),
    requestHeaders: headerChanges(a.requestHeaders, b.requestHeaders),
    responseHeaders: headerChanges(a.responseHeaders, b.responseHeaders),
    requestBody: bodyDiff(a.requestBody, b.requestBody),
    responseBody: bodyDiff(a.responseBody, b.responseBody)
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** One record per request: the caller's (source reporter) when both sidecars reported it. */
function uniqueRequests(flows: FlowRecord[]): FlowRecord[] {
  const seen = new Map<string, FlowRecord>();
  for (const f of flows) {
    const prev = seen.get(f.requestId);
    if (!prev || (prev.reporter === 'destination' && f.reporter === 'source')) seen.set(f.requestId, f);
  }
  return [...seen.values()];
}

function callStats(flows: FlowRecord[]): Map<string, CallStats> {
  const out = new Map<string, CallStats>();
  const durations = new Map<string, number[]>();
  for (const f of uniqueRequests(flows)) {
    const caller = f.source ?? 'unknown';
    const service = shortService(f.destinationService) ?? f.authority;
    const path = f.path.split('?')[0]!;
    const key = `${caller} → ${service} ${f.method} ${path}`;
    const c = out.get(key) ?? {
      key,
      caller,
      service,
      method: f.method,
      path,
      count: 0,
      statuses: {},
      p50Ms: 0,
      p99Ms: 0
    };
    c.count++;
    c.statuses[String(f.status)] = (c.statuses[String(f.status)] ?? 0) + 1;
    out.set(key, c);
    durations.set(key, [...(durations.get(key) ?? []), f.durationMs]);
  }
  for (const c of out.values()) {
    const ds = durations.get(c.key)!.sort((x, y) => x - y);
    c.p50Ms = percentile(ds, 50);
    c.p99Ms = percentile(ds, 99);
  }
  return out;
}

function compareSessionFlows(api: FakeApi, a: FakeSession, b: FakeSession): SessionComparison {
  const sa = callStats(api.flows.filter((f) => sessionOf(api, f) === a.id));
  const sb = callStats(api.flows.filter((f) => sessionOf(api, f) === b.id));
  const same = (x: CallStats, y: CallStats): boolean =>
    JSON.stringify(Object.entries(x.statuses).sort()) === JSON.stringify(Object.entries(y.statuses).sort());
  const result: SessionComparison = {
    a: sessionView(api, a),
    b: sessionView(api, b),
    added: [...sb.values()].filter((c) => !sa.has(c.key)),
    missing: [...sa.values()].filter((c) => !sb.has(c.key)),
    changed: [],
    unchanged: 0
  };
  for (const [key, x] of sa) {
    const y = sb.get(key);
    if (!y) continue;
    if (same(x, y)) result.unchanged++;
    else result.changed.push({ key, a: x, b: y, statusChanged: true, p50DeltaMs: y.p50Ms - x.p50Ms });
  }
  return result;
}

/* ---------- traces ---------- */

export function traceSpans(flows: FlowRecord[]): SpanView[] {
  if (flows.length === 0) return [];
  const t0 = Math.min(...flows.map((f) => Date.parse(f.startedAt)));
  return flows
    .filter((f) => f.traceId !== undefined && f.spanId !== undefined)
    .map((f) => ({
      traceId: f.traceId!,
      spanId: f.spanId!,
      parentSpanId: f.parentSpanId ?? null,
      flowId: f.id,
      kind: f.reporter === 'source' ? ('client' as const) : ('server' as const),
      name: `${f.destinationService ?? f.authority}:${f.authority.split(':')[1] ?? '80'}/*`,
      workload: f.reporter === 'source' ? f.source : f.destination,
      startedAt: f.startedAt,
      offsetMs: Date.parse(f.startedAt) - t0,
      durationMs: f.durationMs,
      status: f.status,
      flags: f.flags
    }))
    .sort((x, y) => x.offsetMs - y.offsetMs);
}

/* ---------- graph and metrics ---------- */

const isErr = (f: FlowRecord): boolean => f.status >= 500 || f.status < 100;

/** Flows in the window ending at `api.now()` (all flows, ending at the newest, when the fake has no clock). */
function windowed(api: FakeApi, windowSec: number): { flows: FlowRecord[]; since: number; until: number } {
  const times = api.flows.map((f) => Date.parse(f.startedAt));
  const until = api.now ? api.now() : times.length > 0 ? Math.max(...times) + 1 : 0;
  const since = api.now ? until - windowSec * 1000 : times.length > 0 ? Math.min(...times) : 0;
  return {
    flows: api.flows.filter((f) => {
      const t = Date.parse(f.startedAt);
      return t >= since && t < until;
    }),
    since,
    until
  };
}

function health(requests: number, errorRate: number): GraphNode['health'] {
  if (requests === 0) return 'idle';
  if (errorRate >= 0.2) return 'failing';
  return errorRate > 0 ? 'degraded' : 'healthy';
}

export function graphOf(api: FakeApi, windowSec: number, session?: number): GraphView {
  const w = windowed(api, windowSec);
  const flows = uniqueRequests(w.flows.filter((f) => session === undefined || sessionOf(api, f) === session));
  const nodes = new Map<string, GraphNode>();
  const node = (id: string, kind: GraphNode['kind'], service: string | null, namespace: string | null): GraphNode => {
    let n = nodes.get(id);
    if (!n) {
      n = { id, kind, label: id, service, namespace, requests: 0, errorRate: 0, health: 'idle' };
      nodes.set(id, n);
    }
    return n;
  };
  for (const wl of api.workloads) node(wl.name, 'workload', wl.service, wl.namespace);
  const edges = new Map<string, { e: GraphEdge; durations: number[]; errors: number; mtls: Set<string> }>();
  const served = new Map<string, { requests: number; errors: number }>();
  for (const f of flows) {
    const from = f.source ?? 'unknown';
    if (!nodes.has(from)) node(from, f.source === null ? 'unknown' : 'workload', null, null);
    const to = f.destination ?? shortService(f.destinationService) ?? f.authority.split(':')[0]!;
    if (!nodes.has(to))
      node(
        to,
        f.destination === null && f.destinationService === null ? 'external' : 'service',
        shortService(f.destinationService),
        null
      );
    const id = `${from}->${to}`;
    const entry = edges.get(id) ?? {
      e: {
        id,
        from,
        to,
        service: f.destinationService,
        requests: 0,
        rps: 0,
        errorRate: 0,
        p50Ms: 0,
        p99Ms: 0,
        mtls: 'none' as const
      },
      durations: [],
      errors: 0,
      mtls: new Set<string>()
    };
    entry.e.requests++;
    entry.durations.push(f.durationMs);
    if (isErr(f)) entry.errors++;
    entry.mtls.add(f.connectionSecurity ?? 'none');
    edges.set(id, entry);
    const s = served.get(to) ?? { requests: 0, errors: 0 };
    s.requests++;
    if (isErr(f)) s.errors++;
    served.set(to, s);
  }
  const span = Math.max(1, (w.until - w.since) / 1000);
  const outEdges = [...edges.values()].map(({ e, durations, errors, mtls }) => {
    const sorted = durations.sort((x, y) => x - y);
    return {
      ...e,
      rps: e.requests / (api.now ? windowSec : span),
      errorRate: errors / e.requests,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      mtls: mtls.size > 1 ? ('mixed' as const) : mtls.has('mutual_tls') ? ('mutual_tls' as const) : ('none' as const)
    };
  });
  for (const n of nodes.values()) {
    const s = served.get(n.id);
    n.requests = s?.requests ?? 0;
    n.errorRate = s && s.requests > 0 ? s.errors / s.requests : 0;
    n.health = health(n.requests, n.errorRate);
  }
  return {
    since: new Date(w.since).toISOString(),
    until: new Date(w.until).toISOString(),
    windowSec,
    nodes: [...nodes.values()],
    edges: outEdges
  };
}

export function metricsOf(api: FakeApi, service: string, windowSec: number, stepSec: number): MetricsPoint[] {
  const times = api.flows.map((f) => Date.parse(f.startedAt));
  const until = api.now ? api.now() : times.length > 0 ? Math.max(...times) + 1 : 0;
  const since = until - windowSec * 1000;
  const step = stepSec * 1000;
  const flows = uniqueRequests(api.flows.filter((f) => serviceMatches(f, service)));
  const points: MetricsPoint[] = [];
  for (let t = since; t < until; t += step) {
    const inBucket = flows.filter((f) => {
      const at = Date.parse(f.startedAt);
      return at >= t && at < Math.min(t + step, until);
    });
    const d = inBucket.map((f) => f.durationMs).sort((x, y) => x - y);
    const n = inBucket.length;
    points.push({
      t: new Date(t).toISOString(),
      requests: n,
      rps: n / stepSec,
      errorRate: n > 0 ? inBucket.filter(isErr).length / n : 0,
      p50Ms: n > 0 ? percentile(d, 50) : null,
      p90Ms: n > 0 ? percentile(d, 90) : null,
      p99Ms: n > 0 ? percentile(d, 99) : null
    });
  }
  return points;
}
