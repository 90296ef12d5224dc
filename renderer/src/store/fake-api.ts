/** A scriptable MeshApi for the store tests (no engine, no network). */
import type {
  ConfigView,
  EditPlan,
  FlowRecord,
  MeshApi,
  MeshEvent,
  ReloadResult,
  SecurityView,
  ValidationIssue,
  WorkloadView
} from '../../../main/contract/api.js';

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

export interface FakeApi extends MeshApi {
  emit(event: MeshEvent): void;
  calls: { method: string; args: unknown[] }[];
  workloads: WorkloadView[];
  flows: FlowRecord[];
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
    emit: (e) => listeners.forEach((l) => l(e)),
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
    listFlows: async (q) => rec('listFlows', [q], api.flows.slice(-(q?.limit ?? 100))),
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
      api.flows = [];
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
    restartProcess: async (w, i) => rec('restartProcess', [w, i], undefined),
    stopProcess: async (w, i) => rec('stopProcess', [w, i], undefined),
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    }
  };
  function rec<T>(method: keyof MeshApi, args: unknown[], result: T): T {
    const failure = api.fail[method];
    if (failure) throw failure;
    api.calls.push({ method, args });
    return result;
  }
  return api;
}
