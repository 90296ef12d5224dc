/** A made-up flow record for store and UI tests. */
import type { FlowRecord } from '../../contract/api.js';

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
    startedAt: new Date(Date.UTC(2026, 10, 22, 0, 0, i)).toISOString(),
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

