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
}

export type MeshEvent =
  | { type: 'flow'; flow: FlowRecord }
  | { type: 'config'; reload: ReloadResult }
  | { type: 'process'; workload: string; process: ProcessView }
  | { type: 'log'; workload: string; instance: string; stream: 'stdout' | 'stderr'; line: string };

export interface FlowQuery {
  limit?: number;
  /** Keyset pagination: flows recorded before the flow with this id. */
  before?: string;
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
  ca: { subject: string; fingerprint256: string; validFrom: string; validTo: string; keyAlgorithm: 'ec' | 'rsa'; certFile: string };
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
  restartProcess(workload: string, instance?: string): Promise<void>;
  stopProcess(workload: string, instance?: string): Promise<void>;
  /** Subscribe to events; returns an unsubscribe function. */
  onEvent(listener: (event: MeshEvent) => void): () => void;
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
  restartProcess: { method: 'POST', path: '/api/v1/processes/restart' },
  stopProcess: { method: 'POST', path: '/api/v1/processes/stop' }
} as const satisfies Record<Exclude<keyof MeshApi, 'onEvent'>, { method: 'GET' | 'POST'; path: string }>;

export const EVENTS_PATH = '/api/v1/events';
