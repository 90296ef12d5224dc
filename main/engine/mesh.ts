/**
 * createMesh: the engine. Loads the mesh file and the Istio files, starts one outbound sidecar per workload (plus a
 * dedicated port per destination service) and one inbound sidecar per instance, launches the `run` commands,
 * watches every file and reloads, and implements MeshApi for the CLI, the admin API and the app.
 */
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import type {
  ConfigView,
  FlowQuery,
  FlowRecord,
  HealthView,
  MeshApi,
  MeshEvent,
  MeshEventType,
  ReloadResult,
  ValidationIssue,
  WorkloadView
} from '../contract/api.js';
import { issueLine, LOG_LINES_KEPT, MESH_EVENT_TYPES, type LogQuery } from '../contract/api.js';
import { ErrorCodes, MeshError } from '../contract/errors.js';
import type { MeshFile } from '../contract/mesh-schema.js';
import { isBlocking, loadProject, type LoadedProject } from './config/load-project.js';
import { buildSnapshot, type Snapshot } from './snapshot.js';
import type { ServiceEndpoint, WorkloadInfo } from './registry.js';
import { OutboundSidecar } from './sidecar/outbound.js';
import { InboundSidecar } from './sidecar/inbound.js';
import type { SidecarHost } from './sidecar/host.js';
import type { LbState } from './sidecar/lb.js';
import { limitsOf } from './sidecar/circuit.js';
import { lifecycleOf } from './sidecar/lifecycle.js';
import { codecErrorReply, envoyResponse, reasonPhrase } from './sidecar/envoy-http.js';
import { MAX_HEADERS_COUNT, MAX_HEAD } from './sidecar/h1.js';
import { findDestinationRule, policyComponent, sidecarFor } from './config/compile.js';
import { CLUSTER_DOMAIN } from './config/hosts.js';
import { createRandom, type Random } from './util/random.js';
import { createLauncher, type LaunchSpec, type Launcher } from './launcher/launcher.js';
import { planQuickAction } from './config/quick-actions.js';
import { MeshCa, type KeyAlgorithm } from './tls/ca.js';
import { IdentityManager } from './tls/identity.js';
import { effectiveMtls } from './security/peer-authentication.js';
import { authorize, policiesFor } from './security/authorization.js';
import { jwtRulesFor, type JwtRule } from './security/jwt.js';
import { codecErrorFlow, MeshMetrics, wireSizes, type CodecErrorAt } from './telemetry/metrics.js';
import { socketAddresses, type WireSizes } from './sidecar/exchange.js';
import { accessLogLine, addressText, type AccessFacts } from './telemetry/access-log.js';
import { createSpanExporter, type FlowSpanExporter } from './telemetry/otlp.js';
import {
  memoryStore,
  openSqliteStore,
  storeOptionsFromCapture,
  withoutBodies,
  type FlowStore
} from './capture/flow-store.js';
import { checkFlowQuery } from './capture/capture-api.js';
import { createCaptureApi } from './capture/capture-api.js';
import { LOCALMESH_VERSION } from './version.js';
import type { AccessCell, SecurityView } from '../contract/api.js';
import type { EditPlan, FileContent, IstioFileView, QuickAction } from '../contract/api.js';
import type { VirtualServiceSpec } from '../contract/istio-schema.js';
import { withBodyViews } from './capture/body-view.mjs';

export interface MeshOptions {
  seed?: number;
  /** Log lines for humans (CLI prints them). */
  log?: (line: string) => void;
  /** Watch the files and reload on change (default true). */
  watch?: boolean;
  /** Launch `run` commands at start (default true); with false, call launchProcesses() later. */
  launch?: boolean;
  /** Debounce for file events before a reload (default 30 ms: one save is often several events). */
  debounceMs?: number;
  flowBufferSize?: number;
  connectTimeoutMs?: number;
  /** Lifetime of workload certificates (default 24 h, rotated at half life; tests shorten it to watch a rotation). */
  leafTtlMs?: number;
  launcherBackoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** Where the mesh CA lives (default: .localmesh beside the mesh file). */
  stateDir?: string;
  /** Key type of a newly created CA and its workload certificates (default EC P-256). */
  keyAlgorithm?: KeyAlgorithm;
  /** Where flows are kept: SQLite in the state dir (default; survives restarts) or memory. */
  store?: 'sqlite' | 'memory';
  /**
   * Serve plain HTTP/1.1 on the sidecars' raw-socket fast lane (sidecar/fast-lane.ts; default true). False, or
   * LOCALMESH_FAST_LANE=0 in the environment, keeps every request on node:http (the benchmark compares the two).
   */
  fastLane?: boolean;
  /**
   * Envoy's access log (`localmesh up --access-log`): one line per request each sidecar finished, in Istio's default
   * TEXT format (telemetry/access-log.ts).
   */
  accessLog?: (line: string) => void;
}

export interface Mesh extends MeshApi {
  readonly snapshot: Snapshot;
  /** Prometheus text of Istio's standard metrics. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Start the `run` commands now (when created with `launch: false`). */
  launchProcesses(): void;
  /** Every listener: key → port. */
  listeners(): Map<string, number>;
  close(): Promise<void>;
}

type Target = OutboundSidecar | InboundSidecar;

interface Listener {
  key: string;
  server: net.Server;
  http: http.Server;
  /** Every socket, including upgraded ones the HTTP server no longer tracks. */
  sockets: Set<net.Socket>;
  port: number;
  target: Target;
}

const KEEP_OLD_AGENTS_MS = 30_000;

/** A folder and every folder below it (not following links; skipping node_modules and dot-folders). */
function foldersUnder(root: string, out: string[] = []): string[] {
  out.push(root);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries)
    if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.'))
      foldersUnder(path.join(root, e.name), out);
  return out;
}

/** ", 1 error(s), 2 warning(s), 3 note(s)" for the issues of a config that runs ('' for none). */
function issueCounts(issues: ValidationIssue[]): string {
  const n = (severity: ValidationIssue['severity']) => issues.filter((i) => i.severity === severity).length;
  const parts = [
    [n('error'), 'error(s)'],
    [n('warning'), 'warning(s)'],
    [n('info'), 'note(s)']
  ].filter(([count]) => Number(count) > 0);
  return parts.map(([count, what]) => `, ${count} ${what}`).join('');
}

/** Start the mesh. Rejects with a MeshError (code + place) when the first load fails or a port is taken. */
export async function createMesh(meshFile: string, opts: MeshOptions = {}): Promise<Mesh> {
  const file = path.resolve(meshFile);
  const log = opts.log ?? (() => undefined);
  const random: Random = createRandom(opts.seed);
  const listeners = new Map<string, Listener>();
  /** Event subscriptions (a listener and the types it wants; null: all) and how many want each type. */
  const eventListeners = new Set<{ listener: (e: MeshEvent) => void; types: ReadonlySet<MeshEventType> | null }>();
  const subscribers: Record<MeshEventType, number> = {
    'flow-start': 0,
    flow: 0,
    config: 0,
    process: 0,
    log: 0,
    store: 0,
    resync: 0 // the event streams send it, never the engine
  };
  const flowCap = opts.flowBufferSize ?? 2000;
  const lbState: LbState = { active: new Map(), rr: new Map() };
  const started = Date.now();

  const emit = (e: MeshEvent) => {
    for (const l of eventListeners) {
      if (l.types !== null && !l.types.has(e.type)) continue;
      try {
        l.listener(e);
      } catch {
        /* a listener's failure never affects the mesh */
      }
    }
  };
  const metrics = new MeshMetrics();
  let store: FlowStore = memoryStore(flowCap); // replaced by the SQLite store once the state dir is known
  /** OTLP span export (spec.tracing.otlp); created once the project is loaded. */
  let spans: FlowSpanExporter | null = null;
  /** Who waits for a flow of a request (a replay), by x-request-id. */
  const flowWaiters = new Map<string, (flow: FlowRecord) => void>();
  const emitFlow = (flow: FlowRecord, wire?: WireSizes, stored = true) => {
    metrics.record(flow, snapshot.registry, wire ?? wireSizes(flow));
    spans?.record(flow, snapshot.registry);
    if (stored) store.append(flow);
    if (opts.accessLog) {
      try {
        opts.accessLog(accessLogLine(flow, snapshot.registry, wire && accessFacts(wire)));
      } catch {
        /* a log sink's failure never affects the mesh */
      }
    }
    if (subscribers.flow > 0) emit({ type: 'flow', flow: withoutBodies(flow) });
    if (flowWaiters.size > 0) flowWaiters.get(flow.requestId)?.(withBodyViews(flow));
  };
  /**
   * The first recorded flow of request `requestId` that `match` accepts (apps forward x-request-id, so the calls a
   * request causes share it); rejects after `timeoutMs`.
   */
  const nextFlow = (requestId: string, match: (flow: FlowRecord) => boolean, timeoutMs: number): Promise<FlowRecord> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        flowWaiters.delete(requestId);
        reject(new Error(`no flow for x-request-id ${requestId} within ${timeoutMs} ms`));
      }, timeoutMs).unref();
      flowWaiters.set(requestId, (flow) => {
        if (!match(flow)) return;
        clearTimeout(timer);
        flowWaiters.delete(requestId);
        resolve(flow);
      });
    });

  const first = loadProject(file);
  if (!first.mesh) {
    const errors = first.issues.filter(isBlocking);
    const e = errors[0];
    throw new MeshError(
      e?.code ?? ErrorCodes.MESH_SCHEMA,
      `${file}: ${errors.length} error(s) in the configuration; first: ${e ? `${e.where.file}:${e.where.line}:${e.where.column} ${e.path ? e.path + ': ' : ''}${e.message}` : 'unknown'}`,
      {
        where: e?.where,
        details: { issues: first.issues }
      }
    );
  }

  // the OTLP endpoint of the first load stays for the mesh's lifetime (a changed spec.tracing.otlp applies at the
  // next start); tracing.b3 and capture.bodyCap are read per request from the snapshot, so a reload applies them
  spans = createSpanExporter(first.mesh.spec.tracing.otlp, log);
  const stateDir = path.resolve(opts.stateDir ?? path.join(path.dirname(file), '.localmesh'));
  const ca = await MeshCa.loadOrCreate(stateDir, opts.keyAlgorithm ?? 'ec');
  if (opts.store !== 'memory') {
    store = openSqliteStore(stateDir, storeOptionsFromCapture(first.mesh.spec.capture), log);
  }
  // what the store holds, after each commit (retention's deletions included), clear, delete and import: built only
  // while someone wants it
  store.onTotals(() => {
    if (subscribers.store > 0) emit({ type: 'store', store: store.totals() });
  });
  const captureApi = createCaptureApi({
    store: () => store,
    snapshot: () => snapshot,
    listenerPort: (key) => listeners.get(key)?.port,
    nextFlow,
    version: `localmesh ${LOCALMESH_VERSION}`
  });
  const identities = new IdentityManager(
    ca,
    first.mesh.spec.trustDomain,
    (id) => log(`certificate of ${id} rotated`),
    opts.leafTtlMs
  );
  /** A value computed once per config version and key (policies per workload, modes per port). */
  function perSnapshot<A, T>(compute: (s: Snapshot, arg: A) => T): (key: string, arg: A) => T {
    const caches = new WeakMap<Snapshot, Map<string, T>>();
    return (key, arg) => {
      let m = caches.get(snapshot);
      if (!m) caches.set(snapshot, (m = new Map()));
      if (!m.has(key)) m.set(key, compute(snapshot, arg));
      return m.get(key)!;
    };
  }
  const mtlsFor = perSnapshot((s, a: { w: WorkloadInfo; port: number }) => effectiveMtls(s.resources, a.w, a.port));
  // the certificates' trust domain is the one the mesh started with; aliases apply on reload
  const authzFor = perSnapshot((s, w: WorkloadInfo) =>
    policiesFor(s.resources, w, [identities.trustDomain, ...s.mesh.spec.trustDomainAliases])
  );
  const jwtFor = perSnapshot((s, w: WorkloadInfo): JwtRule[] => jwtRulesFor(s.resources, w, project.baseDir));
  // the inbound cluster's limits: the Sidecar's inboundConnectionPool, else the connectionPool of the DestinationRule
  // for the workload's own service as the workload sees it (top level, or the service port's portLevelSettings; no
  // subset), as Istio's buildInboundClusterForPortOrUDS applies it
  const inboundConnectionPoolFor = perSnapshot((s, w: WorkloadInfo): unknown => {
    const own = sidecarFor(s.resources, w)?.spec.inboundConnectionPool;
    if (own) return own;
    const svc = s.registry.serviceByFqdn.get(`${w.service}.${w.namespace}.${CLUSTER_DOMAIN}`);
    if (!svc || s.destinationRules.length === 0) return undefined;
    // a rule's workloadSelector is honoured for outbound clusters only (Istio's SidecarScope.DestinationRule), so a
    // rule with one never applies here
    const rules = s.destinationRules.filter((d) => !d.workloadSelector);
    const dr = findDestinationRule(rules, svc.fqdn, svc.namespace, w);
    return policyComponent(dr, undefined, svc.ports[0]!, 'connectionPool');
  });
  const inboundPoolFor = perSnapshot((_s, w: WorkloadInfo) => limitsOf(inboundConnectionPoolFor(w.name, w)));
  const inboundLifecycleFor = perSnapshot((_s, w: WorkloadInfo) => lifecycleOf(inboundConnectionPoolFor(w.name, w)));

  let project: LoadedProject = first;
  let snapshot = buildSnapshot(1, first.mesh, first.resources);
  let lastReload: ReloadResult = { ok: true, version: 1, at: new Date().toISOString(), issues: first.issues };
  let currentPrint = fingerprint(first);

  /** Where a codec error happened: the reporter that counts it. */
  const codecErrorAt = (target: InboundSidecar | OutboundSidecar): CodecErrorAt =>
    target instanceof InboundSidecar
      ? { reporter: 'destination', workload: target.workload }
      : { reporter: 'source', workload: target.workload };
  /**
   * Envoy's HTTP/1 codec refused a request (400 or 431 it cannot parse, 426 for HTTP/1.0): its reply as text/plain
   * and the connection closed; the connection manager logs that stream with DPE, so istio_requests_total counts it and
   * the access log has its line (no flow is recorded: no headers arrived to name a route).
   */
  function codecError(
    sock: net.Socket,
    status: number,
    requestBytes: number,
    at: CodecErrorAt,
    details?: 'too many headers'
  ): void {
    const reply = codecErrorReply(status, at.reporter === 'destination' ? 'istio-envoy' : 'envoy');
    sock.end(reply);
    const flow = codecErrorFlow(at, status, snapshot.version, details);
    metrics.record(flow, snapshot.registry, { request: requestBytes, response: reply.length });
    if (!opts.accessLog) return;
    try {
      opts.accessLog(
        accessLogLine(flow, snapshot.registry, {
          requestBodyBytes: 0,
          responseBodyBytes: reasonPhrase(status).length,
          downstreamLocal: addressText(sock.localAddress, sock.localPort),
          downstreamRemote: addressText(sock.remoteAddress, sock.remotePort),
          requestedServerName: null
        })
      );
    } catch {
      /* a log sink's failure never affects the mesh */
    }
  }

  /** A request over Envoy's max_headers_count (100): its codec's 431, counted with DPE, no flow. */
  function tooManyHeaders(req: http.IncomingMessage, target: InboundSidecar | OutboundSidecar): void {
    const sock = req.socket as net.Socket;
    let bytes = `${req.method ?? ''} ${req.url ?? ''} HTTP/${req.httpVersion}\r\n\r\n`.length;
    for (const s of req.rawHeaders) bytes += s.length + 2; // "name: " and "value\r\n"
    codecError(sock, 431, bytes, codecErrorAt(target), 'too many headers');
  }

  const host: SidecarHost = {
    snapshot: () => snapshot,
    random,
    lbState,
    circuits: new Map(),
    emitFlow,
    flowStartSubscribers: 0,
    emitFlowStart: (ex) => emit({ type: 'flow-start', flow: ex.startRecord() }),
    connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    fastLane: opts.fastLane ?? process.env.LOCALMESH_FAST_LANE !== '0',
    identities,
    jwtRules: (w) => jwtFor(w.name, w),
    inboundPool: (w) => inboundPoolFor(w.name, w),
    inboundLifecycle: (w) => inboundLifecycleFor(w.name, w),
    codecError,
    authzPolicies: (w) => authzFor(w.name, w),
    mtlsMode: (w, port) => mtlsFor(`${w.name}|${port}`, { w, port }),
    tcpSeries: (c) => metrics.tcp(c, snapshot.registry),
    tcpPeers: new Map(),
    accessLog: opts.accessLog,
    isOwnListener(h, port) {
      if (h !== '127.0.0.1' && h !== 'localhost' && h !== '[::1]' && h !== '::1') return false;
      for (const l of listeners.values()) if (l.port === port) return true;
      return false;
    },
    deliveryAddress(ep: ServiceEndpoint) {
      if (ep.workload?.sidecar && ep.instance) {
        const l = listeners.get(`in:${ep.instance.key}`);
        if (l) return { host: '127.0.0.1', port: l.port, viaSidecar: true };
      }
      return { host: ep.host, port: ep.port, viaSidecar: false };
    },
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(new Error('aborted'));
        const t = setTimeout(resolve, ms);
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            reject(new Error('aborted'));
          },
          { once: true }
        );
      })
  };

  // ---- listeners
  function wanted(s: Snapshot): Map<string, () => Target> {
    const out = new Map<string, () => Target>();
    for (const w of s.registry.workloads) {
      if (!w.sidecar) continue;
      out.set(`out:${w.name}`, () => new OutboundSidecar(w.name, host));
      for (const inst of w.instances)
        out.set(`in:${inst.key}`, () => new InboundSidecar(w, inst, host, s.inboundIngress.get(inst.key)));
      for (const svc of s.registry.services) {
        if (svc.kind !== 'mesh') continue;
        out.set(
          `up:${w.name}:${svc.name}.${svc.namespace}`,
          () =>
            new OutboundSidecar(w.name, host, {
              service: { name: svc.name, namespace: svc.namespace, port: svc.ports[0]! }
            })
        );
      }
    }
    return out;
  }

  function listen(key: string, target: Target, port: number, mesh: MeshFile): Promise<Listener> {
    return new Promise((resolve, reject) => {
      // the port is a raw TCP listener: an inbound sidecar sniffs TLS vs plaintext before HTTP sees the bytes
      const httpServer = http.createServer({
        keepAliveTimeout: 0,
        requestTimeout: 0,
        headersTimeout: 60_000,
        maxHeaderSize: MAX_HEAD
      });
      const server = net.createServer({ pauseOnConnect: false });
      const l: Listener = { key, server, http: httpServer, port, target, sockets: new Set() };
      server.on('connection', (sock: net.Socket) => {
        l.sockets.add(sock);
        sock.once('close', () => l.sockets.delete(sock));
        sock.on('error', () => sock.destroy());
        l.target.accept(sock, httpServer);
      });
      httpServer.on('request', (req, res) => {
        // more header lines than Envoy's codec takes (the fast lane leaves such a head to node:http)
        if (req.rawHeaders.length > 2 * MAX_HEADERS_COUNT) return tooManyHeaders(req, l.target);
        l.target.handle(req, envoyResponse(res));
      });
      httpServer.on('upgrade', (req, sock, head) => l.target.upgrade(req, sock, head));
      // CONNECT: a tunnel on an outbound proxy port; an inbound sidecar has no proxy to offer
      httpServer.on('connect', (req, sock, head) => {
        if (l.target instanceof OutboundSidecar) l.target.connect(req, sock, head);
        else sock.end('HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      });
      // a request node:http cannot parse (the fast lane hands such bytes to it): Envoy's HTTP/1 codec answers 400
      // (431 for headers over its limit) with the reason as a text/plain body and closes the connection
      httpServer.on('clientError', (err: NodeJS.ErrnoException, sock) => {
        if (!sock.writable) {
          sock.destroy();
          return;
        }
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
        const target = l.target;
        // Envoy logs the stream of that reply: istio_requests_total counts a parse error (no flow is recorded)
        if (!err.code?.startsWith('HPE_')) {
          sock.end(codecErrorReply(status, target instanceof InboundSidecar ? 'istio-envoy' : 'envoy'));
          return;
        }
        const raw = (err as { rawPacket?: Buffer }).rawPacket;
        codecError(sock as net.Socket, status, raw?.length ?? 0, codecErrorAt(target));
      });
      server.once('error', (err: NodeJS.ErrnoException) => {
        const what = describeListener(key);
        if (err.code === 'EADDRINUSE') {
          reject(
            new MeshError(
              ErrorCodes.PORT_IN_USE,
              `port ${port} for ${what} is already in use${mesh.spec.portBase ? ` (spec.portBase ${mesh.spec.portBase}); choose another portBase or stop the program using it` : ''}`,
              { where: { file, line: 1, column: 1 } }
            )
          );
        } else
          reject(
            new MeshError(ErrorCodes.LISTEN_FAILED, `cannot listen for ${what} on 127.0.0.1:${port}: ${err.message}`)
          );
      });
      server.listen(port, '127.0.0.1', () => {
        l.port = (server.address() as net.AddressInfo).port;
        resolve(l);
      });
    });
  }

  async function reconcile(s: Snapshot): Promise<void> {
    const want = wanted(s);
    for (const [key, l] of listeners) {
      if (!want.has(key)) {
        listeners.delete(key);
        await closeListener(l);
      }
    }
    const base = s.mesh.spec.portBase;
    let next = base;
    const used = new Set([...listeners.values()].map((l) => l.port));
    for (const [key, make] of want) {
      const existing = listeners.get(key);
      const target = make();
      if (existing) {
        const old = existing.target;
        existing.target = target;
        setTimeout(() => old.close(), KEEP_OLD_AGENTS_MS).unref();
        continue;
      }
      let port = 0;
      if (base > 0) {
        while (used.has(next)) next++;
        port = next++;
      }
      const l = await listen(key, target, port, s.mesh);
      used.add(l.port);
      listeners.set(key, l);
    }
  }

  async function closeListener(l: Listener): Promise<void> {
    l.target.close();
    await new Promise<void>((resolve) => {
      l.server.close(() => resolve());
      l.http.closeAllConnections();
      for (const sock of l.sockets) sock.destroy();
    });
  }

  async function ensureIdentities(s: Snapshot): Promise<void> {
    await Promise.all(
      s.registry.workloads.filter((w) => w.sidecar).map((w) => identities.ensure(w.namespace, w.serviceAccount))
    );
  }

  try {
    await ensureIdentities(snapshot);
    await reconcile(snapshot);
  } catch (e) {
    for (const l of listeners.values()) await closeListener(l);
    store.close();
    await spans?.close();
    throw e;
  }

  // ---- processes
  const launcher: Launcher = createLauncher({
    onEvent: emit,
    log,
    backoff: opts.launcherBackoff
  });
  function launchSpecs(s: Snapshot, proj: LoadedProject): LaunchSpec[] {
    const specs: LaunchSpec[] = [];
    for (const svc of s.mesh.spec.services) {
      for (const w of svc.workloads) {
        if (!w.run) continue;
        const info = s.registry.workloadByName.get(w.name)!;
        for (const inst of info.instances) {
          const env: Record<string, string> = {
            ...w.run.env,
            PORT: String(inst.port),
            NO_PROXY: 'localhost,127.0.0.1',
            no_proxy: 'localhost,127.0.0.1',
            LOCALMESH_WORKLOAD: w.name
          };
          const out = listeners.get(`out:${w.name}`);
          if (out) {
            env.HTTP_PROXY = `http://127.0.0.1:${out.port}`;
            env.http_proxy = env.HTTP_PROXY;
            // https:// calls tunnel through the same port (CONNECT), so the egress policy applies to them too
            env.HTTPS_PROXY = env.HTTP_PROXY;
            env.https_proxy = env.HTTP_PROXY;
          }
          for (const other of s.registry.services) {
            if (other.kind !== 'mesh') continue;
            const envName = `${other.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL`;
            const up = listeners.get(`up:${w.name}:${other.name}.${other.namespace}`);
            if (up) env[envName] = `http://127.0.0.1:${up.port}`;
            else {
              // no sidecar: straight to an instance (its inbound sidecar when it has one)
              const ep = other.endpoints[0];
              if (ep) {
                const a = host.deliveryAddress(ep);
                env[envName] = `http://${a.host}:${a.port}`;
              }
            }
          }
          specs.push({
            workload: w.name,
            instance: inst.address,
            command: w.run.command,
            cwd: path.resolve(proj.baseDir, w.run.cwd ?? '.'),
            env
          });
        }
      }
    }
    return specs;
  }
  let launched = new Set<string>();
  let launching = opts.launch !== false;
  function launch(s: Snapshot, proj: LoadedProject) {
    if (!launching) return;
    const specs = launchSpecs(s, proj);
    const keys = new Set(specs.map((x) => `${x.workload}|${x.instance}`));
    for (const k of launched) {
      if (!keys.has(k)) {
        const [w, i] = k.split('|') as [string, string];
        void launcher.stop(w, i).catch(() => undefined);
      }
    }
    launched = keys;
    launcher.start(specs);
  }
  launch(snapshot, project);

  // ---- reload and watch
  let reloading: Promise<ReloadResult> | undefined;
  let pending = false;
  async function doReload(): Promise<ReloadResult> {
    const proj = loadProject(file);
    const at = new Date().toISOString();
    if (!proj.mesh) {
      const errs = proj.issues.filter(isBlocking);
      lastReload = {
        ok: false,
        version: snapshot.version,
        at,
        issues: proj.issues,
        error: `${errs.length} error(s); the last good config (version ${snapshot.version}) keeps running`
      };
      // the same line per problem as `localmesh validate` prints (field path and severity included)
      log(
        `reload rejected: ${errs.map((e) => issueLine(e, path.relative(process.cwd(), e.where.file) || e.where.file)).join('; ')}`
      );
      emit({ type: 'config', reload: lastReload });
      return lastReload;
    }
    const print = fingerprint(proj);
    if (print === currentPrint) {
      // what runs is already this config (a touched file, a save and the watcher both asking, or a fix that
      // restores the running config after a rejected edit): keep the version
      // (a reload asked for still gets a fresh answer and its config event, version unchanged)
      project = proj;
      // after a rejected edit, say that the files are good again (the terminal's last line said they were not)
      if (!lastReload.ok) log(`config is valid again: version ${snapshot.version} keeps running, unchanged`);
      lastReload = { ok: true, version: snapshot.version, at, issues: proj.issues };
      emit({ type: 'config', reload: lastReload });
      return lastReload;
    }
    const next = buildSnapshot(snapshot.version + 1, proj.mesh, proj.resources);
    try {
      await ensureIdentities(next);
      await reconcile(next);
    } catch (e) {
      lastReload = { ok: false, version: snapshot.version, at, issues: proj.issues, error: (e as Error).message };
      log(`reload rejected: ${(e as Error).message}`);
      emit({ type: 'config', reload: lastReload });
      return lastReload;
    }
    snapshot = next;
    project = proj;
    currentPrint = print;
    lastReload = { ok: true, version: next.version, at, issues: proj.issues };
    log(`config version ${next.version} applied (${proj.resources.length} Istio resources${issueCounts(proj.issues)})`);
    // errors that do not block (a route to a host or subset that does not exist: such requests get 503 NC) and
    // warnings, each with its place, as `localmesh validate` prints them; notes only in the count
    for (const i of proj.issues)
      if (i.severity !== 'info') log(`  ${issueLine(i, path.relative(process.cwd(), i.where.file) || i.where.file)}`);
    // as in Istio, where a new trust domain needs istiod and the workloads restarted, the certificates keep theirs
    if (proj.mesh.spec.trustDomain !== identities.trustDomain)
      log(
        `  spec.trustDomain ${proj.mesh.spec.trustDomain} applies at the next start: the certificates and policies keep ${identities.trustDomain} until then`
      );
    emit({ type: 'config', reload: lastReload });
    launch(snapshot, project);
    watchFiles();
    return lastReload;
  }
  function reload(): Promise<ReloadResult> {
    if (reloading) {
      pending = true;
      return reloading;
    }
    reloading = doReload().finally(() => {
      reloading = undefined;
      if (pending) {
        pending = false;
        void reload();
      }
    });
    return reloading;
  }

  const watchers = new Map<string, fs.FSWatcher>();
  let debounce: NodeJS.Timeout | undefined;
  function schedule() {
    clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), opts.debounceMs ?? 30);
  }
  function watchFiles() {
    if (opts.watch === false) return;
    // One non-recursive watch per folder: the mesh file's folder and every folder of the Istio paths. Editors
    // (and writeIstioFile) save by renaming a temp file over the old one; Node 20's recursive watch on Linux
    // loses a file after that, a plain directory watch does not. Re-run after each reload, so new folders count.
    const targets = new Set<string>([path.dirname(file)]);
    for (const p of project.istioPaths) {
      if (isDir(p)) for (const d of foldersUnder(p)) targets.add(d);
      else targets.add(path.dirname(p));
    }
    for (const [dir, w] of watchers) {
      if (!targets.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of targets) {
      if (watchers.has(dir) || !fs.existsSync(dir)) continue;
      try {
        const w = fs.watch(dir, (_ev, name) => {
          if (!name) return schedule();
          const full = path.join(dir, name.toString());
          if (
            full === file ||
            isDir(full) ||
            (/\.(ya?ml|json)$/i.test(full) &&
              project.istioPaths.some((p) => full === p || full.startsWith(p + path.sep)))
          )
            schedule();
        });
        w.on('error', () => undefined);
        watchers.set(dir, w);
      } catch {
        /* a folder that vanished: the next reload reports it */
      }
    }
  }
  watchFiles();

  /** Resolve a path the UI sent and make sure it is an Istio file of this project (no writing elsewhere). */
  function insideIstio(p: string): string {
    const abs = path.resolve(project.baseDir, p);
    const inside = (f: string, paths: string[]) =>
      paths.some((ip) => f === ip || (f.startsWith(ip + path.sep) && /\.(ya?ml|json)$/i.test(f)));
    // by name, and where it really is: a symbolic link in an Istio folder may point anywhere on the disk
    const ok =
      inside(abs, project.istioPaths) &&
      inside(
        realPath(abs),
        project.istioPaths.map((ip) => realPath(ip))
      );
    if (!ok)
      throw new MeshError(
        ErrorCodes.OUTSIDE_PROJECT,
        `${abs} is not inside the project's Istio paths (${project.istioPaths.join(', ') || 'none'})`
      );
    return abs;
  }

  // ---- MeshApi
  function workloadsView(): WorkloadView[] {
    const s = snapshot;
    const procs = launcher.list();
    return s.registry.workloads.map((w) => {
      const out = listeners.get(`out:${w.name}`);
      const upstreams: WorkloadView['upstreams'] = {};
      for (const svc of s.registry.services) {
        if (svc.kind !== 'mesh') continue;
        const l = listeners.get(`up:${w.name}:${svc.name}.${svc.namespace}`);
        if (l)
          upstreams[svc.namespace === w.namespace ? svc.name : `${svc.name}.${svc.namespace}`] = {
            host: '127.0.0.1',
            port: l.port
          };
      }
      return {
        name: w.name,
        service: w.service,
        servicePort: s.registry.serviceByFqdn.get(`${w.service}.${w.namespace}.svc.cluster.local`)?.ports[0] ?? 0,
        namespace: w.namespace,
        labels: w.labels,
        serviceAccount: w.serviceAccount,
        sidecar: w.sidecar,
        outbound: out ? { host: '127.0.0.1', port: out.port } : null,
        upstreams,
        instances: w.instances.map((i) => {
          const l = listeners.get(`in:${i.key}`);
          return { address: i.address, inbound: l ? { host: '127.0.0.1', port: l.port } : null };
        }),
        processes: procs.filter(
          (p) => p.instance && w.instances.some((i) => i.address === p.instance) && procOwner(p) === w.name
        )
      };
    });
  }
  const procOwnerMap = new WeakMap<object, string>();
  function procOwner(p: { instance: string }): string | undefined {
    return procOwnerMap.get(p) ?? [...launched].find((k) => k.endsWith(`|${p.instance}`))?.split('|')[0];
  }

  let closed = false;
  const mesh: Mesh = {
    get snapshot() {
      return snapshot;
    },
    listeners: () => new Map([...listeners].map(([k, l]) => [k, l.port])),
    async metrics() {
      return { contentType: metrics.contentType, text: await metrics.text() };
    },
    launchProcesses() {
      if (launching || closed) return;
      launching = true;
      launch(snapshot, project);
    },
    async health(): Promise<HealthView> {
      return {
        status: 'ok',
        version: snapshot.version,
        uptimeMs: Date.now() - started,
        workloads: snapshot.registry.workloads.length
      };
    },
    async listWorkloads() {
      return workloadsView();
    },
    async getConfig(): Promise<ConfigView> {
      return {
        version: snapshot.version,
        meshFile: file,
        istioPaths: project.istioPaths,
        compatibilityVersion: snapshot.compat.version,
        capture: snapshot.mesh.spec.capture.enabled,
        resources: snapshot.resources.map((r) => ({
          kind: r.kind,
          apiVersion: r.apiVersion,
          name: r.name,
          namespace: r.namespace,
          where: r.where,
          spec: r.spec
        })),
        issues: project.issues,
        lastReload
      };
    },
    reload,
    async listFlows(q?: FlowQuery) {
      checkFlowQuery(store, q);
      return store.listAsync({ ...q, limit: q?.limit ?? 100 });
    },
    async getFlow({ id }) {
      const f = await store.getAsync(id);
      if (!f)
        throw new MeshError(
          ErrorCodes.NOT_FOUND,
          `no flow ${id}${store.kind === 'memory' ? ` (the in-memory buffer keeps the last ${flowCap})` : ''}`
        );
      return f;
    },
    async clearFlows() {
      await store.clearAsync();
    },
    // CAPTURE-API-BEGIN (sessions, HAR, replay, compare, traces, graph, metrics series: capture/capture-api.ts)
    ...captureApi,
    // CAPTURE-API-END
    async listIstioFiles(): Promise<IstioFileView[]> {
      return project.files.map((f) => ({
        path: f,
        relative: path.relative(project.baseDir, f),
        resources: snapshot.resources
          .filter((r) => r.where.file === f)
          .map((r) => ({
            kind: r.kind,
            name: r.name,
            namespace: r.namespace,
            hosts:
              r.kind === 'VirtualService'
                ? ((r.spec as VirtualServiceSpec).hosts ?? [])
                : r.kind === 'DestinationRule'
                  ? [(r.spec as { host: string }).host]
                  : r.kind === 'ServiceEntry'
                    ? ((r.spec as { hosts: string[] }).hosts ?? [])
                    : [],
            line: r.where.line
          }))
      }));
    },
    async readIstioFile({ path: p }): Promise<FileContent> {
      const abs = insideIstio(p);
      try {
        return { path: abs, content: fs.readFileSync(abs, 'utf8') };
      } catch (e) {
        throw new MeshError(ErrorCodes.NOT_FOUND, `cannot read ${abs}: ${(e as Error).message}`);
      }
    },
    async validateIstioText({ path: p, content }) {
      const abs = insideIstio(p);
      return loadProject(file, new Map([[abs, content]])).issues.filter((i) => i.where.file === abs);
    },
    async writeIstioFile({ path: p, content }) {
      const abs = insideIstio(p);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      const tmp = `${abs}.localmesh-${process.pid}.tmp`;
      fs.writeFileSync(tmp, content);
      fs.renameSync(tmp, abs);
      log(`wrote ${path.relative(process.cwd(), abs)}`);
      return reload();
    },
    async getSecurity(): Promise<SecurityView> {
      const s = snapshot;
      const iso = (ms: number) => new Date(ms).toISOString();
      const workloads = s.registry.workloads.map((w) => {
        const id = w.sidecar ? identities.get(w.namespace, w.serviceAccount) : undefined;
        return {
          workload: w.name,
          namespace: w.namespace,
          serviceAccount: w.serviceAccount,
          sidecar: w.sidecar,
          cert: id
            ? {
                spiffeId: id.id,
                notBefore: iso(id.cert.notBefore),
                notAfter: iso(id.cert.notAfter),
                renewAt: iso(id.cert.renewAt),
                keyAlgorithm: ca.keyAlgorithm
              }
            : null,
          mtls: w.sidecar
            ? [...new Set(w.instances.map((i) => i.port))].map((port) => ({ port, ...host.mtlsMode(w, port) }))
            : [],
          policies: w.sidecar
            ? host.authzPolicies(w).map((p) => ({ name: p.name, action: p.action, dryRun: p.dryRun }))
            : []
        };
      });
      // who may call whom: each caller identity (and a caller without sidecar) against each destination
      const callers = [...s.registry.workloads.filter((w) => w.sidecar), undefined];
      const matrix: AccessCell[] = [];
      for (const to of s.registry.workloads) {
        if (!to.sidecar) continue;
        const policies = host.authzPolicies(to);
        const port = to.instances[0]?.port ?? 0;
        const strict = host.mtlsMode(to, port).mode === 'STRICT';
        for (const from of callers) {
          const principal = from
            ? identities.idFor(from.namespace, from.serviceAccount).replace(/^spiffe:\/\//, '')
            : '';
          if (!from && strict) {
            matrix.push({
              from: 'unknown',
              to: to.name,
              allowed: false,
              reason: 'STRICT mTLS: plaintext callers are refused'
            });
            continue;
          }
          const d = authorize(policies, {
            principal,
            sourceNamespace: from?.namespace ?? '',
            sourceIp: '127.0.0.1',
            remoteIp: '127.0.0.1',
            requestPrincipal: '',
            claims: null,
            host: `${to.service}:${s.registry.serviceByFqdn.get(`${to.service}.${to.namespace}.svc.cluster.local`)?.ports[0] ?? 80}`,
            port,
            method: 'GET',
            path: '/',
            header: () => undefined,
            sni: ''
          });
          matrix.push({ from: from?.name ?? 'unknown', to: to.name, allowed: d.allowed, reason: d.reason });
        }
      }
      return { ca: ca.info(), workloads, matrix };
    },
    async planQuickAction(action: QuickAction): Promise<EditPlan> {
      return planQuickAction(action, snapshot, project.istioPaths, project.baseDir);
    },
    async restartProcess(workload: string, instance?: string) {
      await launcher.restart(workload, instance);
    },
    async stopProcess(workload: string, instance?: string) {
      await launcher.stop(workload, instance);
    },
    async listLogs(q?: LogQuery) {
      const w = q?.workload;
      // a workload of the config without `run` has no lines; one that ran and left the config keeps its lines
      if (w !== undefined && !snapshot.registry.workloadByName.has(w) && !launcher.hasLogs(w))
        throw new MeshError(ErrorCodes.NOT_FOUND, `no workload "${w}" in the mesh`);
      return launcher.logs(w, q?.limit ?? LOG_LINES_KEPT);
    },
    onEvent(listener, types) {
      const sub = { listener, types: types === undefined ? null : new Set(types) };
      const counted = sub.types ?? MESH_EVENT_TYPES;
      eventListeners.add(sub);
      for (const t of counted) subscribers[t]++;
      host.flowStartSubscribers = subscribers['flow-start'];
      // the store's totals change only now and then: a new subscriber gets them at once (after onEvent returned)
      if (sub.types === null || sub.types.has('store'))
        queueMicrotask(() => {
          if (!eventListeners.has(sub) || closed) return;
          try {
            listener({ type: 'store', store: store.totals() });
          } catch {
            /* a listener's failure never affects the mesh */
          }
        });
      return () => {
        if (!eventListeners.delete(sub)) return;
        for (const t of counted) subscribers[t]--;
        host.flowStartSubscribers = subscribers['flow-start'];
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(debounce);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await launcher.stopAll();
      identities.close();
      await Promise.all([...listeners.values()].map(closeListener));
      await spans?.close();
      store.onTotals(null);
      store.close();
      listeners.clear();
      eventListeners.clear();
      for (const t of MESH_EVENT_TYPES) subscribers[t] = 0;
      host.flowStartSubscribers = 0;
    }
  };
  return mesh;
}

/** What a config is, for telling a real change from a touched file. */
function fingerprint(p: LoadedProject): string {
  return JSON.stringify([p.mesh, p.resources.map((r) => [r.kind, r.namespace, r.name, r.spec, r.where.file, r.order])]);
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function describeListener(key: string): string {
  const [kind, a, b] = key.split(':');
  if (kind === 'out') return `the outbound sidecar of ${a}`;
  if (kind === 'in') return `the inbound sidecar of ${a!.replace('#', ' instance ')}`;
  return `the ${b} port of ${a}`;
}

export type { ValidationIssue };

/**
 * Where a path really is, its symbolic links followed: the file's, else (a file not written yet) its folder's with its
 * name, else the path as it is.
 */
function realPath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return p;
    }
  }
}

/** What the access log reads of a request besides its flow (see telemetry/access-log.ts). */
function accessFacts(wire: WireSizes): AccessFacts {
  const s = wire.socket as (net.Socket & { servername?: unknown }) | undefined;
  return {
    requestBodyBytes: wire.requestBody ?? 0,
    responseBodyBytes: wire.responseBody ?? 0,
    downstreamLocal: s ? socketAddresses(s).local : null,
    downstreamRemote: s ? socketAddresses(s).remote : null,
    requestedServerName: s && typeof s.servername === 'string' && s.servername ? s.servername : null,
    protocol: `HTTP/${wire.httpVersion ?? '1.1'}`
  };
}
