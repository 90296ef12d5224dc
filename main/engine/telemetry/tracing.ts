/**
 * Trace context for the sidecars (issue 6): every sidecar hop is one span. W3C `traceparent` is always read and
 * written; B3 (`x-b3-*` and the single `b3` header) only when the mesh file sets `spec.tracing.b3`.
 *
 * Per request a sidecar:
 *  - continues the incoming context: a valid `traceparent`, else (B3 on) a valid `b3` / `x-b3-traceid`+`x-b3-spanid`;
 *    anything invalid is ignored and a new trace starts (new random trace id, no parent);
 *  - creates its own span id; the caller's span id becomes the parent (the client sidecar's span is the parent of
 *    the server sidecar's span, whose id the app receives, so the app's own outbound call is its child);
 *  - forwards `traceparent: 00-<trace>-<own span>-<flags>` (flags kept, default 01), `tracestate` as is when the
 *    incoming traceparent was valid (dropped when a new trace starts, as W3C allows), and with B3 on the `x-b3-*`
 *    headers (and a rewritten `b3` when the caller sent the single header).
 *
 * localmesh records every request (like Istio's demo profile at 100% sampling); the sampled flag is propagated but
 * does not stop a flow or its span from being recorded.
 *
 * Ids are random bytes from a 4 KiB pool refilled by one `randomFillSync` call, not one syscall per id. They do not
 * come from the engine's seeded generator on purpose: ids are labels, not behaviour (routing, weights and faults
 * never depend on them), and drawing them from the seeded stream would shift every seeded decision after it.
 */
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
/** The pool as hex (8192 characters); ids are slices of it (no native call per id). */
let poolHex = '';
let poolOffset = 0;

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';
const TRACE_PAD = '0000000000000000';

function randomHex(chars: number, zero: string): string {
  for (;;) {
    if (poolOffset + chars > poolHex.length) {
      poolHex = randomFillSync(pool).toString('hex');
      poolOffset = 0;
    }
    const id = poolHex.slice(poolOffset, poolOffset + chars);
    poolOffset += chars;
    if (id !== zero) return id;
  }
}

/** A new random 16-byte trace id (32 lowercase hex, never all zero). */
export function newTraceId(): string {
  return randomHex(32, ZERO_TRACE);
}

/** A new random 8-byte span id (16 lowercase hex, never all zero). */
export function newSpanId(): string {
  return randomHex(16, ZERO_SPAN);
}

/** The context a caller sent: its trace, its span (our parent) and the trace flags (2 hex). */
export interface IncomingContext {
  traceId: string;
  spanId: string;
  flags: string;
}

/** Lowercase hex only (W3C forbids upper case). */
function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** B3 ids are "lower-hex" too, but some tracers send upper case: accept both (they are lowercased). */
function isHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20;
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * W3C trace-context `traceparent`: "<version>-<trace-id>-<parent-id>-<flags>" (2-32-16-2 lowercase hex). Version ff
 * is invalid; version 00 must be exactly 55 characters; a later version may carry more fields after a '-'.
 * Trace id and parent id must not be all zero. Returns undefined for anything invalid.
 */
export function parseTraceparent(v: string | string[] | undefined): IncomingContext | undefined {
  if (typeof v !== 'string' || v.length < 55) return undefined;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined; // '-'
  if (!isLowerHex(v, 0, 2) || !isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52) || !isLowerHex(v, 53, 55))
    return undefined;
  const version = v.slice(0, 2);
  if (version === 'ff') return undefined;
  if (v.length > 55 && (version === '00' || v.charCodeAt(55) !== 45)) return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: v.slice(53, 55) };
}

function b3TraceId(v: string): string | undefined {
  if ((v.length !== 16 && v.length !== 32) || !isHex(v)) return undefined;
  const id = v.length === 16 ? TRACE_PAD + v.toLowerCase() : v.toLowerCase();
  return id === ZERO_TRACE ? undefined : id;
}

function b3SpanId(v: string | undefined): string | undefined {
  if (v === undefined || v.length !== 16 || !isHex(v)) return undefined;
  const id = v.toLowerCase();
  return id === ZERO_SPAN ? undefined : id;
}

/** B3 sampling state → W3C flags: "0"/"false" → 00; "1"/"true"/"d" (debug) or absent → 01. */
function b3Flags(sampled: string | undefined, debug?: string | string[]): string {
  if (debug === '1' || sampled === 'd') return '01';
  return sampled === '0' || sampled === 'false' ? '00' : '01';
}

/**
 * B3 (openzipkin/b3-propagation): the single header "b3: <trace>-<span>[-<sampled>[-<parent>]]" first (as Envoy
 * reads it), else the multi headers x-b3-traceid (16 or 32 hex; 16 is padded to 32 with leading zeros) and
 * x-b3-spanid with x-b3-sampled / x-b3-flags. A lone sampling state ("b3: 0") carries no context.
 */
export function parseB3(h: IncomingHttpHeaders): IncomingContext | undefined {
  const single = h.b3;
  if (typeof single === 'string' && single.length >= 33) {
    const parts = single.split('-');
    const traceId = b3TraceId(parts[0]!);
    const spanId = b3SpanId(parts[1]);
    if (traceId && spanId) return { traceId, spanId, flags: b3Flags(parts[2]) };
  }
  const t = h['x-b3-traceid'];
  if (typeof t !== 'string') return undefined;
  const traceId = b3TraceId(t);
  const s = h['x-b3-spanid'];
  const spanId = b3SpanId(typeof s === 'string' ? s : undefined);
  if (!traceId || !spanId) return undefined;
  const sampled = h['x-b3-sampled'];
  return {
    traceId,
    spanId,
    flags: b3Flags(typeof sampled === 'string' ? sampled.toLowerCase() : undefined, h['x-b3-flags'])
  };
}

/**
 * A sampling decision sent without a context ("b3: 0", or x-b3-sampled / x-b3-flags without ids): the flags a new
 * trace keeps (B3: "a lone sampling state ... the decision must be kept"), else undefined.
 */
function b3SamplingOnly(h: IncomingHttpHeaders): string | undefined {
  const single = h.b3;
  if (typeof single === 'string' && single.length > 0 && single.length <= 2) return b3Flags(single.toLowerCase());
  const sampled = h['x-b3-sampled'];
  const debug = h['x-b3-flags'];
  if (typeof sampled === 'string' || debug === '1')
    return b3Flags(typeof sampled === 'string' ? sampled.toLowerCase() : undefined, debug);
  return undefined;
}

/** The span fields a sidecar's Exchange carries. */
export interface SpanFields {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  /** W3C trace flags (2 hex) sent onward. */
  traceFlags: string;
}

/**
 * Start this sidecar's span for one request: read the incoming context from `incoming` (the request as received),
 * set the span fields on `span`, and write the onward context into `out` (the headers sent upstream / to the app).
 */
export function startSpan(
  span: SpanFields,
  incoming: IncomingHttpHeaders,
  out: OutgoingHttpHeaders,
  b3: boolean
): void {
  const w3c = parseTraceparent(incoming.traceparent);
  const ctx = w3c ?? (b3 ? parseB3(incoming) : undefined);
  const spanId = newSpanId();
  span.spanId = spanId;
  if (ctx) {
    span.traceId = ctx.traceId;
    span.parentSpanId = ctx.spanId;
    span.traceFlags = ctx.flags;
  } else {
    span.traceId = newTraceId();
    span.parentSpanId = null;
    // a new trace is sampled unless the caller sent a B3 decision alone ("b3: 0")
    span.traceFlags = (b3 ? b3SamplingOnly(incoming) : undefined) ?? '01';
  }
  out.traceparent = `00-${span.traceId}-${spanId}-${span.traceFlags}`;
  // tracestate belongs to the incoming traceparent: kept as is with it, meaningless without it
  if (!w3c && out.tracestate !== undefined) delete out.tracestate;
  if (b3) writeB3(out, span, out.b3 !== undefined);
}

function writeB3(out: OutgoingHttpHeaders, span: SpanFields, single: boolean): void {
  const sampled = (parseInt(span.traceFlags, 16) & 1) === 1 ? '1' : '0';
  out['x-b3-traceid'] = span.traceId;
  out['x-b3-spanid'] = span.spanId;
  if (span.parentSpanId) out['x-b3-parentspanid'] = span.parentSpanId;
  else delete out['x-b3-parentspanid'];
  out['x-b3-sampled'] = sampled;
  if (single) out.b3 = `${span.traceId}-${span.spanId}-${sampled}${span.parentSpanId ? `-${span.parentSpanId}` : ''}`;
}

/**
 * A mirrored (shadow) request is not trace-sampled (istio-semantics §1.2 Mirroring): the same context with the
 * sampled flag cleared. Changes `headers` (a copy made for the mirror).
 */
export function unsampled(headers: OutgoingHttpHeaders, span: SpanFields, b3: boolean): void {
  const flags = (parseInt(span.traceFlags, 16) & 0xfe).toString(16).padStart(2, '0');
  headers.traceparent = `00-${span.traceId}-${span.spanId}-${flags}`;
  if (b3)
    writeB3(
      headers,
      { traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId, traceFlags: flags },
      headers.b3 !== undefined
    );
}

/** Where a flow's service lives, for span names (a Registry fits). */
export interface ServiceLookup {
  serviceByFqdn: Map<string, { ports: number[] }>;
}

/**
 * Istio's operation name of a sidecar span: "<destination service FQDN>:<port>/*"; the authority when the
 * destination is not a known service (passthrough, black hole, unknown hosts).
 */
export function operationName(
  flow: { destinationService: string | null; authority: string },
  services: ServiceLookup
): string {
  const fqdn = flow.destinationService;
  const svc = fqdn ? services.serviceByFqdn.get(fqdn) : undefined;
  if (!fqdn || !svc) return flow.authority || fqdn || 'unknown';
  const a = flow.authority;
  const colon = a.lastIndexOf(':');
  const port = colon > 0 && a.charCodeAt(a.length - 1) !== 93 /* ']' */ ? Number(a.slice(colon + 1)) : NaN;
  // the route's port: the request's when the service has it, else the service's (a caller without a sidecar may
  // name the inbound sidecar's own address; Istio's inbound route is still the service port's)
  const known = Number.isInteger(port) && port > 0 && (svc.ports.length === 0 || svc.ports.includes(port));
  return `${fqdn}:${known ? port : (svc.ports[0] ?? 80)}/*`;
}
