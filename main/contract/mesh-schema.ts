/**
 * localmesh.yaml: the mesh file (design §2). This zod schema is the only source of its types; defaults live here.
 * Unknown keys are errors (strict objects everywhere).
 */
import { z } from 'zod';

const name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower-case letters, digits and "-")');

/** "127.0.0.1:19081", "[::1]:19081" or "localhost:19081". Only loopback hosts are allowed. */
export const instanceAddress = z
  .string()
  .regex(
    /^(127(\.\d{1,3}){3}|localhost|\[::1\]):\d{1,5}$/,
    'must be a loopback address "host:port" (127.x.x.x, localhost or [::1])'
  )
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port > 0 && port < 65536;
  }, 'port must be 1-65535');

export const RunSpec = z.strictObject({
  command: z.string().min(1),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({})
});
export type RunSpec = z.infer<typeof RunSpec>;

export const WorkloadSpec = z.strictObject({
  name,
  labels: z.record(z.string(), z.string()).default({}),
  serviceAccount: z.string().min(1).default('default'),
  instances: z.array(instanceAddress).min(1),
  sidecar: z.boolean().default(true),
  run: RunSpec.optional()
});
export type WorkloadSpec = z.infer<typeof WorkloadSpec>;

export const ServiceSpec = z.strictObject({
  name,
  /** The port callers use: http://reviews:9080 */
  port: z.number().int().min(1).max(65535),
  /** Namespace of this service; defaults to spec.namespace. */
  namespace: name.optional(),
  /**
   * The port's protocol, as Istio reads a Service port's name or appProtocol: `auto` (default) tells HTTP from a
   * byte stream by the first bytes; `http` is always HTTP; `tcp` is always a byte stream, needed for protocols where
   * the server speaks first (MySQL, SMTP), since a client of those sends nothing to detect.
   */
  protocol: z.enum(['auto', 'http', 'tcp']).default('auto'),
  workloads: z.array(WorkloadSpec).default([])
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;

export const OutboundTrafficPolicy = z.strictObject({
  mode: z.enum(['ALLOW_ANY', 'REGISTRY_ONLY']).default('ALLOW_ANY')
});

/** What the flow store keeps (defaults sized for a laptop). */
export const CaptureSpec = z.strictObject({
  /**
   * Record flows (the flows list, graph, traces and series read them). false: the sidecars still route, count
   * (Prometheus metrics, OTLP spans) and emit live events, but store no flow and keep no body: for load tests, or
   * traffic whose bodies must not be written to disk. A reload switches it.
   */
  enabled: z.boolean().default(true),
  /** Bytes of each body stored with a flow; larger bodies are truncated and marked. */
  bodyCap: z
    .number()
    .int()
    .min(0)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Flows kept; the oldest go first. */
  maxFlows: z.number().int().min(100).default(100_000),
  /** Megabytes of flow records and bodies kept. */
  maxMegabytes: z.number().int().min(1).default(512),
  /** Flows older than this many hours are dropped. */
  maxAgeHours: z
    .number()
    .min(0.01)
    .default(24 * 7)
});
export type CaptureSpec = z.infer<typeof CaptureSpec>;
export const CAPTURE_DEFAULTS: CaptureSpec = {
  enabled: true,
  bodyCap: 1024 * 1024,
  maxFlows: 100_000,
  maxMegabytes: 512,
  maxAgeHours: 24 * 7
};

/** Trace context propagation and export. */
export const TracingSpec = z.strictObject({
  /**
   * Also read and write B3 headers (x-b3-traceid, x-b3-spanid, x-b3-parentspanid, x-b3-sampled). W3C traceparent is
   * always on. Unset: off, as since Istio 1.22 (on with a compatibilityVersion before 1.22, whose default Zipkin
   * tracer wrote B3).
   */
  b3: z.boolean().optional(),
  /** OTLP/HTTP export of spans (e.g. Jaeger's collector at http://127.0.0.1:4318). */
  otlp: z
    .strictObject({
      /** Collector base URL; spans are POSTed to <endpoint>/v1/traces. */
      endpoint: z.url({ protocol: /^https?$/ }),
      headers: z.record(z.string(), z.string()).default({}),
      /** service.name reported for each workload's spans is the workload's service; this prefixes it (optional). */
      serviceNamePrefix: z.string().default('')
    })
    .optional()
});
export type TracingSpec = z.infer<typeof TracingSpec>;

export const MeshSpec = z.strictObject({
  namespace: name.default('default'),
  trustDomain: z.string().min(1).default('cluster.local'),
  /**
   * meshConfig.trustDomainAliases: trust domains treated as this one in AuthorizationPolicy principals (a trust
   * domain migration: policies written for the old trust domain keep matching the new certificates).
   */
  trustDomainAliases: z.array(z.string().min(1)).default([]),
  /** Files or folders of Istio YAML, relative to the mesh file. */
  istio: z.array(z.string().min(1)).default([]),
  /** meshConfig.outboundTrafficPolicy: what happens to calls to hosts the mesh does not know. */
  outboundTrafficPolicy: OutboundTrafficPolicy.default({ mode: 'ALLOW_ANY' }),
  /**
   * First port of the sidecar listeners. 0 (default) = ephemeral ports chosen by the OS;
   * a number = consecutive ports from it, stable across runs.
   */
  portBase: z.number().int().min(0).max(65000).default(0),
  services: z.array(ServiceSpec).default([]),
  capture: CaptureSpec.default(CAPTURE_DEFAULTS),
  tracing: TracingSpec.default({}),
  /**
   * The Istio release whose defaults the sidecars follow, as Istio's `compatibilityVersion` install value: "1.23"
   * keeps the behaviours that changed since (istio-semantics §1.9: 503 retried by default, no inbound retry, B3 on,
   * weights summing to 100, the mirror's -shadow host, ...). Unset: the newest behaviour.
   */
  compatibilityVersion: z
    .string({ error: 'must be a quoted version like "1.23" (unquoted, YAML reads 1.20 as the number 1.2)' })
    .regex(/^1\.\d{1,3}$/, 'must be an Istio release as 1.<minor>, like "1.23"')
    .optional()
});
export type MeshSpec = z.infer<typeof MeshSpec>;

export const MeshFile = z.strictObject({
  apiVersion: z.literal('localmesh.dev/v1alpha1'),
  kind: z.literal('Mesh'),
  metadata: z.strictObject({ name: z.string().min(1) }).default({ name: 'mesh' }),
  spec: MeshSpec
});
export type MeshFile = z.infer<typeof MeshFile>;
export type MeshFileInput = z.input<typeof MeshFile>;
