/**
 * OTLP/HTTP export of the sidecars' spans (spec.tracing.otlp): every finished flow becomes one OpenTelemetry span
 * (CLIENT from the source reporter, SERVER from the destination), posted as OTLP/JSON to <endpoint>/v1/traces by
 * @opentelemetry/exporter-trace-otlp-http.
 *
 * The spans are ReadableSpan objects built by hand from the flow (the flow already holds the ids, times and
 * outcome; no SDK tracer is involved). Batching is our own, small and bounded: the request path only converts the
 * flow and pushes it on a queue (max 2048 spans; more are dropped and counted); a batch of up to 512 spans goes out
 * every second, or as soon as 512 are queued, one export at a time. A collector that is down or slow never blocks
 * or fails a request: the batch is dropped, the loss is logged with a count (at most every 30 s), and recovery is
 * logged too.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type HrTime,
  type SpanContext
} from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { FlowRecord } from '../../contract/api.js';
import type { TracingSpec } from '../../contract/mesh-schema.js';
import { canonicalService } from './metrics.js';
import { operationName, type ServiceLookup } from './tracing.js';

/** What the exporter needs to know about the mesh when a flow finishes (the current Registry fits). */
export interface SpanContextLookup extends ServiceLookup {
  workloadByName: Map<string, { service: string; namespace: string; labels: Record<string, string> }>;
  /** A Sidecar ingress listener's inbound cluster by `<workload> <endpoint>` (Registry.inboundClusters). */
  inboundClusters?: Map<string, string>;
}

export interface FlowSpanExporter {
  /** The collector URL spans are posted to. */
  readonly url: string;
  /** Queue the span of a finished flow (cheap; never throws, never waits). */
  record(flow: FlowRecord, mesh: SpanContextLookup): void;
  /** Export everything queued now (tests). */
  flush(): Promise<void>;
  /** Export what is queued (waiting at most ~1 s for the collector), then stop. */
  close(): Promise<void>;
}

export interface SpanExporterOptions {
  /** How often a partial batch goes out (default 1000 ms). */
  flushMs?: number;
  /** Spans per export request (default 512). */
  maxBatch?: number;
  /** Spans waiting at most; more are dropped (default 2048). */
  maxQueue?: number;
  /** Time for one export including the exporter's own retries (default 5000 ms). */
  timeoutMs?: number;
  /** How long close() waits for the last export (default 1000 ms). */
  closeWaitMs?: number;
}

const SCOPE = { name: 'localmesh-sidecar', version: '1' };
const DROP_LOG_INTERVAL_MS = 30_000;

/** null when spec.tracing.otlp is not set. */
export function createSpanExporter(
  spec: TracingSpec['otlp'],
  log: (line: string) => void,
  opts: SpanExporterOptions = {}
): FlowSpanExporter | null {
  if (!spec) return null;
  const url = `${spec.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const flushMs = opts.flushMs ?? 1000;
  const maxBatch = opts.maxBatch ?? 512;
  const maxQueue = opts.maxQueue ?? 2048;
  const prefix = spec.serviceNamePrefix;
  const exporter = new OTLPTraceExporter({
    url,
    headers: { ...spec.headers },
    timeoutMillis: opts.timeoutMs ?? 5000,
    concurrencyLimit: 2
  });
  const resources = new Map<string, Resource>();
  let queue: ReadableSpan[] = [];
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let closed = false;
  let failing = false;
  let dropped = 0;
  let lastDropLog = 0;

  const resourceFor = (serviceName: string): Resource => {
    let r = resources.get(serviceName);
    if (!r) resources.set(serviceName, (r = resourceFromAttributes({ 'service.name': serviceName })));
    return r;
  };

  const reportDrops = (force: boolean) => {
    if (dropped === 0) return;
    const now = Date.now();
    if (!force && now - lastDropLog < DROP_LOG_INTERVAL_MS) return;
    lastDropLog = now;
    log(`OTLP: ${dropped} span(s) not exported to ${url} (collector unreachable or too slow)`);
    dropped = 0;
  };

  let immediate = false;
  const schedule = (now: boolean) => {
    // while an export is in flight, its completion schedules the next one
    if (closed || inFlight) return;
    if (now) {
      if (immediate) return;
      immediate = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      setImmediate(() => {
        immediate = false;
        void exportBatch();
      });
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        void exportBatch();
      }, flushMs);
      timer.unref();
    }
  };

  const exportBatch = (): Promise<void> => {
    if (inFlight) return inFlight;
    if (queue.length === 0) return Promise.resolve();
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
    const done = (result: ExportResult) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (failing) {
          failing = false;
          log(`OTLP: export to ${url} works again`);
          reportDrops(true);
        }
      } else {
        dropped += batch.length;
        if (!failing) {
          failing = true;
          log(
            `OTLP: export to ${url} failed: ${result.error?.message ?? 'unknown error'}; spans are dropped until the collector answers`
          );
        }
        reportDrops(false);
      }
    };
    inFlight = new Promise<void>((resolve) => {
      try {
        exporter.export(batch, (result) => {
          done(result);
          resolve();
        });
      } catch (e) {
        done({ code: ExportResultCode.FAILED, error: e as Error });
        resolve();
      }
    }).then(() => {
      inFlight = undefined;
      if (queue.length >= maxBatch) schedule(true);
      else if (queue.length > 0) schedule(false);
    });
    return inFlight;
  };

  return {
    url,
    record(flow, mesh) {
      if (closed) return;
      if (queue.length >= maxQueue) {
        dropped++;
        return;
      }
      try {
        queue.push(flowToSpan(flow, mesh, prefix, resourceFor));
      } catch {
        return; // a flow that cannot become a span is not worth failing a request over
      }
      schedule(queue.length >= maxBatch);
    },
    async flush() {
      while (inFlight || queue.length > 0) await exportBatch();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const wait = opts.closeWaitMs ?? 1000;
      let giveUp: NodeJS.Timeout | undefined;
      const last = (async () => {
        while (inFlight || queue.length > 0) await exportBatch();
      })();
      await Promise.race([last, new Promise<void>((r) => (giveUp = setTimeout(r, wait)))]);
      clearTimeout(giveUp);
      dropped += queue.length;
      queue = [];
      reportDrops(true);
      void exporter.shutdown().catch(() => undefined);
    }
  };
}

function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  const ns = Math.min(999_999_999, Math.round((ms - s * 1000) * 1e6));
  return [s, ns];
}

function portOf(authority: string): string {
  const colon = authority.lastIndexOf(':');
  return colon > 0 && !authority.endsWith(']') ? authority.slice(colon + 1) : '80';
}

/** One flow as the OpenTelemetry span Istio's sidecar would report for it. */
export function flowToSpan(
  flow: FlowRecord,
  mesh: SpanContextLookup,
  prefix: string,
  resourceFor: (serviceName: string) => Resource
): ReadableSpan {
  const server = flow.reporter === 'destination';
  const workloadName = server ? flow.destination : flow.source;
  const w = workloadName ? mesh.workloadByName.get(workloadName) : undefined;
  const ns = w?.namespace ?? 'default';
  const canonical = canonicalService(w?.labels ?? {}, workloadName ?? '');
  const traceId = flow.traceId ?? '';
  const ctx: SpanContext = { traceId, spanId: flow.spanId ?? '', traceFlags: TraceFlags.SAMPLED, isRemote: false };
  const parent: SpanContext | undefined = flow.parentSpanId
    ? { traceId, spanId: flow.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true }
    : undefined;
  const startMs = Date.parse(flow.startedAt);
  const q = flow.path.indexOf('?');
  const port = portOf(flow.authority);
  const fqdn = flow.destinationService ?? '';
  const known = mesh.serviceByFqdn.has(fqdn);
  const cluster = server
    ? (mesh.inboundClusters?.get(`${flow.destination ?? ''} ${flow.endpoint ?? ''}`) ??
      `inbound|${flow.endpoint ? portOf(flow.endpoint) : port}||`)
    : known
      ? `outbound|${port}|${flow.subset ?? ''}|${fqdn}`
      : fqdn || flow.authority;
  const error = flow.status >= 500 || flow.status === 0;
  const attributes: Attributes = {
    component: 'proxy',
    node_id: `sidecar~127.0.0.1~${workloadName ?? 'unknown'}.${ns}~${ns}.svc.cluster.local`,
    'guid:x-request-id': flow.requestId,
    'http.method': flow.method,
    'http.url': `http://${flow.authority}${flow.path}`,
    'http.protocol': 'HTTP/1.1',
    'http.status_code': String(flow.status),
    'http.request.method': flow.method,
    'url.path': q < 0 ? flow.path : flow.path.slice(0, q),
    'http.response.status_code': flow.status,
    'server.address': flow.authority,
    response_flags: flow.flags,
    upstream_cluster: cluster,
    'upstream_cluster.name': cluster,
    'peer.address': '127.0.0.1',
    'istio.canonical_service': canonical.name || 'unknown',
    'istio.canonical_revision': canonical.revision,
    'istio.namespace': ns,
    'istio.mesh_id': 'cluster.local',
    'localmesh.flow_id': flow.id,
    'localmesh.reporter': flow.reporter
  };
  if (flow.endpoint) attributes.upstream_address = flow.endpoint;
  if (flow.replayOf) attributes['localmesh.replay_of'] = flow.replayOf;
  if (error) attributes.error = 'true';
  return {
    name: operationName(flow, mesh),
    kind: server ? SpanKind.SERVER : SpanKind.CLIENT,
    spanContext: () => ctx,
    parentSpanContext: parent,
    startTime: hrTime(startMs),
    endTime: hrTime(startMs + flow.durationMs),
    duration: hrTime(flow.durationMs),
    status: error
      ? { code: SpanStatusCode.ERROR, message: flow.localReply ?? `HTTP ${flow.status}` }
      : { code: SpanStatusCode.UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource: resourceFor(`${prefix}${w?.service ?? workloadName ?? 'unknown'}.${ns}`),
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0
  };
}
