/**
 * Fault filter (istio-semantics §1.2 Fault injection): delay first, then abort, each with its own draw from the
 * seeded generator. An unset percentage means 0%. Aborts reply locally ("fault filter abort", flag FI) and never
 * reach the router, so they are never retried; delays (flag DI) run before the router starts its timeout clocks.
 */
import type { FaultPolicy } from '../config/compile.js';
import type { Exchange } from '../sidecar/exchange.js';
import type { SidecarHost } from '../sidecar/host.js';
import { GRPC_CODES, LocalReplies, type LocalReply } from '../sidecar/local-reply.js';

export async function faultFilter(
  f: FaultPolicy,
  ex: Exchange,
  host: Pick<SidecarHost, 'random' | 'sleep'>
): Promise<LocalReply | undefined> {
  if (f.delayMs > 0) {
    if (host.random.next() * 100 < f.delayPct) {
      ex.flags.add('DI');
      ex.note('fault', `delay ${f.delayMs} ms injected (${f.delayPct}%)`);
      await host.sleep(f.delayMs);
    } else ex.note('fault', `delay not drawn (${f.delayPct}%)`);
  }
  if (f.abortStatus !== undefined || f.abortGrpc !== undefined) {
    if (host.random.next() * 100 < f.abortPct) {
      ex.note('fault', `abort ${f.abortStatus ?? f.abortGrpc} injected (${f.abortPct}%)`);
      if (f.abortStatus !== undefined) return LocalReplies.faultAbort(f.abortStatus);
      // a grpcStatus abort is HTTP 200 with that status (Envoy's abortStatus); Envoy's local reply puts it in
      // gRPC form only for a gRPC request, else it is a plain 200 with the fault's body
      const ct = ex.req.headers['content-type'];
      const grpc = typeof ct === 'string' && (ct === 'application/grpc' || ct.startsWith('application/grpc+'));
      return grpc ? LocalReplies.faultAbortGrpc(GRPC_CODES[f.abortGrpc!] ?? 2) : LocalReplies.faultAbort(200);
    }
    ex.note('fault', `abort not drawn (${f.abortPct}%)`);
  }
  return undefined;
}
