/**
 * One upstream try of the outbound sidecar on the fast lane's pool (fast-lane.ts): the same outcomes as tryUpstream
 * (upstream.ts) -- a response, a reset, a per-try timeout, an abort -- for a request whose whole body is in hand.
 * A response's body bytes may arrive with its head, before the caller has decided what to do with them (retry on its
 * status, or answer the client): they wait in a ResponseBody until the caller attaches a sink or discards them.
 */
import type { ResponseHead } from './h1.js';
import type { FastResponse, Framing, UpstreamCall, UpstreamHandle, UpstreamPool } from './fast-lane.js';
import type { Exchange } from './exchange.js';
import type { ResetReason } from './local-reply.js';
import type { AbortLike } from './abort.js';
import type { Socket } from 'node:net';

export type FastTryOutcome =
  | { kind: 'fast-response'; head: ResponseHead; framing: Framing; body: ResponseBody }
  | { kind: 'reset'; reason: ResetReason; beforeRequest: boolean; message: string }
  | { kind: 'per-try-timeout' }
  | { kind: 'aborted' };

/** Where a response's body goes once the caller has decided (a FastResponse, through the outbound's respond). */
export interface BodySink {
  forward(raw: Buffer): boolean;
  capture(data: Buffer): void;
  flush(): void;
  drained(resume: () => void): void;
  end(): void;
  broken(): void;
}

/**
 * A fast-lane response's body on its way to a fast-lane client: bytes forwarded untouched, decoded ones captured for
 * the flow. The base of the outbound's FastRelay and the inbound's InboundTry, one object per response with methods
 * rather than closures per callback (a named closure per request costs a defineProperty under tsx's keepNames).
 */
export abstract class ClientRelay {
  constructor(
    protected readonly ex: Exchange,
    protected readonly res: FastResponse
  ) {}

  forward(raw: Buffer): boolean {
    return this.res.write(raw);
  }

  capture(data: Buffer): void {
    this.ex.responseBody.add(data);
  }

  flush(): void {
    this.res.flush();
  }

  drained(resume: () => void): void {
    this.res.onDrain(resume);
  }
}

/** The body of a response on the fast lane, held until attached. */
export class ResponseBody {
  private sink: BodySink | null = null;
  private raw: Buffer[] = [];
  private decoded: Buffer[] = [];
  private state: 'open' | 'ended' | 'broken' = 'open';

  constructor(private readonly call: UpstreamCall) {}

  attach(sink: BodySink): void {
    this.sink = sink;
    for (const d of this.decoded) sink.capture(d);
    let ok = true;
    for (const r of this.raw) ok = sink.forward(r);
    this.raw = [];
    this.decoded = [];
    if (this.state === 'ended') sink.end();
    else if (this.state === 'broken') sink.broken();
    else {
      sink.flush();
      if (!ok) this.pauseUntilDrained();
    }
  }

  /** Drop the response (its connection too, unless it had already ended cleanly). */
  discard(): void {
    if (this.state === 'open') this.call.on?.cancel();
    this.raw = [];
    this.decoded = [];
  }

  /** Stop reading the upstream (a route timeout after the response started). */
  cancel(): void {
    this.call.on?.cancel();
  }

  private pauseUntilDrained(): void {
    const c = this.call.on;
    c?.pause();
    this.sink?.drained(() => c?.resume());
  }

  forward(raw: Buffer): boolean {
    if (this.sink) return this.sink.forward(raw);
    this.raw.push(raw);
    return true;
  }

  capture(data: Buffer): void {
    if (this.sink) this.sink.capture(data);
    else this.decoded.push(data);
  }

  flush(): void {
    this.sink?.flush();
  }

  drained(resume: () => void): void {
    if (this.sink) this.sink.drained(resume);
    else resume();
  }

  end(): void {
    this.state = 'ended';
    this.sink?.end();
  }

  broken(): void {
    this.state = 'broken';
    this.sink?.broken();
  }
}

export interface FastTryOptions {
  pool: UpstreamPool;
  /** The request head, serialized (blank line included). */
  head: string;
  body: Buffer | null;
  isHead: boolean;
  perTryTimeoutMs: number;
  /** For a new connection (a DestinationRule's connectTimeout); the pool's default when absent. */
  connectTimeoutMs?: number;
  signal: AbortLike;
  /** Told when the try has its connection (`sock`: that connection). */
  timing?: { upstreamConnected(sock?: Socket): void };
}

export function fastTry(o: FastTryOptions): Promise<FastTryOutcome> {
  return new Promise((resolve) => new OutboundTry(o, resolve).start());
}

/** One try: the pool's callbacks as methods (no closures per try), settled once. */
class OutboundTry implements UpstreamCall {
  on?: UpstreamHandle;
  readonly head: string;
  readonly body: Buffer | null;
  readonly isHead: boolean;
  readonly connectTimeoutMs: number | undefined;
  private done = false;
  private perTry: NodeJS.Timeout | undefined;
  private response_: ResponseBody | null = null;
  /** Bound once: the route's abort listener and the per-try timer. */
  private readonly onAbort: () => void;
  private readonly onPerTry: () => void;

  constructor(
    private readonly o: FastTryOptions,
    private readonly resolve: (v: FastTryOutcome) => void
  ) {
    this.head = o.head;
    this.body = o.body;
    this.isHead = o.isHead;
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.onAbort = this.finish.bind(this, ABORTED);
    this.onPerTry = this.finish.bind(this, PER_TRY_TIMEOUT);
  }

  start(): void {
    const o = this.o;
    if (o.signal.aborted) return this.finish(ABORTED);
    o.signal.onAbort(this.onAbort);
    if (o.perTryTimeoutMs > 0) this.perTry = setTimeout(this.onPerTry, o.perTryTimeoutMs);
    o.pool.send(this);
  }

  private finish(v: FastTryOutcome): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.perTry);
    this.o.signal.offAbort(this.onAbort);
    if (v.kind === 'per-try-timeout' || v.kind === 'aborted') this.on?.cancel();
    this.resolve(v);
  }

  connected(sock: Socket): void {
    if (!this.done) this.o.timing?.upstreamConnected(sock);
  }

  response(head: ResponseHead, framing: Framing): void {
    const body = (this.response_ = new ResponseBody(this));
    this.finish({ kind: 'fast-response', head, framing, body });
  }

  forward(raw: Buffer): boolean {
    return this.response_?.forward(raw) ?? true;
  }

  capture(data: Buffer): void {
    this.response_?.capture(data);
  }

  flush(): void {
    this.response_?.flush();
  }

  drained(resume: () => void): void {
    if (this.response_) this.response_.drained(resume);
    else resume();
  }

  end(): void {
    this.response_?.end();
  }

  failed(reason: ResetReason, beforeRequest: boolean, message: string): void {
    this.finish({ kind: 'reset', reason, beforeRequest, message });
  }

  broken(): void {
    this.response_?.broken();
  }
}

const ABORTED: FastTryOutcome = { kind: 'aborted' };
const PER_TRY_TIMEOUT: FastTryOutcome = { kind: 'per-try-timeout' };
