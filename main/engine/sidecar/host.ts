/** What a sidecar needs from the engine that owns it. */
import type http from 'node:http';
import type { FlowRecord } from '../../contract/api.js';
import type { Snapshot } from '../snapshot.js';
import type { Random } from '../util/random.js';
import type { ServiceEndpoint } from '../registry.js';
import type { LbState } from './lb.js';
import type { Exchange, WireSizes } from './exchange.js';
import type { IdentityManager } from '../tls/identity.js';
import type { EffectiveMtls } from '../security/peer-authentication.js';
import type { WorkloadInfo } from '../registry.js';
import type { ApplicablePolicy } from '../security/authorization.js';
import type { JwtRule } from '../security/jwt.js';
import type { CircuitStore, PoolLimits } from './circuit.js';
import type { ConnectionLifecycle } from './lifecycle.js';
import type { CodecErrorAt, TcpConnectionReport, TcpSeries } from '../telemetry/metrics.js';
import type net from 'node:net';

export interface SidecarHost {
  snapshot(): Snapshot;
  random: Random;
  /** Where a client sidecar delivers to reach this endpoint: the inbound sidecar when it has one, else the app. */
  deliveryAddress(ep: ServiceEndpoint): { host: string; port: number; viaSidecar: boolean };
  /** A request ended: count it, and store it unless its config had capture off (`stored` false). */
  emitFlow(flow: FlowRecord, wire?: WireSizes, stored?: boolean): void;
  /**
   * Event subscribers that want `flow-start` (kept current by the engine): 0 means nobody listens, and a pipeline
   * neither calls emitFlowStart nor builds anything for it (one property read per request).
   */
  flowStartSubscribers: number;
  /** A sidecar started handling a request: announce it (call only when flowStartSubscribers > 0). */
  emitFlowStart(ex: Exchange): void;
  lbState: LbState;
  /**
   * The calling sidecars' circuit breakers and outlier ejections, per workload and cluster: kept across reloads (a
   * reload makes new sidecar objects) for as long as the cluster's policy is the same, as Envoy keeps a cluster.
   */
  circuits: CircuitStore;
  /** Timer used for fault delays and back-off (tests may speed it up; defaults to setTimeout). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  connectTimeoutMs: number;
  /** Serve plain HTTP/1.1 on the raw-socket fast lane (else everything on node:http). */
  fastLane: boolean;
  identities: IdentityManager;
  /** The PeerAuthentication mode an inbound sidecar of `w` enforces on the workload port `port`. */
  mtlsMode(w: WorkloadInfo, port: number): EffectiveMtls;
  /** AuthorizationPolicies selecting `w` under the current config. */
  authzPolicies(w: WorkloadInfo): ApplicablePolicy[];
  /** RequestAuthentication JWT rules selecting `w`. */
  jwtRules(w: WorkloadInfo): JwtRule[];
  /**
   * The circuit breakers of `w`'s inbound sidecar (its Sidecar resource's inboundConnectionPool, else the
   * connectionPool of the DestinationRule for its service), if any.
   */
  inboundPool(w: WorkloadInfo): PoolLimits | undefined;
  /** The lifecycle of `w`'s inbound sidecar's connections to the app (the same connectionPool), if it sets one. */
  inboundLifecycle(w: WorkloadInfo): ConnectionLifecycle | undefined;
  /** Is host:port one of this engine's own listeners (a request to it would loop)? */
  isOwnListener(host: string, port: number): boolean;
  /** The istio_tcp_* counters of an opaque TCP connection's label set. */
  tcpSeries(c: TcpConnectionReport): TcpSeries;
  /**
   * Peer metadata for opaque TCP between this engine's sidecars (Istio exchanges it in band, ALPN
   * istio-peer-exchange): the calling workload by the local port of the client sidecar's connection.
   */
  tcpPeers: Map<number, string>;
  /**
   * Envoy's HTTP/1 codec refused a request on `sock` (426 for HTTP/1.0 on a port declared HTTP): the reply, the
   * connection closed, and the stream counted with DPE as Envoy logs it.
   */
  codecError(sock: net.Socket, status: number, requestBytes: number, at: CodecErrorAt): void;
  /** Envoy's access log (MeshOptions.accessLog), when it is on: TCP connections write their lines here. */
  accessLog?: ((line: string) => void) | undefined;
}

export interface SidecarAgents {
  agent: http.Agent;
}
