/**
 * Proxy-generated responses, byte-exact with Envoy/Istio (istio-semantics §1.7). Each has a status, a body
 * (no trailing newline), extra headers and the response flags it sets.
 */
export interface LocalReply {
  status: number;
  body: Buffer;
  headers: Record<string, string>;
  flags: string[];
  /** Short reason for the trace and the flow record. */
  reason: string;
}

const text = { 'content-type': 'text/plain' };
const UPSTREAM_RESET = 'upstream connect error or disconnect/reset before headers.';

function reply(
  status: number,
  body: string,
  flags: string[],
  reason: string,
  headers: Record<string, string> = body ? text : {}
): LocalReply {
  return { status, body: Buffer.from(body), headers, flags, reason };
}

export type ResetReason = 'connect-refused' | 'connect-timeout' | 'connection-termination' | 'overflow' | 'tls-failure';

function resetText(reason: ResetReason, detail?: string): string {
  switch (reason) {
    case 'connect-refused':
      return 'remote connection failure, transport failure reason: delayed connect error: Connection refused';
    case 'connect-timeout':
      return 'connection timeout';
    case 'connection-termination':
      return 'connection termination';
    case 'overflow':
      return 'overflow';
    case 'tls-failure':
      return `remote connection failure, transport failure reason: ${detail ?? 'TLS_error'}`;
  }
}

export const LocalReplies = {
  noRoute: () => reply(404, '', ['NR'], 'no route matched'),
  noCluster: (what: string) => reply(503, '', ['NC'], `no cluster: ${what}`),
  noHealthyUpstream: () => reply(503, 'no healthy upstream', ['UH'], 'no healthy upstream'),
  timeout: (retried: boolean) =>
    reply(504, 'upstream request timeout', retried ? ['UT', 'URX'] : ['UT'], 'upstream request timeout'),
  /** The last try's per-try timeout (Envoy's onPerTryTimeout: the same reply, its own response code details). */
  perTryTimeout: (retried: boolean) =>
    reply(504, 'upstream request timeout', retried ? ['UT', 'URX'] : ['UT'], 'upstream per-try timeout'),
  faultAbort: (status: number) => reply(status, 'fault filter abort', ['FI'], `fault abort ${status}`),
  faultAbortGrpc: (grpcStatus: number) => ({
    status: 200,
    body: Buffer.alloc(0),
    headers: {
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      'grpc-message': 'fault filter abort'
    },
    flags: ['FI'],
    reason: `fault abort grpc-status ${grpcStatus}`
  }),
  /**
   * 503 for a try that got no response. `retried`: an earlier try was retried (Envoy's is_retry_: the body says
   * "retried and the latest reset reason"); `exhausted`: this reset would have been retried but no try is left (URX).
   */
  upstreamReset: (reason: ResetReason, retried: boolean, detail?: string, exhausted = retried): LocalReply => {
    const flag = reason === 'connection-termination' ? 'UC' : reason === 'overflow' ? 'UO' : 'UF';
    const body = retried
      ? `${UPSTREAM_RESET} retried and the latest reset reason: ${resetText(reason, detail)}`
      : `${UPSTREAM_RESET} reset reason: ${resetText(reason, detail)}`;
    const headers: Record<string, string> =
      reason === 'overflow' ? { ...text, 'x-envoy-overloaded': 'true' } : { ...text };
    return reply(503, body, exhausted ? [flag, 'URX'] : [flag], `upstream reset: ${reason}`, headers);
  },
  registryOnly: () => reply(502, '', [], 'REGISTRY_ONLY: host not in the registry (BlackHoleCluster)'),
  /** Envoy's HTTP/1 codec to an HTTP/1.0 request on an HTTP port (accept_http_10 off, as Istio leaves it). */
  upgradeRequired: () => reply(426, 'Upgrade Required', ['DPE'], 'HTTP/1.0 on a port declared HTTP (low_version)')
};

/** gRPC status names → codes, for fault.abort.grpcStatus. */
export const GRPC_CODES: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16
};
