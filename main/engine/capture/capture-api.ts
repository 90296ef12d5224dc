/**
 * The capture half of MeshApi: sessions, HAR export and import, replay, compare, traces, the service graph and the
 * per-service metrics series. Everything reads the flow store; replay sends a real request through a sidecar.
 */
import http from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import {
  NOT_REPLAYED_HEADERS,
  type FlowQuery,
  type FlowRecord,
  type GraphNode,
  type GraphView,
  type Har,
  type MeshApi,
  type MetricsSeries,
  type ReplayRequest,
  type SessionView,
  type SpanView,
  type TraceView
} from '../../contract/api.js';
import { ErrorCodes, MeshError } from '../../contract/errors.js';
import type { Snapshot } from '../snapshot.js';
import type { FlowStore } from './flow-store.js';
import { operationName } from '../telemetry/tracing.js';
import { REPLAY_HEADER } from '../sidecar/exchange.js';
import { flowsToHar, harToFlows, withoutServerDuplicates } from './har.js';
import { compareFlows, compareSessions } from './compare.js';

export type CaptureApi = Pick<
  MeshApi,
  | 'listSessions'
  | 'startSession'
  | 'stopSession'
  | 'deleteSession'
  | 'exportHar'
  | 'importHar'
  | 'replayFlow'
  | 'compareFlows'
  | 'compareSessions'
  | 'getTrace'
  | 'getGraph'
  | 'getMetrics'
>;

export interface CaptureDeps {
  store(): FlowStore;
  snapshot(): Snapshot;
  /** Port of a listener by key (`out:<wl>`, `in:<wl>#<i>`), undefined when absent. */
  listenerPort(key: string): number | undefined;
  /** The first recorded flow of a request that `match` accepts (rejects after `timeoutMs`). */
  nextFlow(requestId: string, match: (flow: FlowRecord) => boolean, timeoutMs: number): Promise<FlowRecord>;
  /** "localmesh x.y.z" for the HAR creator. */
  version: string;
  now?: () => number;
}

/** Most entries one HAR export holds. */
export const HAR_EXPORT_LIMIT = 10_000;
/** Most buckets one metrics series may have. */
const MAX_POINTS = 2000;

export function createCaptureApi(d: CaptureDeps): CaptureApi {
  const now = d.now ?? Date.now;
  const flowOr404 = (id: string): FlowRecord => {
    const f = d.store().get(id);
    if (!f) throw new MeshError(ErrorCodes.NOT_FOUND, `no flow ${id}`);
    return f;
  };
  const sessionOr404 = (id: number): SessionView => {
    const s = d.store().session(id);
    if (!s) throw new MeshError(ErrorCodes.NOT_FOUND, `no capture session ${id}`);
    return s;
  };
  /** Store errors about the user's request (deleting the current session…) become 400s. */
  const asBadRequest = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof MeshError) throw e;
      throw new MeshError(ErrorCodes.BAD_REQUEST, (e as Error).message);
    }
  };

  const asBadRequestAsync = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof MeshError) throw e;
      throw new MeshError(ErrorCodes.BAD_REQUEST, (e as Error).message);
    }
  };

  return {
    async listSessions() {
      return d.store().sessionsAsync();
    },
    async startSession(q) {
      return d.store().startSession(q?.label);
    },
    async stopSession() {
      return asBadRequest(() => d.store().stopSession());
    },
    async deleteSession({ id }) {
      sessionOr404(id);
      await asBadRequestAsync(() => d.store().deleteSessionAsync(id));
    },

    async exportHar(q?: FlowQuery): Promise<Har> {
      checkFlowQuery(d.store(), q);
      const query: FlowQuery = { ...q, limit: Math.min(q?.limit ?? HAR_EXPORT_LIMIT, HAR_EXPORT_LIMIT) };
      // with their bodies, in one query
      let flows = await d.store().listAsync(query, { bodies: true });
      // a call between two sidecars is two flows; one HAR entry per call unless the caller asked for a reporter
      if (!q?.reporter) flows = withoutServerDuplicates(flows);
      return flowsToHar(flows, { name: 'localmesh', version: d.version });
    },
    async importHar({ har, label, reuse }) {
      // what was imported, by content: the HAR as parsed, in its own key order
      const digest = createHash('sha256').update(JSON.stringify(har)).digest('hex');
      if (reuse) {
        const before = d.store().findImport(digest);
        if (before) return before;
      }
      let flows: FlowRecord[];
      try {
        flows = harToFlows(har);
      } catch (e) {
        throw new MeshError(ErrorCodes.BAD_REQUEST, `not a usable HAR file: ${(e as Error).message}`);
      }
      return d.store().importSession(label ?? `HAR import ${new Date(now()).toISOString()}`, flows, digest);
    },

    async replayFlow(q: ReplayRequest) {
      return replay(d, flowOr404(q.id), q);
    },

    async compareFlows({ a, b }) {
      return compareFlows(flowOr404(a), flowOr404(b));
    },
    async compareSessions({ a, b }) {
      const sa = sessionOr404(a);
      const sb = sessionOr404(b);
      const all = (id: number) => d.store().listAsync({ session: id, limit: 100_000 });
      return compareSessions(sa, await all(a), sb, await all(b));
    },

    async getTrace({ traceId }): Promise<TraceView> {
      const flows = await d.store().listAsync({ traceId, limit: 1000 });
      if (flows.length === 0) throw new MeshError(ErrorCodes.NOT_FOUND, `no flows recorded for trace ${traceId}`);
      return { traceId, spans: toSpans(flows, d.snapshot()) };
    },

    async getGraph(q): Promise<GraphView> {
      if (q?.session !== undefined) sessionOr404(q.session);
      const windowSec = q?.windowSec ?? 300;
      const until = new Date(now()).toISOString();
      const since = new Date(now() - windowSec * 1000).toISOString();
      const g = await d.store().graphAsync({ since, until, session: q?.session });
      // every workload of the mesh is a node, idle when it saw no calls in the window
      const nodes = [...g.nodes];
      const byId = new Map(nodes.map((n) => [n.id, n]));
      for (const w of d.snapshot().registry.workloads) {
        const seen = byId.get(w.name);
        if (seen) {
          seen.service ??= w.service;
          seen.namespace ??= w.namespace;
        } else nodes.push(idleNode(w.name, w.service, w.namespace));
      }
      return { since, until, windowSec, nodes, edges: g.edges };
    },

    async getMetrics(q): Promise<MetricsSeries> {
      const windowSec = q.windowSec ?? 900;
      const stepSec = q.stepSec ?? 10;
      if (windowSec / stepSec > MAX_POINTS) {
        throw new MeshError(
          ErrorCodes.BAD_REQUEST,
          `windowSec/stepSec = ${Math.ceil(windowSec / stepSec)} buckets; at most ${MAX_POINTS}: use a larger stepSec`
        );
      }
      const service = resolveService(d.snapshot(), q.service);
      const end = Math.ceil(now() / (stepSec * 1000)) * stepSec * 1000;
      const until = new Date(end).toISOString();
      const since = new Date(end - windowSec * 1000).toISOString();
      const points = await d.store().metricsSeriesAsync({ service, since, until, stepSec });
      return { service, windowSec, stepSec, points };
    }
  };
}

/**
 * A flow query's session exists: a session that does not is a 404, not an empty list a client would read as "no
 * flows yet". (The flow `before` pages from may be gone by retention, which deletes the oldest first: an empty page
 * is then the right answer, so it is not checked.)
 */
export function checkFlowQuery(store: FlowStore, q: FlowQuery | undefined): void {
  if (q?.session !== undefined && !store.session(q.session))
    throw new MeshError(ErrorCodes.NOT_FOUND, `no capture session ${q.session}`);
  // a page's cursor that names no flow (a typo, or a flow retention or a clear dropped): an empty page would read as
  // the end of the list
  if (q?.before !== undefined && !store.get(q.before))
    throw new MeshError(
      ErrorCodes.NOT_FOUND,
      `no flow ${q.before} to page before (it may have been dropped since: list again without before)`
    );
}

function idleNode(id: string, service: string, namespace: string): GraphNode {
  return { id, kind: 'workload', label: id, service, namespace, requests: 0, errorRate: 0, health: 'idle' };
}

/** A mesh service by short name, name.namespace or FQDN; other hosts pass through as given. */
function resolveService(snap: Snapshot, name: string): string {
  const s = snap.registry.services.find(
    (x) => x.fqdn === name || x.name === name || `${x.name}.${x.namespace}` === name
  );
  return s?.fqdn ?? name;
}

export function toSpans(flows: FlowRecord[], snap: Snapshot): SpanView[] {
  const withIds = flows.filter((f) => f.traceId && f.spanId);
  const t0 = Math.min(...withIds.map((f) => Date.parse(f.startedAt)));
  return withIds
    .map((f) => ({
      traceId: f.traceId!,
      spanId: f.spanId!,
      parentSpanId: f.parentSpanId ?? null,
      flowId: f.id,
      kind: f.reporter === 'source' ? ('client' as const) : ('server' as const),
      name: operationName(f, snap.registry),
      workload: f.reporter === 'source' ? f.source : f.destination,
      startedAt: f.startedAt,
      offsetMs: Date.parse(f.startedAt) - t0,
      durationMs: f.durationMs,
      status: f.status,
      flags: f.flags
    }))
    .sort((a, b) => a.offsetMs - b.offsetMs || (a.kind === b.kind ? 0 : a.kind === 'client' ? -1 : 1));
}

/** The request a replay sends: the captured one, minus per-hop and per-request headers, with the user's edits. */
export function replayRequest(
  f: FlowRecord,
  q: ReplayRequest
): { method: string; path: string; headers: Record<string, string | string[]>; body: Buffer } {
  const edit = q.edit ?? {};
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(f.requestHeaders))
    if (!NOT_REPLAYED_HEADERS.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  for (const [k, v] of Object.entries(edit.headers ?? {})) {
    const name = k.toLowerCase();
    if (v === null) delete headers[name];
    else headers[name] = v;
  }
  let body: Buffer;
  if (edit.body !== undefined) body = Buffer.from(edit.body, edit.bodyEncoding === 'base64' ? 'base64' : 'utf8');
  else if (f.requestBody) {
    if (f.requestBody.truncated) {
      throw new MeshError(
        ErrorCodes.BAD_REQUEST,
        `the captured request body of ${f.id} was truncated (${f.requestBody.size} bytes sent, ${Buffer.byteLength(f.requestBody.data, f.requestBody.encoding)} kept): give the body to replay`
      );
    }
    body = Buffer.from(f.requestBody.data, f.requestBody.encoding);
  } else body = Buffer.alloc(0);
  headers['content-length'] = String(body.length);
  return { method: edit.method ?? f.method, path: edit.path ?? f.path, headers, body };
}

/**
 * Resend a captured request as the same caller: through the caller's outbound sidecar (or the `as` workload's), or,
 * for a caller without sidecar, straight to an inbound sidecar of the destination workload. The new flow carries
 * `replayOf`; the sidecar reads it from x-localmesh-replay-of and does not forward that header.
 */
async function replay(d: CaptureDeps, f: FlowRecord, q: ReplayRequest): Promise<FlowRecord> {
  const snap = d.snapshot();
  const caller = q.as ?? (f.reporter === 'source' ? f.source : f.source);
  const req = replayRequest(f, q);
  // the Host the request names: the recorded one, or the edit's (the request goes to that host, as the app's would)
  const editedHost = Object.entries(q.edit?.headers ?? {}).find(([k]) => k.toLowerCase() === 'host')?.[1];
  const authority = typeof editedHost === 'string' && editedHost !== '' ? editedHost : f.authority;
  const requestId = randomUUID();
  req.headers['x-request-id'] = requestId;
  req.headers[REPLAY_HEADER] = f.id;
  let port: number | undefined;
  let target: string;
  let reporter: FlowRecord['reporter'];
  if (caller) {
    const w = snap.registry.workloadByName.get(caller);
    if (!w) throw new MeshError(ErrorCodes.NOT_FOUND, `no workload ${caller} to replay as`);
    if (!w.sidecar)
      throw new MeshError(
        ErrorCodes.BAD_REQUEST,
        `workload ${caller} has no sidecar; replay as a workload with one (as: <workload>)`
      );
    port = d.listenerPort(`out:${caller}`);
    target = `http://${authority}${req.path}`;
    reporter = 'source';
  } else {
    // the recorded destination workload, else (a request from a browser's HAR) a workload with a sidecar of the
    // service its Host names: sent to that inbound sidecar, as from a caller without a sidecar
    let key: string | undefined;
    const dest = f.destination ? snap.registry.workloadByName.get(f.destination) : undefined;
    if (dest?.sidecar && authority === f.authority) key = dest.instances[0]?.key;
    else if (!dest || authority !== f.authority) {
      const svc = snap.registry.resolveAuthority(authority, snap.mesh.spec.namespace)?.service;
      key = svc?.endpoints.find((e) => e.workload?.sidecar && e.instance)?.instance?.key;
    }
    if (!key)
      throw new MeshError(
        ErrorCodes.BAD_REQUEST,
        `flow ${f.id} has neither a caller with a sidecar nor a destination with one (Host ${authority || 'none'} names no mesh service with a sidecar); replay it as a workload (as: <workload>)`
      );
    port = d.listenerPort(`in:${key}`);
    target = req.path;
    req.headers.host = authority;
    reporter = 'destination';
  }
  if (port === undefined) throw new MeshError(ErrorCodes.INTERNAL, `no sidecar listener for the replay of ${f.id}`);
  // the sidecar records the flow when the response has been sent: listen for it before sending (bounded)
  // the replay's own flow: the sidecar it was sent to took the replay marker (the calls it causes carry the same
  // x-request-id when the app forwards it, and finish first)
  const recorded = d.nextFlow(requestId, (x) => x.reporter === reporter && x.replayOf === f.id, 65_000);
  recorded.catch(() => undefined); // a failed send below reports instead
  await send(port, req.method, target, req.headers, req.body);
  try {
    return await recorded;
  } catch {
    throw new MeshError(
      ErrorCodes.INTERNAL,
      `the replay of ${f.id} was sent (x-request-id ${requestId}) but its flow was not recorded`
    );
  }
}

function send(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string | string[]>,
  body: Buffer
): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    r.setTimeout(60_000, () => r.destroy(new Error(`replay timed out after 60 s`)));
    r.on('error', (e) => reject(new MeshError(ErrorCodes.INTERNAL, `replay failed: ${e.message}`)));
    r.end(body);
  });
}
