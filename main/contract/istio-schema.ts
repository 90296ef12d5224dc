/**
 * Istio networking resources (networking.istio.io v1 / v1beta1 / v1alpha3), field names exactly as the Istio
 * protos' JSON form. Strict: unknown fields are errors, as `kubectl apply` with server-side validation would say.
 * Durations stay strings ("1.5s"); see `parseDuration` in the engine.
 */
import { z } from 'zod';

const u = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape);

export const StringMatch = u({
  exact: z.string().optional(),
  prefix: z.string().optional(),
  regex: z.string().optional()
});
export type StringMatch = z.infer<typeof StringMatch>;

const duration = z.string().regex(/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/, 'must be a duration such as "5s" or "250ms"');
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
  derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
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
  unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional()
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

/** L4MatchAttributes of a tcp route (destinationSubnets are kept; every address here is loopback). */
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

export const VirtualServiceSpec = u({
  hosts: z.array(z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  http: z.array(HTTPRoute).optional(),
  tls: z.array(TLSRoute).optional(),
  tcp: z.array(TCPRoute).optional(),
  exportTo: z.array(z.string()).optional()
});
export type VirtualServiceSpec = z.infer<typeof VirtualServiceSpec>;

export const LoadBalancerSettings = u({
  simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
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

/** Kept as data now; enforced by the resilience issue. */
const loose = z.record(z.string(), z.unknown());

export const ClientTLSSettings = u({
  mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
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

export const TrafficPolicy = u({
  loadBalancer: LoadBalancerSettings.optional(),
  connectionPool: loose.optional(),
  outlierDetection: loose.optional(),
  tls: ClientTLSSettings.optional(),
  portLevelSettings: z
    .array(
      u({
        port: PortSelector.optional(),
        loadBalancer: LoadBalancerSettings.optional(),
        connectionPool: loose.optional(),
        outlierDetection: loose.optional(),
        tls: ClientTLSSettings.optional()
      })
    )
    .optional(),
  tunnel: loose.optional(),
  proxyProtocol: loose.optional(),
  retryBudget: loose.optional()
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
  location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
  resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']).optional(),
  endpoints: z.array(WorkloadEntry).optional(),
  /** networking.istio.io's WorkloadSelector (`labels`), not the security API's (`matchLabels`). */
  workloadSelector: u({ labels: z.record(z.string(), z.string()).optional() }).optional(),
  exportTo: z.array(z.string()).optional(),
  subjectAltNames: z.array(z.string()).optional()
});
export type ServiceEntrySpec = z.infer<typeof ServiceEntrySpec>;

export const SidecarSpec = u({
  workloadSelector: u({ labels: z.record(z.string(), z.string()).optional() }).optional(),
  ingress: z.array(loose).optional(),
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
    mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(),
    egressProxy: loose.optional()
  }).optional(),
  inboundConnectionPool: loose.optional()
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

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);
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
export const AuthorizationPolicySpec = u({
  selector: WorkloadSelector.optional(),
  targetRef: targetRef.optional(),
  targetRefs: z.array(targetRef).optional(),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
  provider: u({ name: z.string() }).optional(),
  rules: z
    .array(
      u({
        from: z
          .array(
            u({
              source: u({
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
              }).optional()
            })
          )
          .optional(),
        to: z
          .array(
            u({
              operation: u({
                hosts: strs,
                notHosts: strs,
                ports: strs,
                notPorts: strs,
                methods: strs,
                notMethods: strs,
                paths: strs,
                notPaths: strs
              }).optional()
            })
          )
          .optional(),
        when: z.array(u({ key: z.string().min(1), values: strs, notValues: strs })).optional()
      })
    )
    .optional()
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
