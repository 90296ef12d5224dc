/**
 * How long an upstream HTTP connection lives (istio-semantics §1.3 connectionPool): Istio's applyConnectionPool sets a
 * cluster's HTTP protocol options from `http.maxRequestsPerConnection`, `http.idleTimeout` (else `tcp.idleTimeout`)
 * and `tcp.maxConnectionDuration`, for outbound clusters (a DestinationRule) and inbound ones (a Sidecar's
 * inboundConnectionPool, else the DestinationRule of the workload's service) alike. Envoy then
 * - closes a connection once it has carried `maxRequestsPerConnection` requests (1: a new connection per request);
 * - closes a connection idle (no request in flight) for `idleTimeout` (0s: never);
 * - closes a connection `maxConnectionDuration` after it was set up, at once when idle, else when its request ends.
 * Clusters that set none of them keep localmesh's default pools (fast-lane.ts IDLE_LIMIT_MS), which hold no timer per
 * connection.
 */
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { durationMs } from '../util/duration.js';
import { IDLE_LIMIT_MS } from './fast-lane.js';

export interface ConnectionLifecycle {
  /** Requests a connection carries before it is closed; 0: unlimited. */
  maxRequests: number;
  /** Idle time after which a connection is closed (0: never); undefined: the sidecar's default pool behaviour. */
  idleMs: number | undefined;
  /** Time since the connection was set up after which it is closed; 0: none. */
  maxDurationMs: number;
  /** The settings as text: connections are pooled apart per lifecycle, as Envoy pools per cluster. */
  key: string;
}

type Loose = Record<string, unknown> | undefined;

/** The lifecycle a `connectionPool` sets, or undefined when it sets none of its fields. */
export function lifecycleOf(connectionPool: unknown): ConnectionLifecycle | undefined {
  const cp = connectionPool as Loose;
  if (!cp) return undefined;
  const tcp = cp.tcp as Loose;
  const h = cp.http as Loose;
  const max = h?.maxRequestsPerConnection;
  const maxRequests = typeof max === 'number' && Number.isFinite(max) && max > 0 ? Math.floor(max) : 0;
  const idleMs = durationMs(h?.idleTimeout) ?? durationMs(tcp?.idleTimeout);
  const maxDurationMs = durationMs(tcp?.maxConnectionDuration) ?? 0;
  if (maxRequests === 0 && idleMs === undefined && maxDurationMs === 0) return undefined;
  return { maxRequests, idleMs, maxDurationMs, key: `${maxRequests}|${idleMs ?? ''}|${maxDurationMs}` };
}

export interface TcpProxyTimeouts {
  /** No byte either way for this long closes the connection. */
  idleMs?: number;
  /** The connection is closed this long after it was accepted (max_downstream_connection_duration). */
  maxDurationMs?: number;
}

/**
 * The outbound tcp_proxy's timeouts, from the top-level `connectionPool.tcp` of the destination's DestinationRule (as
 * Istio's buildOutboundNetworkFiltersWithSingleDestination reads it: not a subset's or a port's): `idleTimeout` (1 h
 * when unset, which localmesh leaves out; 0s: none) and `maxConnectionDuration`.
 */
export function tcpProxyTimeouts(connectionPool: unknown): TcpProxyTimeouts | undefined {
  const tcp = (connectionPool as Loose)?.tcp as Loose;
  if (!tcp) return undefined;
  const idleMs = durationMs(tcp.idleTimeout) || undefined;
  const maxDurationMs = durationMs(tcp.maxConnectionDuration) || undefined;
  return idleMs || maxDurationMs ? { idleMs, maxDurationMs } : undefined;
}

/** node:http's options for a keep-alive pool; `timeout` closes a free socket idle that long (0: never). */
function agentOptions(life: ConnectionLifecycle | undefined): http.AgentOptions {
  return {
    keepAlive: true,
    maxSockets: Infinity,
    maxFreeSockets: 512,
    scheduling: 'lifo',
    timeout: life?.idleMs ?? IDLE_LIMIT_MS
  };
}

type AgentInternals = {
  keepSocketAlive(socket: Duplex): boolean;
  createConnection(...args: unknown[]): Duplex;
  freeSockets: NodeJS.ReadOnlyDict<Duplex[]>;
};

/**
 * An agent that closes its sockets as `life` says: after maxRequests requests (node:http asks keepSocketAlive once per
 * request a socket finished), and maxDurationMs after the socket was made (at once when free, else when its request
 * ends). The idle timeout is the agent's own `timeout` (agentOptions).
 */
function withLifecycle<A extends http.Agent>(agent: A, life: ConnectionLifecycle): A {
  const a = agent as unknown as AgentInternals;
  const served = new WeakMap<Duplex, number>();
  const expired = new WeakSet<Duplex>();
  const keep = a.keepSocketAlive.bind(a);
  a.keepSocketAlive = (socket) => {
    const n = (served.get(socket) ?? 0) + 1;
    served.set(socket, n);
    if ((life.maxRequests > 0 && n >= life.maxRequests) || expired.has(socket)) return false;
    return keep(socket);
  };
  if (life.maxDurationMs > 0) {
    const create = a.createConnection.bind(a);
    a.createConnection = (...args) => {
      const socket = create(...args);
      const timer = setTimeout(() => {
        expired.add(socket);
        if (Object.values(a.freeSockets).some((list) => list?.includes(socket))) socket.destroy();
      }, life.maxDurationMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      return socket;
    };
  }
  return agent;
}

/** node:http's keep-alive agents of one sidecar: one per lifecycle, and for TLS one per set of TLS options too. */
export class AgentSet {
  private readonly plain = new Map<string, http.Agent>();
  /**
   * An agent pools connections by host, port, CA and servername but not by checkServerIdentity, so a connection
   * verified under one rule's subjectAltNames must not serve a request under another's: one agent per options
   * object (a DestinationRule's, or auto-mTLS's per endpoint). Oldest dropped past 256.
   */
  private readonly secure = new Map<tls.ConnectionOptions, Map<string, https.Agent>>();

  /** The plaintext agent for a cluster's lifecycle (undefined: the default pool). */
  plainAgent(life?: ConnectionLifecycle): http.Agent {
    const key = life?.key ?? '';
    let agent = this.plain.get(key);
    if (!agent) {
      agent = new http.Agent(agentOptions(life));
      if (life) withLifecycle(agent, life);
      this.plain.set(key, agent);
    }
    return agent;
  }

  /** The TLS agent for a set of TLS options and a cluster's lifecycle. */
  tlsAgent(options: tls.ConnectionOptions, life?: ConnectionLifecycle): https.Agent {
    let byLife = this.secure.get(options);
    if (!byLife) {
      byLife = new Map();
      this.secure.set(options, byLife);
      if (this.secure.size > 256) {
        const [oldest, agents] = this.secure.entries().next().value as [
          tls.ConnectionOptions,
          Map<string, https.Agent>
        ];
        for (const a of agents.values()) a.destroy();
        this.secure.delete(oldest);
      }
    }
    const key = life?.key ?? '';
    let agent = byLife.get(key);
    if (!agent) {
      // a TLS connection has no idle limit unless the cluster sets an idle timeout, as in the fast lane's TLS pools
      agent = new https.Agent({ ...agentOptions(life), timeout: life?.idleMs });
      if (life) withLifecycle(agent, life);
      byLife.set(key, agent);
    }
    return agent;
  }

  destroy(): void {
    for (const a of this.plain.values()) a.destroy();
    for (const agents of this.secure.values()) for (const a of agents.values()) a.destroy();
    this.plain.clear();
    this.secure.clear();
  }
}
