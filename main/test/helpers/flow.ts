/** Made-up flow records for store, HAR, compare and UI tests. */
import type { BodyView, FlowRecord } from '../../contract/api.js';

/**
 * The time flow(0) starts: the start of the minute an hour ago, so made-up flows are recent (inside the store's
 * age limit) whenever the tests run, and times in whole seconds after it are easy to read.
 */
export const FLOW_EPOCH = Math.floor(Date.now() / 60_000) * 60_000 - 3600_000;

/** ISO time `sec` seconds after FLOW_EPOCH. */
export function at(sec: number): string {
  return new Date(FLOW_EPOCH + sec * 1000).toISOString();
}

/** A utf8 body as the sidecar captures it. */
export function textBody(data: string, over: Partial<BodyView> = {}): BodyView {
  return { encoding: 'utf8', data, size: Buffer.byteLength(data), truncated: false, ...over };
}

/** A binary body (base64) as the sidecar captures it. */
export function binaryBody(bytes: Buffer, over: Partial<BodyView> = {}): BodyView {
  return { encoding: 'base64', data: bytes.toString('base64'), size: bytes.length, truncated: false, ...over };
}

/** Flow `f-<i>` (request `r-<i>`): productpage-v1 calling reviews-v1, reported by the source sidecar, at(i). */
export function flow(i: number, over: Partial<FlowRecord> = {}): FlowRecord {
  return {
    id: `f-${i}`,
    requestId: `r-${i}`,
    reporter: 'source',
    source: 'productpage-v1',
    destination: 'reviews-v1',
    destinationService: 'reviews.default.svc.cluster.local',
    method: 'GET',
    authority: 'reviews:9080',
    path: `/reviews/${i}`,
    status: 200,
    flags: '-',
    durationMs: 1.5,
    startedAt: at(i),
    virtualService: null,
    rule: null,
    subset: null,
    endpoint: '127.0.0.1:19081',
    attempts: 1,
    attemptLog: [],
    localReply: null,
    trace: [{ step: 'route', detail: 'default route' }],
    configVersion: 1,
    requestHeaders: { host: 'reviews:9080' },
    responseHeaders: { server: 'envoy' },
    requestBody: null,
    responseBody: { encoding: 'utf8', data: `{"n":${i}}`, size: 7, truncated: false },
    ...over
  };
}

/** The destination sidecar's flow of the same hop as a source-reporter flow (same request id, both ends). */
export function serverHalf(client: FlowRecord, id: string, over: Partial<FlowRecord> = {}): FlowRecord {
  return { ...client, id, reporter: 'destination', ...over };
}
