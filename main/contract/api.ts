/**
 * MeshApi: the one contract the CLI, the UI (over IPC or HTTP) and the tests program against.
 * Async verb methods plus `onX` event subscriptions. Transports are generated from `MESH_API_METHODS`.
 */
import type { SourcePos } from './errors.js';
import type { QuickAction } from './quick-actions.js';

export type { QuickAction };

export type Severity = 'error' | 'warning' | 'info';

/** One problem found in the mesh file or an Istio file. */
export interface ValidationIssue {
  severity: Severity;
  /** Stable code: LMxxx for the mesh file, ISTxxxx (Istio-style) for Istio resources. */
  code: string;
  message: string;
  /** Field path inside the document, e.g. "spec.http[0].route[1].weight". */
  path: string;
  where: SourcePos;
  /** "VirtualService default/reviews" when the issue belongs to a resource. */
  resource?: string;
}

/** One issue as a line: `file:line:column: severity CODE field.path: message` (`file` as the caller shows it). */
export function issueLine(i: ValidationIssue, file: string): string {
  return `${file}:${i.where.line}:${i.where.column}: ${i.severity} ${i.code}${i.path ? ` ${i.path}` : ''}: ${i.message}`;
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface InstanceView {
  /** Where the app listens, as written in the mesh file. */
  address: string;
  /** The inbound sidecar in front of it (null when the workload has no sidecar). */
  inbound: Endpoint | null;
}

export type ProcessState = 'starting' | 'running' | 'crashed' | 'restarting' | 'stopped' | 'failed';

export interface ProcessView {
  instance: string;
  state: ProcessState;
  pid: number | null;
  restarts: number;
  lastExitCode: number | null;
  command: string;
}

export interface WorkloadView {
  name: string;
  service: string;
  /** The port callers use for the service (http://reviews:9080). */
  servicePort: number;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  sidecar: boolean;
  /** The outbound sidecar the app sends its calls to (HTTP proxy or Host header); null without sidecar. */
  outbound: Endpoint | null;
  /** Dedicated local port per destination service (REVIEWS_URL=http://host:port). */
  upstreams: Record<string, Endpoint>;
  instances: InstanceView[];
  processes: ProcessView[];
}

export interface ResourceView {
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  where: SourcePos;
  spec: unknown;
}

export interface ReloadResult {
  ok: boolean;
  version: number;
  at: string;
  issues: ValidationIssue[];
  /** Why the reload was rejected (the last good config keeps running). */
  error?: string;
}

export interface ConfigView {
  version: number;
  meshFile: string;
  istioPaths: string[];
  /** The Istio release whose behaviour the sidecars follow (spec.compatibilityVersion); null: the newest. */
  compatibilityVersion: string | null;
  /** spec.capture.enabled: false when flows are not recorded. */
  capture: boolean;
  resources: ResourceView[];
  issues: ValidationIssue[];
  lastReload: ReloadResult;
}

export interface HealthView {
  status: 'ok';
  version: number;
  uptimeMs: number;
  workloads: number;
}

/** One step of a request's decision trace, in order. */
export interface TraceStep {
  /** e.g. "route", "weight", "fault", "retry", "timeout", "endpoint", "local-reply", "cors", "mirror". */
  step: string;
  detail: string;
}

export interface AttemptRecord {
  attempt: number;
  endpoint: string;
  status: number;
  flags: string;
  durationMs: number;
  error?: string;
}

export type Reporter = 'source' | 'destination';

/** A captured body: text as utf8, anything else as base64; capped (see `truncated`). */
export interface BodyView {
  encoding: 'utf8' | 'base64';
  data: string;
  /** Bytes seen on the wire (may exceed what `data` holds). */
  size: number;
  truncated: boolean;
}

/** One request as one sidecar saw it. */
export interface FlowRecord {
  id: string;
  requestId: string;
  reporter: Reporter;
  /** Calling workload (null for a caller without sidecar). */
  source: string | null;
  /** Serving workload when known. */
  destination: string | null;
  /** Destination service FQDN, or the raw authority for unknown hosts. */
  destinationService: string | null;
  method: string;
  authority: string;
  path: string;
  status: number;
  /** Envoy short flags, comma-joined; "-" when none. */
  flags: string;
  durationMs: number;
  startedAt: string;
  virtualService: string | null;
  rule: string | null;
  subset: string | null;
  endpoint: string | null;
  attempts: number;
  attemptLog: AttemptRecord[];
  localReply: string | null;
  trace: TraceStep[];
  configVersion: number;
  requestHeaders: Record<string, string | string[]>;
  responseHeaders: Record<string, string | string[]>;
  /** Peer identities (SPIFFE URIs) when the hop used mutual TLS; null otherwise. */
  sourcePrincipal?: string | null;
  destinationPrincipal?: string | null;
  /** Did the hop between the sidecars use mutual TLS? ('unknown' at the client reporter without mTLS info.) */
  connectionSecurity?: 'mutual_tls' | 'none';
  /** Bodies as this sidecar saw them (capped); present on getFlow only, not on listFlows or live events. */
  requestBody?: BodyView | null;
  responseBody?: BodyView | null;
  /** Capture session the flow belongs to (set by the store). */
  sessionId?: number;
  /** W3C trace context of the span this sidecar created for the request (32 / 16 lowercase hex). */
  traceId?: string;
  spanId?: string;
  /** The caller's span (the incoming traceparent/B3 parent), null for a root span. */
  parentSpanId?: string | null;
  /** Timing phases, in ms from the moment the sidecar received the request headers. */
  timings?: FlowTimings;
  /** Id of the flow this one replays (POST replayFlow, `localmesh replay`). */
  replayOf?: string | null;
}

/** When each phase of a request ended, in ms after the request headers arrived; null when the phase never happened. */
export interface FlowTimings {
  /** The whole request body was read from the caller. */
  requestEnd: number | null;
  /** The connection to the chosen endpoint was ready (TCP, plus TLS when mTLS) for the last attempt. */
  upstreamConnected: number | null;
  /** Response headers were sent to the caller. */
  responseStart: number | null;
  /** The response was finished (= durationMs). */
  responseEnd: number;
}

/** One line a workload's process printed, as the engine keeps it (listLogs) and sends it live (the `log` event). */
export interface LogLine {
  workload: string;
  /** The instance address the process serves. */
  instance: string;
  stream: 'stdout' | 'stderr';
  /** The line without its newline; one over MAX_LOG_LINE_CHARS is cut there and ends with "… [N more characters]". */
  line: string;
  /** When the engine read the line (ISO). */
  at: string;
  /** 1 for the first line of this engine run, one more for each next line of any workload: joins history and live. */
  seq: number;
}

/** Lines the engine keeps per workload (the oldest go first), and the longest line it keeps whole. */
export const LOG_LINES_KEPT = 1000;
export const MAX_LOG_LINE_CHARS = 8192;
/** The largest `limit` listLogs takes (its default is LOG_LINES_KEPT). */
export const MAX_LOG_QUERY_LIMIT = 10_000;

/** listLogs: one workload's lines (all workloads' without), the most recent `limit` (default 1000, at most 10,000). */
export interface LogQuery {
  workload?: string;
  limit?: number;
}

/**
 * A request a sidecar started handling (event `flow-start`): what is known before it ends. Every `flow-start` is
 * followed, on the same event stream, by the `flow` event with the same id when the request ends (answered, reset,
 * abandoned by its caller; with capture off too), so a subscriber to both never keeps a request pending that ended.
 */
export interface FlowStart {
  /** The id the finished flow will have. */
  id: string;
  requestId: string;
  reporter: Reporter;
  source: string | null;
  /** Serving workload when known at the start (the inbound sidecar's own; null at the caller's). */
  destination: string | null;
  destinationService: string | null;
  method: string;
  authority: string;
  path: string;
  startedAt: string;
  /** The request headers as sent onward so far (before route header ops). */
  requestHeaders: Record<string, string | string[]>;
  replayOf: string | null;
}

/**
 * What the flow store holds (event `store`): sent when it changed (captured flows committed, retention's deletions
 * included; flows cleared; a session deleted; a HAR imported), and once to each new subscriber. Captured flows count
 * once committed (within about 0.35 s of finishing), so the number follows the store and not each `flow` event.
 */
export interface StoreTotals {
  /** Every flow stored, captured and imported: the sum of the sessions' `flows`. */
  flows: number;
  /** Flows of captured sessions (those retention applies to: spec.capture.maxFlows, maxMegabytes, maxAgeHours). */
  capturedFlows: number;
  /** Their size as stored, in bytes (what maxMegabytes limits); null for the in-memory store, which does not measure it. */
  capturedBytes: number | null;
}

export type MeshEvent =
  | { type: 'flow-start'; flow: FlowStart }
  | { type: 'flow'; flow: FlowRecord }
  | { type: 'config'; reload: ReloadResult }
  | { type: 'process'; workload: string; process: ProcessView }
  | ({ type: 'log' } & LogLine)
  | { type: 'store'; store: StoreTotals }
  | ResyncEvent;

/**
 * Events may have been missed: re-read the state (flows, sessions, workloads) instead of trusting what was built from
 * the events so far. Sent by the event stream itself, never by the engine, and to every subscriber whatever types it
 * asked for: by the admin API when a subscriber fell too far behind and events were dropped for it (`dropped` of
 * them, counted; the stream goes on with the next ones), and by the HTTP client when it had to reconnect its stream
 * (`dropped: null`, not known).
 */
export interface ResyncEvent {
  type: 'resync';
  dropped: number | null;
}

export type MeshEventType = MeshEvent['type'];

/** Every event type (`GET /api/v1/events?types=` picks from them); the record makes a new type fail to compile here. */
export const MESH_EVENT_TYPES = Object.keys({
  'flow-start': true,
  flow: true,
  config: true,
  process: true,
  log: true,
  store: true,
  resync: true
} satisfies Record<MeshEventType, true>) as readonly MeshEventType[];

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

/** Filters for listFlows and exportHar; all given filters must hold (AND). */
export interface FlowQuery {
  limit?: number;
  /** Keyset pagination: flows recorded before the flow with this id. */
  before?: string;
  /** Capture session id. */
  session?: number;
  /** ISO times: startedAt >= since, startedAt < until. */
  since?: string;
  until?: string;
  /** Calling workload; "unknown" = a caller without sidecar. */
  caller?: string;
  /** Destination service: short name ("reviews"), name.namespace or FQDN. */
  service?: string;
  /** Workload on either end (source or destination). */
  workload?: string;
  method?: string;
  status?: StatusClass;
  /** One Envoy response flag, e.g. "UF" (matches flows whose flags include it). */
  flag?: string;
  /** Case-insensitive substring of the path, a header name or value, or a captured body. */
  text?: string;
  reporter?: Reporter;
  requestId?: string;
  traceId?: string;
}

/** A capture session: one per `localmesh up`, one per user recording, one per imported HAR (read-only). */
export interface SessionView {
  id: number;
  label: string | null;
  kind: 'up' | 'user' | 'import';
  startedAt: string;
  endedAt: string | null;
  flows: number;
  /** Bytes the session's flows take in the store (records and bodies). */
  bytes: number;
  /** New flows go into this session. */
  current: boolean;
  readOnly: boolean;
}

/** HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), as far as localmesh writes and reads it. */
export interface HarNameValue {
  name: string;
  value: string;
  comment?: string;
}
export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: { mimeType: string; text: string; encoding?: string; params?: HarNameValue[]; comment?: string };
    headersSize: number;
    bodySize: number;
    comment?: string;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: {
      size: number;
      compression?: number;
      mimeType: string;
      text?: string;
      encoding?: string;
      comment?: string;
    };
    redirectURL: string;
    headersSize: number;
    bodySize: number;
    comment?: string;
  };
  cache: Record<string, unknown>;
  timings: {
    blocked?: number;
    dns?: number;
    connect?: number;
    send: number;
    wait: number;
    receive: number;
    ssl?: number;
    comment?: string;
  };
  serverIPAddress?: string;
  connection?: string;
  comment?: string;
  /** localmesh's own fields (HAR allows custom fields starting with "_"): the flow as recorded. */
  _localmesh?: Omit<FlowRecord, 'requestBody' | 'responseBody' | 'requestHeaders' | 'responseHeaders'>;
}
export interface Har {
  log: {
    version: '1.2' | string;
    creator: { name: string; version: string; comment?: string };
    browser?: { name: string; version: string };
    pages?: unknown[];
    entries: HarEntry[];
    comment?: string;
  };
}

/** Edits applied to a captured request before it is resent. */
export interface ReplayEdit {
  method?: string;
  /** Path with query, e.g. "/reviews/0?x=1". */
  path?: string;
  /** Replaces the named headers; a null value removes the header. */
  headers?: Record<string, string | null>;
  /** New body as utf8 text (or base64 with bodyEncoding: 'base64'). */
  body?: string;
  bodyEncoding?: 'utf8' | 'base64';
}

/**
 * Headers a replay never copies from the captured request (per hop, per request or per trace: the sidecar gives
 * the new request its own). The engine drops them; the UI's edit form leaves them out.
 */
export const NOT_REPLAYED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
  'x-request-id',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-localmesh-replay-of',
  'x-forwarded-client-cert',
  'x-envoy-attempt-count'
]);

export interface ReplayRequest {
  id: string;
  /** Send as this workload (through its outbound sidecar) instead of the flow's own caller. */
  as?: string;
  edit?: ReplayEdit;
}

/** A difference between two values ("a" is the first flow or session, "b" the second). */
export interface FieldChange {
  field: string;
  a: string | null;
  b: string | null;
}

export interface BodyDiff {
  same: boolean;
  /** Line diff of the two bodies as text ('=' same, '-' only in a, '+' only in b); empty when a body is binary. */
  lines: { op: '=' | '-' | '+'; text: string }[];
}

export interface FlowComparison {
  a: FlowRecord;
  b: FlowRecord;
  /** method, path, status, flags, durationMs, route, subset, endpoint, destination... that differ. */
  changes: FieldChange[];
  requestHeaders: FieldChange[];
  responseHeaders: FieldChange[];
  requestBody: BodyDiff;
  responseBody: BodyDiff;
}

/** The calls of a session grouped by "caller → service METHOD path" (path without query). */
export interface CallStats {
  key: string;
  caller: string;
  service: string;
  method: string;
  path: string;
  count: number;
  /** Status code → count. */
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

export interface SessionComparison {
  a: SessionView;
  b: SessionView;
  /** Calls seen in b but not in a. */
  added: CallStats[];
  /** Calls seen in a but not in b. */
  missing: CallStats[];
  /** Calls in both whose statuses or latency changed. */
  changed: { key: string; a: CallStats; b: CallStats; statusChanged: boolean; p50DeltaMs: number }[];
  /** Calls in both with the same statuses. */
  unchanged: number;
}

/** One hop of a trace: one flow seen as a span (client span from the source reporter, server span from the destination). */
export interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  flowId: string;
  kind: 'client' | 'server';
  /** Istio's operation name: "<service FQDN>:<port>/*". */
  name: string;
  workload: string | null;
  startedAt: string;
  /** ms after the trace's first span started. */
  offsetMs: number;
  durationMs: number;
  status: number;
  flags: string;
}

export interface TraceView {
  traceId: string;
  spans: SpanView[];
}

export interface GraphQuery {
  /** Time window in seconds ending now (default 300). */
  windowSec?: number;
  session?: number;
}

export type Health = 'healthy' | 'degraded' | 'failing' | 'idle';

export interface GraphNode {
  /** Workload name, "unknown" (callers without sidecar) or the host of an out-of-mesh destination. */
  id: string;
  kind: 'workload' | 'unknown' | 'external' | 'service';
  label: string;
  service: string | null;
  namespace: string | null;
  /** Requests the node served in the window. */
  requests: number;
  errorRate: number;
  health: Health;
}

export interface GraphEdge {
  id: string;
  from: string;
  to: string;
  /** Destination service FQDN. */
  service: string | null;
  requests: number;
  rps: number;
  /** 0..1: share of responses that were 5xx or local replies with a flag. */
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
  /** Did the calls on this edge use mutual TLS ('mixed' when some did). */
  mtls: 'mutual_tls' | 'none' | 'mixed';
}

export interface GraphView {
  since: string;
  until: string;
  windowSec: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface MetricsQuery {
  /** Service short name or FQDN. */
  service: string;
  /** Window ending now, seconds (default 900). */
  windowSec?: number;
  /** Bucket width, seconds (default 10). */
  stepSec?: number;
}

export interface MetricsPoint {
  /** Start of the bucket, ISO. */
  t: string;
  requests: number;
  rps: number;
  errorRate: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export interface MetricsSeries {
  service: string;
  windowSec: number;
  stepSec: number;
  points: MetricsPoint[];
}

/** An Istio file of the project, with the resources it holds. */
export interface IstioFileView {
  path: string;
  /** Relative to the mesh file's folder. */
  relative: string;
  resources: { kind: string; name: string; namespace: string; hosts: string[]; line: number }[];
}

export interface FileContent {
  path: string;
  content: string;
}

/** A YAML change a quick action wants to make, for the user to review as a diff before saving. */
export interface EditPlan {
  path: string;
  relative: string;
  /** '' when the file does not exist yet. */
  before: string;
  after: string;
  summary: string;
}

/** The mesh CA and one workload certificate, as the Security view shows them. */
export interface CertView {
  spiffeId: string;
  notBefore: string;
  notAfter: string;
  renewAt: string;
  keyAlgorithm: 'ec' | 'rsa';
}

export interface WorkloadSecurityView {
  workload: string;
  namespace: string;
  serviceAccount: string;
  sidecar: boolean;
  cert: CertView | null;
  /** Effective PeerAuthentication mode per instance port, and the policy that set it. */
  mtls: { port: number; mode: 'PERMISSIVE' | 'STRICT' | 'DISABLE'; source: string }[];
  /** AuthorizationPolicies selecting the workload. */
  policies: { name: string; action: string; dryRun: boolean }[];
}

/** Who may call whom: for each caller (or "unknown" = without sidecar) and destination workload, the verdict of
 * the AuthorizationPolicies for a plain GET / from that caller's identity. */
export interface AccessCell {
  from: string;
  to: string;
  allowed: boolean;
  reason: string;
}

export interface SecurityView {
  ca: {
    subject: string;
    fingerprint256: string;
    validFrom: string;
    validTo: string;
    keyAlgorithm: 'ec' | 'rsa';
    certFile: string;
  };
  workloads: WorkloadSecurityView[];
  matrix: AccessCell[];
}

export interface MeshApi {
  health(): Promise<HealthView>;
  listWorkloads(): Promise<WorkloadView[]>;
  getConfig(): Promise<ConfigView>;
  reload(): Promise<ReloadResult>;
  listFlows(query?: FlowQuery): Promise<FlowRecord[]>;
  getFlow(q: { id: string }): Promise<FlowRecord>;
  clearFlows(): Promise<void>;
  listIstioFiles(): Promise<IstioFileView[]>;
  readIstioFile(q: { path: string }): Promise<FileContent>;
  /** Validate unsaved text of one Istio file in the context of the project (live editor markers). */
  validateIstioText(file: FileContent): Promise<ValidationIssue[]>;
  /** Write an Istio file (must be inside the project's Istio paths) and reload. */
  writeIstioFile(file: FileContent): Promise<ReloadResult>;
  /** Compute the YAML a quick action would write (nothing is written). */
  planQuickAction(action: QuickAction): Promise<EditPlan>;
  getSecurity(): Promise<SecurityView>;
  listSessions(): Promise<SessionView[]>;
  /** End the current session and record into a new one labelled by the user (until stopSession). */
  startSession(q?: { label?: string }): Promise<SessionView>;
  /** End the user's session; new flows go back into the session of this `up`. Returns the ended session. */
  stopSession(): Promise<SessionView>;
  deleteSession(q: { id: number }): Promise<void>;
  /** HAR 1.2 of the flows matching the query (all pages, up to 10,000 entries; destination-reporter duplicates of a
   * source-reporter flow are left out unless `reporter` is given). */
  exportHar(q?: FlowQuery): Promise<Har>;
  /**
   * Import a HAR file as a new read-only session. With `reuse`, a session imported before from the same HAR (same
   * content: its SHA-256) is returned instead, when it is still stored (`localmesh replay file.har` runs again).
   */
  importHar(q: { har: Har; label?: string; reuse?: boolean }): Promise<SessionView>;
  /** Resend a captured request through the caller's outbound sidecar, optionally edited; returns the new flow. */
  replayFlow(q: ReplayRequest): Promise<FlowRecord>;
  compareFlows(q: { a: string; b: string }): Promise<FlowComparison>;
  compareSessions(q: { a: number; b: number }): Promise<SessionComparison>;
  getTrace(q: { traceId: string }): Promise<TraceView>;
  getGraph(q?: GraphQuery): Promise<GraphView>;
  getMetrics(q: MetricsQuery): Promise<MetricsSeries>;
  restartProcess(workload: string, instance?: string): Promise<void>;
  stopProcess(workload: string, instance?: string): Promise<void>;
  /** The recent output lines of the workloads' processes, oldest first (LM202 for a workload the mesh does not have). */
  listLogs(q?: LogQuery): Promise<LogLine[]>;
  /**
   * Subscribe to events (only those of `types` when given: the engine builds an event only while someone wants its
   * type); returns an unsubscribe function.
   */
  onEvent(listener: (event: MeshEvent) => void, types?: readonly MeshEventType[]): () => void;
}

/** The method table transports are generated from: name → HTTP verb + path. */
export const MESH_API_METHODS = {
  health: { method: 'GET', path: '/api/v1/health' },
  listWorkloads: { method: 'GET', path: '/api/v1/workloads' },
  getConfig: { method: 'GET', path: '/api/v1/config' },
  reload: { method: 'POST', path: '/api/v1/config/reload' },
  listFlows: { method: 'GET', path: '/api/v1/flows' },
  getFlow: { method: 'GET', path: '/api/v1/flow' },
  clearFlows: { method: 'POST', path: '/api/v1/flows/clear' },
  listIstioFiles: { method: 'GET', path: '/api/v1/istio/files' },
  readIstioFile: { method: 'GET', path: '/api/v1/istio/file' },
  validateIstioText: { method: 'POST', path: '/api/v1/istio/validate' },
  writeIstioFile: { method: 'POST', path: '/api/v1/istio/file/save' },
  planQuickAction: { method: 'POST', path: '/api/v1/quick-actions/plan' },
  getSecurity: { method: 'GET', path: '/api/v1/security' },
  listSessions: { method: 'GET', path: '/api/v1/sessions' },
  startSession: { method: 'POST', path: '/api/v1/sessions/start' },
  stopSession: { method: 'POST', path: '/api/v1/sessions/stop' },
  deleteSession: { method: 'POST', path: '/api/v1/sessions/delete' },
  exportHar: { method: 'GET', path: '/api/v1/flows/har' },
  importHar: { method: 'POST', path: '/api/v1/flows/har/import' },
  replayFlow: { method: 'POST', path: '/api/v1/flows/replay' },
  compareFlows: { method: 'GET', path: '/api/v1/flows/compare' },
  compareSessions: { method: 'GET', path: '/api/v1/sessions/compare' },
  getTrace: { method: 'GET', path: '/api/v1/trace' },
  getGraph: { method: 'GET', path: '/api/v1/graph' },
  getMetrics: { method: 'GET', path: '/api/v1/metrics/series' },
  restartProcess: { method: 'POST', path: '/api/v1/processes/restart' },
  stopProcess: { method: 'POST', path: '/api/v1/processes/stop' },
  listLogs: { method: 'GET', path: '/api/v1/logs' }
} as const satisfies Record<Exclude<keyof MeshApi, 'onEvent'>, { method: 'GET' | 'POST'; path: string }>;

export const EVENTS_PATH = '/api/v1/events';
