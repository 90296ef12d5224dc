/**
 * Istio networking resources (networking.istio.io v1 / v1beta1 / v1alpha3), field names exactly as the Istio
 * protos' JSON form. Strict: unknown fields are errors, as `kubectl apply` with server-side validation would say.
 * Durations stay strings ("1.5s"); see `parseDuration` in the engine.
 */
import { z } from 'zod';
import { suggest } from './suggest.js';

const u = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);

function found(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${String(v)}`;
}

/**
 * A proto enum written as its name (the CRD schema's string enum). Like z.enum, but a misspelled value gets the
 * nearest name: `must be one of "A", "B", found the string "AA" (did you mean "A"?)`.
 */
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  const list = values.map((v) => JSON.stringify(v)).join(', ');
  return z.custom<T[number]>((v) => typeof v === 'string' && (values as readonly string[]).includes(v), {
    error: (iss) => {
      const hint = typeof iss.input === 'string' ? suggest(iss.input, values) : undefined;
      return `must be one of ${list}, found ${found(iss.input)}${hint ? ` (did you mean "${hint}"?)` : ''}`;
    }
  });
}

/**
 * For the rules about what a resource lacks (Istio's webhook: "… must have at least one field", "… must not be
 * empty"): checked only when the object is otherwise clean, so a misspelled key is reported once, as an unknown
 * field, not also as the field it was meant to be missing (and the rest is then not taken for a valid object).
 */
const clean = { when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 };

function isSet(v: unknown): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null;
}

/** proto int32 / uint32 (wrapper types included): whole numbers in range. */
const int32 = z.number().int().min(-2147483648).max(2147483647);
const uint32 = z.number().int().min(0).max(4294967295);
/** An int32 limit Istio's webhook wants non-negative ("max connections must be non-negative", …). */
const count = z.number().int().min(0).max(2147483647);
/** An int32 percentage Istio's webhook wants in 0..100 (maxEjectionPercent, minHealthPercent). */
const percent0to100 = z.number().int().min(0).max(100);

export const StringMatch = u({
  exact: z.string().optional(),
  prefix: z.string().optional(),
  regex: z.string().optional()
});
export type StringMatch = z.infer<typeof StringMatch>;

const DURATION = /^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/;
/** A google.protobuf.Duration as the CRD takes it: a string such as "1.5s"; the error quotes what was found. */
const duration = z.custom<string>((v) => typeof v === 'string' && DURATION.test(v), {
  error: (iss) => `must be a duration such as "5s" or "250ms", found ${found(iss.input)}`
});
/** istio.networking.v1.Percent: a proto double, so `{}` is 0. */
const percent = u({ value: z.number().optional() });

export const PortSelector = u({ number: z.number().int().min(1).max(65535) });

export const Destination = u({
  host: z.string().min(1),
  subset: z.string().optional(),
  port: PortSelector.optional()
});
export type Destination = z.infer<typeof Destination>;

export const HeaderOps = u({
  set: z.record(z.string(), z.string()).optional(),
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string()).optional()
});
export type HeaderOps = z.infer<typeof HeaderOps>;

export const Headers = u({ request: HeaderOps.optional(), response: HeaderOps.optional() });
export type Headers = z.infer<typeof Headers>;

export const HTTPRouteDestination = u({
  destination: Destination,
  weight: z.number().int().min(0).optional(),
  headers: Headers.optional()
});
export type HTTPRouteDestination = z.infer<typeof HTTPRouteDestination>;

export const HTTPMatchRequest = u({
  name: z.string().optional(),
  uri: StringMatch.optional(),
  scheme: StringMatch.optional(),
  method: StringMatch.optional(),
  authority: StringMatch.optional(),
  headers: z.record(z.string(), StringMatch).optional(),
  port: z.number().int().optional(),
  sourceLabels: z.record(z.string(), z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  queryParams: z.record(z.string(), StringMatch).optional(),
  ignoreUriCase: z.boolean().optional(),
  withoutHeaders: z.record(z.string(), StringMatch).optional(),
  sourceNamespace: z.string().optional(),
  statPrefix: z.string().optional()
});
export type HTTPMatchRequest = z.infer<typeof HTTPMatchRequest>;

export const HTTPRewrite = u({
  uri: z.string().optional(),
  authority: z.string().optional(),
  uriRegexRewrite: u({ match: z.string(), rewrite: z.string() }).optional()
});
export type HTTPRewrite = z.infer<typeof HTTPRewrite>;

export const HTTPRedirect = u({
  uri: z.string().optional(),
  authority: z.string().optional(),
  port: z.number().int().optional(),
  derivePort: oneOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
  scheme: z.string().optional(),
  redirectCode: z.number().int().optional(),
  prefixRewrite: z.string().optional()
});
export type HTTPRedirect = z.infer<typeof HTTPRedirect>;

export const HTTPDirectResponse = u({
  status: z.number().int(),
  body: u({ string: z.string().optional(), bytes: z.string().optional() }).optional()
});
export type HTTPDirectResponse = z.infer<typeof HTTPDirectResponse>;

export const HTTPRetry = u({
  attempts: z.number().int().min(0).optional(),
  perTryTimeout: duration.optional(),
  retryOn: z.string().optional(),
  retryRemoteLocalities: z.boolean().optional(),
  retryIgnorePreviousHosts: z.boolean().optional(),
  backoff: duration.optional()
});
export type HTTPRetry = z.infer<typeof HTTPRetry>;

export const HTTPFaultInjection = u({
  delay: u({
    fixedDelay: duration.optional(),
    exponentialDelay: duration.optional(),
    percentage: percent.optional(),
    percent: z.number().int().optional()
  }).optional(),
  abort: u({
    httpStatus: z.number().int().optional(),
    grpcStatus: z.string().optional(),
    http2Error: z.string().optional(),
    percentage: percent.optional()
  }).optional()
});
export type HTTPFaultInjection = z.infer<typeof HTTPFaultInjection>;

export const CorsPolicy = u({
  allowOrigin: z.array(z.string()).optional(),
  allowOrigins: z.array(StringMatch).optional(),
  allowMethods: z.array(z.string()).optional(),
  allowHeaders: z.array(z.string()).optional(),
  exposeHeaders: z.array(z.string()).optional(),
  maxAge: duration.optional(),
  allowCredentials: z.boolean().optional(),
  unmatchedPreflights: oneOf(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional()
});
export type CorsPolicy = z.infer<typeof CorsPolicy>;

export const HTTPMirrorPolicy = u({ destination: Destination, percentage: percent.optional() });

export const HTTPRoute = u({
  name: z.string().optional(),
  match: z.array(HTTPMatchRequest).optional(),
  route: z.array(HTTPRouteDestination).optional(),
  redirect: HTTPRedirect.optional(),
  directResponse: HTTPDirectResponse.optional(),
  delegate: u({ name: z.string(), namespace: z.string().optional() }).optional(),
  rewrite: HTTPRewrite.optional(),
  timeout: duration.optional(),
  retries: HTTPRetry.optional(),
  fault: HTTPFaultInjection.optional(),
  mirror: Destination.optional(),
  mirrors: z.array(HTTPMirrorPolicy).optional(),
  mirrorPercent: z.number().int().optional(),
  mirrorPercentage: percent.optional(),
  corsPolicy: CorsPolicy.optional(),
  headers: Headers.optional()
});
export type HTTPRoute = z.infer<typeof HTTPRoute>;

/**
 * L4MatchAttributes of a tcp route (destinationSubnets are matched on a ServiceEntry host's connection, against the
 * address the app named; a mesh service here has no address of its own, so they are kept there, not read).
 */
export const L4MatchAttributes = u({
  destinationSubnets: z.array(z.string()).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  sourceLabels: z.record(z.string(), z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  sourceNamespace: z.string().optional()
});
export type L4MatchAttributes = z.infer<typeof L4MatchAttributes>;

export const RouteDestination = u({
  destination: Destination,
  weight: z.number().int().min(0).optional()
});

export const TCPRoute = u({
  match: z.array(L4MatchAttributes).optional(),
  route: z.array(RouteDestination).optional()
});
export type TCPRoute = z.infer<typeof TCPRoute>;

/** TLSMatchAttributes of a tls route: the SNI names (required, `*.example.com` wildcards) and the L4 attributes. */
export const TLSMatchAttributes = L4MatchAttributes.extend({ sniHosts: z.array(z.string()).min(1) });
export type TLSMatchAttributes = z.infer<typeof TLSMatchAttributes>;

/** A tls route: TLS a client sends (passed through, not terminated) routed by its SNI. */
export const TLSRoute = u({
  match: z.array(TLSMatchAttributes).min(1),
  route: z.array(RouteDestination).optional()
});
export type TLSRoute = z.infer<typeof TLSRoute>;

const DELEGATE = 'without hosts this VirtualService is a delegate';

export const VirtualServiceSpec = u({
  hosts: z.array(z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  http: z.array(HTTPRoute).optional(),
  tls: z.array(TLSRoute).optional(),
  tcp: z.array(TCPRoute).optional(),
  exportTo: z.array(z.string()).optional()
})
  .refine((vs) => isSet(vs.http) || isSet(vs.tcp) || isSet(vs.tls), {
    ...clean,
    error: (iss) =>
      isSet((iss.input as { hosts?: unknown }).hosts)
        ? 'http, tcp or tls must be provided in virtual service: add routes, e.g. http: [{route: [{destination: {host: …}}]}]'
        : `http, tcp or tls must be provided in virtual service: ${DELEGATE}, which takes http rules (merged under the rule that delegates to it)`
  })
  .refine((vs) => isSet(vs.hosts) || !isSet(vs.tcp), {
    ...clean,
    path: ['tcp'],
    error: `delegate virtual service must have no tcp route specified: ${DELEGATE}, which takes http rules only (or add hosts)`
  })
  .refine((vs) => isSet(vs.hosts) || !isSet(vs.tls), {
    ...clean,
    path: ['tls'],
    error: `delegate virtual service must have no tls route specified: ${DELEGATE}, which takes http rules only (or add hosts)`
  })
  .refine((vs) => isSet(vs.hosts) || !isSet(vs.gateways), {
    ...clean,
    path: ['gateways'],
    error: `delegate virtual service must have no gateways specified: ${DELEGATE}; the VirtualService that delegates to it decides the gateways`
  });
export type VirtualServiceSpec = z.infer<typeof VirtualServiceSpec>;

export const LoadBalancerSettings = u({
  simple: oneOf(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
  consistentHash: u({
    httpHeaderName: z.string().optional(),
    httpCookie: u({
      name: z.string(),
      path: z.string().optional(),
      ttl: duration.optional(),
      attributes: z.array(z.unknown()).optional()
    }).optional(),
    useSourceIp: z.boolean().optional(),
    httpQueryParameterName: z.string().optional(),
    ringHash: u({ minimumRingSize: z.number().int().optional() }).optional(),
    maglev: u({ tableSize: z.number().int().optional() }).optional(),
    minimumRingSize: z.number().int().optional()
  }).optional(),
  localityLbSetting: z.record(z.string(), z.unknown()).optional(),
  warmupDurationSecs: duration.optional(),
  warmup: z.record(z.string(), z.unknown()).optional()
});
export type LoadBalancerSettings = z.infer<typeof LoadBalancerSettings>;

/** Kept as data, not checked field by field (Gateway, tunnel, proxyProtocol, retryBudget, Sidecar ingress tls). */
const loose = z.record(z.string(), z.unknown());

/** istio.networking.v1.ConnectionPoolSettings (a DestinationRule's connectionPool, a Sidecar's inboundConnectionPool). */
export const ConnectionPoolSettings = u({
  tcp: u({
    maxConnections: count.optional(),
    connectTimeout: duration.optional(),
    tcpKeepalive: u({
      probes: uint32.optional(),
      time: duration.optional(),
      interval: duration.optional()
    }).optional(),
    maxConnectionDuration: duration.optional(),
    idleTimeout: duration.optional()
  }).optional(),
  http: u({
    http1MaxPendingRequests: count.optional(),
    http2MaxRequests: count.optional(),
    maxRequestsPerConnection: count.optional(),
    maxRetries: count.optional(),
    idleTimeout: duration.optional(),
    h2UpgradePolicy: oneOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).optional(),
    useClientProtocol: z.boolean().optional(),
    maxConcurrentStreams: count.optional()
  }).optional()
}).refine((cp) => cp.tcp !== undefined || cp.http !== undefined, {
  ...clean,
  error: 'connection pool must have at least one field: tcp or http (remove it, or set a limit)'
});
export type ConnectionPoolSettings = z.infer<typeof ConnectionPoolSettings>;

/** istio.networking.v1.OutlierDetection. consecutiveErrors is deprecated (ignored since Istio 1.7: IST0002). */
export const OutlierDetection = u({
  consecutiveErrors: int32.optional(),
  splitExternalLocalOriginErrors: z.boolean().optional(),
  consecutiveLocalOriginFailures: uint32.optional(),
  consecutiveGatewayErrors: uint32.optional(),
  consecutive5xxErrors: uint32.optional(),
  interval: duration.optional(),
  baseEjectionTime: duration.optional(),
  maxEjectionPercent: percent0to100.optional(),
  minHealthPercent: percent0to100.optional()
}).refine((od) => !((od.consecutiveLocalOriginFailures ?? 0) > 0) || od.splitExternalLocalOriginErrors === true, {
  ...clean,
  path: ['consecutiveLocalOriginFailures'],
  error:
    'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false: set splitExternalLocalOriginErrors: true, or remove consecutiveLocalOriginFailures'
});
export type OutlierDetection = z.infer<typeof OutlierDetection>;

export const ClientTLSSettings = u({
  mode: oneOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
  clientCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
  credentialName: z.string().optional(),
  subjectAltNames: z.array(z.string()).optional(),
  sni: z.string().optional(),
  insecureSkipVerify: z.boolean().optional(),
  caCrl: z.string().optional()
});
export type ClientTLSSettings = z.infer<typeof ClientTLSSettings>;

/** A portLevelSettings entry: replaces the four components of its policy for one port. */
export const PortTrafficPolicy = u({
  port: PortSelector,
  loadBalancer: LoadBalancerSettings.optional(),
  connectionPool: ConnectionPoolSettings.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTLSSettings.optional()
}).refine((pl) => [pl.loadBalancer, pl.connectionPool, pl.outlierDetection, pl.tls].some(isSet), {
  ...clean,
  error:
    'port traffic policy must have at least one field: loadBalancer, connectionPool, outlierDetection or tls (remove the entry, or set one)'
});

export const TrafficPolicy = u({
  loadBalancer: LoadBalancerSettings.optional(),
  connectionPool: ConnectionPoolSettings.optional(),
  outlierDetection: OutlierDetection.optional(),
  tls: ClientTLSSettings.optional(),
  portLevelSettings: z.array(PortTrafficPolicy).optional(),
  tunnel: loose.optional(),
  proxyProtocol: loose.optional(),
  retryBudget: loose.optional()
}).refine((tp) => Object.values(tp).some(isSet), {
  ...clean,
  error:
    'traffic policy must have at least one field: loadBalancer, connectionPool, outlierDetection, tls, portLevelSettings, tunnel, proxyProtocol or retryBudget (remove trafficPolicy, or set one)'
});
export type TrafficPolicy = z.infer<typeof TrafficPolicy>;

export const Subset = u({
  name: z.string().min(1),
  labels: z.record(z.string(), z.string()).optional(),
  trafficPolicy: TrafficPolicy.optional()
});
export type Subset = z.infer<typeof Subset>;

export const WorkloadSelector = u({ matchLabels: z.record(z.string(), z.string()).optional() });

export const DestinationRuleSpec = u({
  host: z.string().min(1),
  trafficPolicy: TrafficPolicy.optional(),
  subsets: z.array(Subset).optional(),
  exportTo: z.array(z.string()).optional(),
  workloadSelector: WorkloadSelector.optional()
});
export type DestinationRuleSpec = z.infer<typeof DestinationRuleSpec>;

export const ServicePort = u({
  number: z.number().int().min(1).max(65535),
  protocol: z.string().optional(),
  name: z.string().optional(),
  targetPort: z.number().int().optional()
});

export const WorkloadEntry = u({
  address: z.string().optional(),
  ports: z.record(z.string(), z.number().int()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  network: z.string().optional(),
  locality: z.string().optional(),
  weight: z.number().int().optional(),
  serviceAccount: z.string().optional()
});
export type WorkloadEntry = z.infer<typeof WorkloadEntry>;

export const ServiceEntrySpec = u({
  hosts: z.array(z.string()).min(1),
  addresses: z.array(z.string()).optional(),
  ports: z.array(ServicePort).optional(),
  location: oneOf(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
  resolution: oneOf(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']).optional(),
  endpoints: z.array(WorkloadEntry).optional(),
  /** networking.istio.io's WorkloadSelector (`labels`), not the security API's (`matchLabels`). */
  workloadSelector: u({ labels: z.record(z.string(), z.string()).optional() }).optional(),
  exportTo: z.array(z.string()).optional(),
  subjectAltNames: z.array(z.string()).optional()
});
export type ServiceEntrySpec = z.infer<typeof ServiceEntrySpec>;

/**
 * istio.networking.v1.IstioIngressListener: an explicit inbound listener for the port the workload receives on
 * (`port.number`, the target port), delivering to `defaultEndpoint` (inbound.ts; config/sidecar-ingress.ts).
 */
export const IstioIngressListener = u({
  port: u({
    number: uint32,
    protocol: z.string().optional(),
    name: z.string().optional(),
    targetPort: uint32.optional()
  }),
  bind: z.string().optional(),
  captureMode: oneOf(['DEFAULT', 'IPTABLES', 'NONE']).optional(),
  defaultEndpoint: z.string().optional(),
  tls: loose.optional(),
  connectionPool: ConnectionPoolSettings.optional()
});
export type IstioIngressListener = z.infer<typeof IstioIngressListener>;

export const SidecarSpec = u({
  workloadSelector: u({ labels: z.record(z.string(), z.string()).optional() }).optional(),
  ingress: z.array(IstioIngressListener).optional(),
  egress: z
    .array(
      u({
        port: loose.optional(),
        bind: z.string().optional(),
        captureMode: z.string().optional(),
        hosts: z.array(z.string())
      })
    )
    .optional(),
  outboundTrafficPolicy: u({
    mode: oneOf(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(),
    egressProxy: loose.optional()
  }).optional(),
  inboundConnectionPool: ConnectionPoolSettings.optional()
});
export type SidecarSpec = z.infer<typeof SidecarSpec>;

/** Kinds this engine understands now, by kind name. Security kinds are parsed loosely and kept for later. */
export const NETWORKING_SPECS = {
  VirtualService: VirtualServiceSpec,
  DestinationRule: DestinationRuleSpec,
  ServiceEntry: ServiceEntrySpec,
  Sidecar: SidecarSpec,
  Gateway: loose
} as const;
export const SECURITY_KINDS = ['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication'] as const;
export const NETWORKING_API_VERSIONS = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3'
];
export const SECURITY_API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'];

/** A resource as loaded from a file: typed spec plus where it came from. */
export interface IstioResource<S = unknown> {
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  spec: S;
  where: import('./errors.js').SourcePos;
  /** Load order across all files: stands in for creation order (first wins). */
  order: number;
}

// ---------------------------------------------------------------------------------------------------------------
// security.istio.io (v1 / v1beta1)
// ---------------------------------------------------------------------------------------------------------------

const mtlsMode = oneOf(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);
const targetRef = u({
  kind: z.string().optional(),
  group: z.string().optional(),
  name: z.string().min(1),
  namespace: z.string().optional()
});

export const PeerAuthenticationSpec = u({
  selector: WorkloadSelector.optional(),
  mtls: u({ mode: mtlsMode.optional() }).optional(),
  portLevelMtls: z
    .record(z.string().regex(/^\d+$/, 'must be a port number'), u({ mode: mtlsMode.optional() }))
    .optional()
});

const strs = z.array(z.string()).optional();
const Source = u({
  principals: strs,
  notPrincipals: strs,
  requestPrincipals: strs,
  notRequestPrincipals: strs,
  namespaces: strs,
  notNamespaces: strs,
  serviceAccounts: strs,
  notServiceAccounts: strs,
  ipBlocks: strs,
  notIpBlocks: strs,
  remoteIpBlocks: strs,
  notRemoteIpBlocks: strs,
  // named by istio-semantics §1.5: the trust domain of the peer's principal
  trustDomains: strs,
  notTrustDomains: strs
}).refine((src) => Object.values(src).some(isSet), {
  ...clean,
  error:
    '`from.source` must not be empty: set principals, namespaces, ipBlocks, requestPrincipals, … (or a not* field), or remove this from entry'
});
const Operation = u({
  hosts: strs,
  notHosts: strs,
  ports: strs,
  notPorts: strs,
  methods: strs,
  notMethods: strs,
  paths: strs,
  notPaths: strs
}).refine((op) => Object.values(op).some(isSet), {
  ...clean,
  error:
    '`to.operation` must not be empty: set hosts, ports, methods or paths (or a not* field), or remove this to entry'
});
const Condition = u({ key: z.string().min(1), values: strs, notValues: strs }).refine(
  (c) => isSet(c.values) || isSet(c.notValues),
  {
    ...clean,
    error: (iss) =>
      `at least one of \`values\` or \`notValues\` must be set for key ${(iss.input as { key?: string }).key}`
  }
);
const noRules = (action: string) =>
  `${action} action without \`rules\` is meaningless as it will never be triggered, add an empty rule \`{}\` if you want it be triggered for every request (rules: [{}])`;

export const AuthorizationPolicySpec = u({
  selector: WorkloadSelector.optional(),
  targetRef: targetRef.optional(),
  targetRefs: z.array(targetRef).optional(),
  action: oneOf(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
  provider: u({ name: z.string() }).optional(),
  rules: z
    .array(
      u({
        from: z
          .array(
            u({ source: Source.optional() }).refine((f) => f.source !== undefined, {
              ...clean,
              error: '`from.source` must not be nil: write from: [{source: {…}}], or remove this from entry'
            })
          )
          .optional(),
        to: z
          .array(
            u({ operation: Operation.optional() }).refine((t) => t.operation !== undefined, {
              ...clean,
              error: '`to.operation` must not be nil: write to: [{operation: {…}}], or remove this to entry'
            })
          )
          .optional(),
        when: z.array(Condition).optional()
      })
    )
    .optional()
})
  .refine((ap) => !(ap.action === 'DENY' || ap.action === 'CUSTOM') || isSet(ap.rules), {
    ...clean,
    path: ['action'],
    error: (iss) => noRules((iss.input as { action: string }).action)
  })
  .refine((ap) => ap.action !== 'CUSTOM' || !isSet(ap.rules) || !!ap.provider?.name, {
    ...clean,
    path: ['action'],
    error: '`provider.name` must not be empty: a CUSTOM policy names its extension provider (provider: {name: …})'
  })
  .refine((ap) => ap.provider === undefined || ap.action === 'CUSTOM', {
    ...clean,
    path: ['provider'],
    error: (iss) =>
      `\`provider\` must not be with non CUSTOM action, found ${(iss.input as { action?: string }).action ?? 'ALLOW'}: remove provider, or set action: CUSTOM`
  });

export const RequestAuthenticationSpec = u({
  selector: WorkloadSelector.optional(),
  targetRef: targetRef.optional(),
  targetRefs: z.array(targetRef).optional(),
  jwtRules: z
    .array(
      u({
        issuer: z.string().min(1),
        audiences: strs,
        jwksUri: z.string().optional(),
        jwks: z.string().optional(),
        fromHeaders: z.array(u({ name: z.string().min(1), prefix: z.string().optional() })).optional(),
        fromParams: strs,
        fromCookies: strs,
        outputPayloadToHeader: z.string().optional(),
        forwardOriginalToken: z.boolean().optional(),
        outputClaimToHeaders: z.array(u({ header: z.string().min(1), claim: z.string().min(1) })).optional(),
        spaceDelimitedClaims: strs,
        timeout: z.string().optional()
      })
    )
    .optional()
});

export const SECURITY_SPECS = {
  PeerAuthentication: PeerAuthenticationSpec,
  AuthorizationPolicy: AuthorizationPolicySpec,
  RequestAuthentication: RequestAuthenticationSpec
} as const;
