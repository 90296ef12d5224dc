/**
 * Envoy access log lines in Istio's default TEXT format (meshConfig.accessLogFile set, accessLogFormat unset;
 * istio/istio pilot/pkg/model/telemetry_logging.go EnvoyTextLogFormat):
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
 *   %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED%
 *   %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS%
 *   %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%
 *
 * one line per request each sidecar finished (the client's and the server's), `-` for a value that is not there.
 * What a local sidecar cannot know as Envoy does is `-` too: the upstream connection's local address.
 */
import type { FlowRecord } from '../../contract/api.js';
import { entryEndpointAt, type Registry } from '../registry.js';
import { ENVOY_INLINE_REQUEST_HEADERS, ENVOY_INLINE_RESPONSE_HEADERS, formatterHeader } from '../sidecar/h1.js';

/** What the sidecar saw of the request besides its flow record (the downstream connection, the bodies' sizes). */
export interface AccessFacts {
  /** Body bytes received from the caller and sent to it (Envoy's BYTES_RECEIVED / BYTES_SENT for HTTP). */
  requestBodyBytes: number;
  responseBodyBytes: number;
  /** `ip:port` of the sidecar's listener and of the caller, when the connection still tells. */
  downstreamLocal: string | null;
  downstreamRemote: string | null;
  /** SNI of the caller's TLS (a server sidecar terminating mutual TLS), else null. */
  requestedServerName: string | null;
  /** Envoy's PROTOCOL: HTTP/1.1, or HTTP/1.0 for a caller that sent that. */
  protocol?: string;
}

/** `%REQ(X)%` of the flow's request headers (h1.ts formatterHeader). */
function header(f: FlowRecord, name: string): string | undefined {
  return formatterHeader(f.requestHeaders, name, ENVOY_INLINE_REQUEST_HEADERS);
}

/** `ip:port` of one end of a socket as Envoy writes it ("[v6]:port"), null when the socket no longer tells. */
export function addressText(address: string | undefined, port: number | undefined): string | null {
  if (!address || port === undefined) return null;
  const a = address.replace(/^::ffff:/, '');
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

const dash = (v: string | null | undefined): string => (v === undefined || v === null || v === '' ? '-' : v);

/** Envoy's RESPONSE_CODE_DETAILS for how the response came about (spaces become underscores, as Envoy writes them). */
export function responseCodeDetails(f: FlowRecord): string {
  const r = f.localReply;
  // the caller went away before a response began (Envoy's connection manager, on the downstream's close)
  if (r === null)
    return f.status > 0 ? 'via_upstream' : f.flags.split(',').includes('DC') ? 'downstream_remote_disconnect' : '-';
  if (r === 'no route matched') return 'route_not_found';
  if (r.startsWith('no cluster')) return 'cluster_not_found';
  if (r === 'no healthy upstream') return 'no_healthy_upstream';
  if (r === 'upstream request timeout') return 'response_timeout';
  if (r === 'upstream per-try timeout') return 'upstream_per_try_timeout';
  if (r.startsWith('fault abort')) return 'fault_filter_abort';
  if (r === 'direct response' || r === 'redirect' || r.startsWith('REGISTRY_ONLY')) return 'direct_response';
  if (r.startsWith('RBAC')) {
    // the Envoy policy that denied, last in the reason in brackets (inbound.ts); it has no spaces
    const at = r.lastIndexOf(' [');
    return `rbac_access_denied_matched_policy[${at > 0 && r.endsWith(']') ? r.slice(at + 2, -1) : 'none'}]`;
  }
  // Envoy's jwt_authn: the code, then the failure's message with its spaces as underscores in braces
  if (r.startsWith('JWT')) {
    const m = / \{(.*)\}$/.exec(r);
    return m ? `jwt_authn_access_denied{${m[1]!.replace(/\s/g, '_')}}` : 'jwt_authn_access_denied';
  }
  if (r.startsWith('upstream reset: ')) {
    const reason = r.slice('upstream reset: '.length);
    const envoy =
      reason === 'connect-refused'
        ? 'remote_connection_failure|delayed_connect_error:_Connection_refused'
        : reason === 'connect-timeout'
          ? 'connection_timeout'
          : reason === 'tls-failure'
            ? 'remote_connection_failure|TLS_error'
            : reason === 'overflow'
              ? 'overflow'
              : 'connection_termination';
    return `upstream_reset_before_response_started{${envoy}}`;
  }
  if (r.startsWith('CORS') || r.startsWith('cors')) return 'cors_response';
  if (r === 'codec error') return f.status === 431 ? 'http1.headers_too_large' : 'http1.codec_error';
  if (r === 'codec error: too many headers') return 'http1.too_many_headers';
  return '-';
}

/** The port a client sidecar's cluster for `f` is built on: the request's, if the service has it, else its first. */
function servicePort(f: FlowRecord, ports: number[]): number {
  const m = /:(\d+)$/.exec(f.authority);
  const asked = m ? Number(m[1]) : 80;
  return ports.length === 0 || ports.includes(asked) ? asked : ports[0]!;
}

/** Envoy's UPSTREAM_CLUSTER_RAW: `outbound|<port>|<subset>|<host>`, `inbound|<port>||`, the catch-all clusters. */
export function upstreamCluster(f: FlowRecord, reg: Registry): string {
  if (f.reporter === 'destination') {
    // a Sidecar's ingress listener: its own port's cluster (or the passthrough), whatever port it delivers to
    const ingress = reg.inboundClusters?.get(`${f.destination ?? ''} ${f.endpoint ?? ''}`);
    if (ingress) return ingress;
    const m = f.endpoint ? /:(\d+)$/.exec(f.endpoint) : null;
    return m ? `inbound|${m[1]}||` : '-';
  }
  const svc = f.destinationService;
  if (svc === 'PassthroughCluster') return svc;
  // the REGISTRY_ONLY route (block_all) and a reply before any cluster was chosen have no cluster
  if (svc === null || svc === 'BlackHoleCluster') return '-';
  if (/^(route_not_found|cluster_not_found|direct_response)$/.test(responseCodeDetails(f))) return '-';
  const info = reg.serviceByFqdn.get(svc);
  if (!info) return '-';
  // the port of the entry's endpoint that answered (a route may send port 80's request to port 443), else the
  // request's
  const ep = f.endpoint ? entryEndpointAt(info, f.endpoint, (e) => e.servicePort !== undefined) : undefined;
  return `outbound|${ep?.servicePort ?? servicePort(f, info.ports)}|${f.subset ?? ''}|${info.fqdn}`;
}

/** Envoy's ROUTE_NAME: Istio names a route after the VirtualService's http[].name; its default routes otherwise. */
export function routeName(f: FlowRecord): string {
  // a request the codec could not parse never reached a route
  if (f.localReply?.startsWith('codec error')) return '-';
  if (f.reporter === 'destination') return 'default';
  if (f.destinationService === 'PassthroughCluster') return 'allow_any';
  if (f.destinationService === 'BlackHoleCluster') return 'block_all';
  if (f.virtualService === null) return f.localReply === 'no route matched' ? '-' : 'default';
  const named = f.rule ? /^[^:[]+:(.+)$/.exec(f.rule) : null;
  return named ? named[1]! : '-';
}

/** One access log line (without the newline) for a finished flow. */
export function accessLogLine(f: FlowRecord, reg: Registry, facts: AccessFacts | undefined): string {
  const path = header(f, 'x-envoy-original-path') ?? f.path;
  const ust = formatterHeader(f.responseHeaders, 'x-envoy-upstream-service-time', ENVOY_INLINE_RESPONSE_HEADERS);
  return [
    `[${f.startedAt}]`,
    `"${dash(f.method)} ${dash(path)} ${facts?.protocol ?? 'HTTP/1.1'}"`,
    String(f.status),
    f.flags || '-',
    responseCodeDetails(f),
    '-',
    '"-"',
    String(facts?.requestBodyBytes ?? 0),
    String(facts?.responseBodyBytes ?? 0),
    String(Math.round(f.durationMs)),
    dash(ust),
    `"${dash(header(f, 'x-forwarded-for'))}"`,
    `"${dash(header(f, 'user-agent'))}"`,
    `"${dash(header(f, 'x-request-id') ?? f.requestId)}"`,
    `"${dash(header(f, 'host') ?? f.authority)}"`,
    // the RBAC and jwt_authn filters answer before the router picks a host
    `"${/^(RBAC|JWT)/.test(f.localReply ?? '') ? '-' : dash(f.endpoint)}"`,
    upstreamCluster(f, reg),
    '-',
    dash(facts?.downstreamLocal),
    dash(facts?.downstreamRemote),
    dash(facts?.requestedServerName),
    routeName(f)
  ].join(' ');
}

/** What Envoy's access log says of one TCP connection (tcp_proxy): no request, only bytes, the upstream and flags. */
export interface TcpAccessEntry {
  startedAt: string;
  durationMs: number;
  flags: string;
  /** Bytes received from the caller and sent to it. */
  received: number;
  sent: number;
  upstreamHost: string | null;
  /** `outbound|<port>|<subset>|<host>`, `inbound|<port>||`, PassthroughCluster, BlackHoleCluster; null: none. */
  cluster: string | null;
  downstreamLocal: string | null;
  downstreamRemote: string | null;
  requestedServerName: string | null;
  /** RESPONSE_CODE_DETAILS: `filter_chain_not_found` for a connection no filter chain took; else none. */
  details?: string;
  /** CONNECTION_TERMINATION_DETAILS: the RBAC network filter's `rbac_access_denied_matched_policy[…]`; else none. */
  terminationDetails?: string;
}

/** One access log line (without the newline) for a TCP connection, in the same default format. */
export function tcpAccessLogLine(e: TcpAccessEntry): string {
  return [
    `[${e.startedAt}]`,
    '"- - -"',
    '0',
    e.flags || '-',
    e.details ?? '-',
    e.terminationDetails ?? '-',
    '"-"',
    String(e.received),
    String(e.sent),
    String(Math.round(e.durationMs)),
    '-',
    '"-"',
    '"-"',
    '"-"',
    '"-"',
    `"${dash(e.upstreamHost)}"`,
    dash(e.cluster),
    '-',
    dash(e.downstreamLocal),
    dash(e.downstreamRemote),
    dash(e.requestedServerName),
    '-'
  ].join(' ');
}
