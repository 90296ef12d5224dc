/**
 * What one sidecar knows about one request while handling it: the decision trace, the flags, the attempts, and the
 * finished flow record. Shared by the outbound and inbound pipelines.
 */
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AttemptRecord, FlowRecord, Reporter, TraceStep } from '../../contract/api.js';
import { joinFlags } from './flags.js';
import type { LocalReply } from './local-reply.js';
import { BodyCapture } from './body-capture.js';

let flowSeq = 0;

/** Hop-by-hop headers a proxy never forwards (and `expect`: the sidecar answers 100-continue itself, as Envoy does). */
export const HOP_BY_HOP = new Set(['expect', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

export class Exchange {
  readonly id = `${Date.now().toString(36)}-${(++flowSeq).toString(36)}`;
  readonly started = performance.now();
  readonly startedAt = new Date().toISOString();
  readonly trace: TraceStep[] = [];
  readonly flags = new Set<string>();
  readonly attemptLog: AttemptRecord[] = [];
  requestId = '';
  method: string;
  authority = '';
  path = '';
  status = 0;
  destination: string | null = null;
  destinationService: string | null = null;
  virtualService: string | null = null;
  rule: string | null = null;
  subset: string | null = null;
  endpoint: string | null = null;
  localReply: string | null = null;
  sourcePrincipal: string | null = null;
  destinationPrincipal: string | null = null;
  mtls = false;
  upstreamHeaders: OutgoingHttpHeaders = {};
  /** What was sent to the caller (writeHead with an object does not show up in res.getHeaders()). */
  responseHeaders: OutgoingHttpHeaders = {};
  finished = false;
  readonly requestBody = new BodyCapture();
  readonly responseBody = new BodyCapture();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly reporter: Reporter,
    public source: string | null,
    readonly configVersion: number,
    private readonly onDone: (flow: FlowRecord) => void
  ) {
    this.method = req.method ?? 'GET';
    res.once('close', () => this.done());
  }

  note(step: string, detail: string): void {
    this.trace.push({ step, detail });
  }

  /** Keep x-request-id when present, generate a UUIDv4 when absent. */
  ensureRequestId(headers: OutgoingHttpHeaders): void {
    const id = headers['x-request-id'];
    if (typeof id === 'string' && id !== '') this.requestId = id;
    else {
      this.requestId = randomUUID();
      headers['x-request-id'] = this.requestId;
    }
  }

  /** Send a proxy-generated response, byte-exact (istio-semantics §1.7). */
  sendLocal(reply: LocalReply, server: string, extra?: (h: Record<string, string | string[]>) => void): void {
    for (const f of reply.flags) this.flags.add(f);
    this.localReply = reply.reason;
    this.note('local-reply', `${reply.status} ${reply.reason}`);
    const res = this.res;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string | string[]> = { ...reply.headers };
    extra?.(headers);
    headers['content-length'] = String(reply.body.length);
    headers['server'] = server;
    this.status = reply.status;
    this.responseHeaders = headers;
    res.writeHead(reply.status, headers);
    if (this.method !== 'HEAD') this.responseBody.add(reply.body);
    res.end(this.method === 'HEAD' ? undefined : reply.body);
  }

  private done(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.res.writableFinished) this.flags.add('DC'); // the caller went away before the response was complete
    this.onDone({
      id: this.id,
      requestId: this.requestId,
      reporter: this.reporter,
      source: this.source,
      destination: this.destination,
      destinationService: this.destinationService,
      method: this.method,
      authority: this.authority,
      path: this.path,
      status: this.status,
      flags: joinFlags(this.flags),
      durationMs: Math.round((performance.now() - this.started) * 1000) / 1000,
      startedAt: this.startedAt,
      virtualService: this.virtualService,
      rule: this.rule,
      subset: this.subset,
      endpoint: this.endpoint,
      attempts: this.attemptLog.length,
      attemptLog: this.attemptLog,
      localReply: this.localReply,
      trace: this.trace,
      configVersion: this.configVersion,
      requestHeaders: flattenHeaders(this.upstreamHeaders),
      responseHeaders: flattenHeaders(this.responseHeaders),
      sourcePrincipal: this.sourcePrincipal,
      destinationPrincipal: this.destinationPrincipal,
      connectionSecurity: this.mtls ? 'mutual_tls' : 'none',
      requestBody: this.requestBody.view(),
      responseBody: this.responseBody.view()
    });
  }
}

function flattenHeaders(h: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return out;
}

/** Copy the downstream request headers for the upstream, without hop-by-hop ones. */
export function forwardableHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const raw = req.headers;
  for (const k in raw) {
    if (HOP_BY_HOP.has(k)) continue;
    out[k] = raw[k];
  }
  return out;
}

/** Apply one header-ops block: remove first, then add, then set (Envoy's order). */
export function applyHeaderOps(
  headers: OutgoingHttpHeaders | Record<string, string | string[] | number | undefined>,
  ops: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } | undefined
): void {
  if (!ops) return;
  for (const name of ops.remove ?? []) delete headers[name.toLowerCase()];
  for (const [k, v] of Object.entries(ops.add ?? {})) {
    const key = k.toLowerCase();
    const cur = headers[key];
    if (cur === undefined) headers[key] = v;
    else headers[key] = [...(Array.isArray(cur) ? cur.map(String) : [String(cur)]), v];
  }
  for (const [k, v] of Object.entries(ops.set ?? {})) headers[k.toLowerCase()] = v;
}
