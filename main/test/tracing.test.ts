// Trace context through the sidecars (issue 6): W3C traceparent always, B3 when spec.tracing.b3, one span per
// sidecar hop recorded on the flows, and OTLP/HTTP export of those spans to a collector.
import http from 'node:http';
import fs from 'node:fs';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowRecord } from '../contract/api.js';
import {
  deadPort,
  meshYaml,
  request,
  startMesh,
  stub,
  until,
  viaProxy,
  type Running,
  type Stub
} from './helpers/harness.js';

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: reviews}}]
    mirror: {host: shadow}
  - route: [{destination: {host: reviews}}]
`;

function yaml(web: Stub, reviews: Stub, extra = '', shadow?: Stub): string {
  return meshYaml(
    {
      web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
      reviews: { workloads: [{ name: 'reviews-v1', instances: [reviews.address] }] },
      ...(shadow ? { shadow: { workloads: [{ name: 'shadow-v1', instances: [shadow.address], sidecar: false }] } } : {})
    },
    extra
  );
}

/** The source and destination flows of one request (by x-request-id), once both are recorded. */
async function flowsOf(
  m: Running,
  requestId: string,
  both = true
): Promise<{ src: FlowRecord; dst: FlowRecord | undefined }> {
  return until(async () => {
    const all = (await m.mesh.listFlows({ limit: 500 })).filter((f) => f.requestId === requestId);
    const src = all.find((f) => f.reporter === 'source');
    const dst = all.find((f) => f.reporter === 'destination');
    return src && (dst || !both) ? { src, dst } : undefined;
  }, `flows of ${requestId}`).then((x) => x!);
}

function lastSeen(s: Stub, requestId: string): http.IncomingHttpHeaders {
  const seen = [...s.seen].reverse().find((x) => x.headers['x-request-id'] === requestId);
  if (!seen) throw new Error(`the app did not see ${requestId}`);
  return seen.headers;
}

function traceparentParts(v: unknown): { trace: string; span: string; flags: string } {
  expect(typeof v).toBe('string');
  const [version, trace, span, flags] = String(v).split('-');
  expect(version).toBe('00');
  return { trace: trace!, span: span!, flags: flags! };
}

describe('W3C trace context', () => {
  let web: Stub;
  let reviews: Stub;
  let shadow: Stub;
  let m: Running;
  beforeAll(async () => {
    web = await stub('web');
    reviews = await stub('reviews');
    shadow = await stub('shadow');
    m = await startMesh({ meshYaml: yaml(web, reviews, '', shadow), istio: { 'vs.yaml': VS } }, { store: 'memory' });
  });
  afterAll(async () => {
    await m?.close();
    await web?.close();
    await reviews?.close();
    await shadow?.close();
  });
  const call = (p: string, headers: Record<string, string>) =>
    viaProxy(m.outbound('web-v1'), 'reviews:9080', p, { headers });

  it('a call without traceparent starts a trace: client span → server span → app', async () => {
    const r = await call('/new', { 'x-request-id': 'tr-new' });
    expect(r.status).toBe(200);
    const { src, dst } = await flowsOf(m, 'tr-new');
    expect(src.traceId).toMatch(HEX32);
    expect(src.spanId).toMatch(HEX16);
    expect(src.parentSpanId).toBeNull();
    expect(dst!.traceId).toBe(src.traceId);
    expect(dst!.spanId).toMatch(HEX16);
    expect(dst!.spanId).not.toBe(src.spanId);
    expect(dst!.parentSpanId).toBe(src.spanId);
    // the app gets the server span, so its own outbound call becomes a child of it
    const tp = traceparentParts(lastSeen(reviews, 'tr-new').traceparent);
    expect(tp).toEqual({ trace: src.traceId, span: dst!.spanId, flags: '01' });
    // the headers the client sidecar sent carry its own span
    expect(traceparentParts(src.requestHeaders.traceparent).span).toBe(src.spanId);
    // no B3 unless configured
    expect(lastSeen(reviews, 'tr-new')['x-b3-traceid']).toBeUndefined();
  });

  it("a caller without sidecar addressing the inbound port: the server span is named by the service's port", async () => {
    const r = await request(m.inbound('reviews-v1'), '/direct', {
      headers: { host: `127.0.0.1:${m.inbound('reviews-v1')}`, 'x-request-id': 'tr-direct' }
    });
    expect(r.status).toBe(200);
    const src = (await until(
      async () => (await m.mesh.listFlows({ limit: 500 })).find((f) => f.requestId === 'tr-direct'),
      'the flow of tr-direct'
    ))!;
    expect(src.reporter).toBe('destination');
    const trace = await m.mesh.getTrace({ traceId: src.traceId! });
    // Istio names the inbound route's span after the service and its port, whatever Host the caller sent
    expect(trace.spans.map((s) => [s.kind, s.workload, s.name])).toEqual([
      ['server', 'reviews-v1', 'reviews.default.svc.cluster.local:9080/*']
    ]);
  });

  it('every request gets its own trace', async () => {
    await call('/one', { 'x-request-id': 'tr-one' });
    await call('/two', { 'x-request-id': 'tr-two' });
    const a = await flowsOf(m, 'tr-one');
    const b = await flowsOf(m, 'tr-two');
    expect(a.src.traceId).not.toBe(b.src.traceId);
  });

  it('a valid incoming traceparent is continued, with tracestate and flags kept', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    await call('/continue', {
      'x-request-id': 'tr-cont',
      traceparent: `00-${trace}-${parent}-00`,
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'
    });
    const { src, dst } = await flowsOf(m, 'tr-cont');
    expect(src.traceId).toBe(trace);
    expect(src.parentSpanId).toBe(parent);
    expect(dst!.traceId).toBe(trace);
    expect(dst!.parentSpanId).toBe(src.spanId);
    const seen = lastSeen(reviews, 'tr-cont');
    expect(traceparentParts(seen.traceparent)).toEqual({ trace, span: dst!.spanId, flags: '00' });
    expect(seen.tracestate).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  });

  it('an invalid traceparent is replaced by a new trace', async () => {
    const bad = [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // all-zero parent id
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // version 00 with more fields
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short trace id
      'garbage'
    ];
    for (const [i, v] of bad.entries()) {
      const id = `tr-bad-${i}`;
      await call('/bad', { 'x-request-id': id, traceparent: v, tracestate: 'k=v' });
      const { src, dst } = await flowsOf(m, id);
      expect(src.parentSpanId, v).toBeNull();
      expect(src.traceId, v).toMatch(HEX32);
      expect(src.traceId, v).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(dst!.traceId).toBe(src.traceId);
      const seen = lastSeen(reviews, id);
      expect(traceparentParts(seen.traceparent).trace).toBe(src.traceId);
      // tracestate belongs to the traceparent that was dropped
      expect(seen.tracestate).toBeUndefined();
    }
  });

  it('a later traceparent version is parsed by its first four fields', async () => {
    const trace = 'aaaabbbbccccddddeeeeffff00001111';
    await call('/v1', { 'x-request-id': 'tr-ver', traceparent: `01-${trace}-1111222233334444-01-whatever` });
    const { src } = await flowsOf(m, 'tr-ver');
    expect(src.traceId).toBe(trace);
    expect(src.parentSpanId).toBe('1111222233334444');
  });

  it('B3 headers are ignored while tracing.b3 is off', async () => {
    await call('/b3-off', {
      'x-request-id': 'tr-b3-off',
      'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124',
      'x-b3-spanid': 'a2fb4a1d1a96d312'
    });
    const { src } = await flowsOf(m, 'tr-b3-off');
    expect(src.traceId).not.toBe('463ac35c9f6413ad48485a3953bb6124');
    expect(src.parentSpanId).toBeNull();
  });

  it('a mirrored copy carries the same context, not sampled', async () => {
    await call('/mirror', { 'x-request-id': 'tr-mirror' });
    const { src } = await flowsOf(m, 'tr-mirror');
    const copy = await until(
      () => shadow.seen.find((x) => x.headers['x-request-id'] === 'tr-mirror'),
      'the mirrored copy'
    );
    expect(traceparentParts(copy!.headers.traceparent)).toEqual({ trace: src.traceId, span: src.spanId, flags: '00' });
    expect(traceparentParts(lastSeen(reviews, 'tr-mirror').traceparent).flags).toBe('01');
  });

  it('a fault abort (local reply) still records a span', async () => {
    const r = await call('/abort', {
      'x-request-id': 'tr-abort',
      traceparent: '00-11112222333344445555666677778888-9999aaaabbbbcccc-01'
    });
    expect(r.status).toBe(503);
    const { src } = await flowsOf(m, 'tr-abort', false);
    expect(src.flags).toBe('FI');
    expect(src.traceId).toBe('11112222333344445555666677778888');
    expect(src.spanId).toMatch(HEX16);
    expect(src.parentSpanId).toBe('9999aaaabbbbcccc');
  });

  it('with tracing.b3 on (applied by a reload), B3 goes to the app and B3-only context is honoured', async () => {
    fs.writeFileSync(m.file, yaml(web, reviews, '  tracing: {b3: true}', shadow));
    const rr = await m.mesh.reload();
    expect(rr.ok).toBe(true);

    await call('/b3', { 'x-request-id': 'tr-b3' });
    let { src, dst } = await flowsOf(m, 'tr-b3');
    let seen = lastSeen(reviews, 'tr-b3');
    expect(seen['x-b3-traceid']).toBe(src.traceId);
    expect(seen['x-b3-spanid']).toBe(dst!.spanId);
    expect(seen['x-b3-parentspanid']).toBe(src.spanId);
    expect(seen['x-b3-sampled']).toBe('1');
    expect(traceparentParts(seen.traceparent).span).toBe(dst!.spanId);

    // multi headers, 64-bit trace id (padded to 128 bits), not sampled
    await call('/b3-multi', {
      'x-request-id': 'tr-b3-multi',
      'x-b3-traceid': '48485a3953bb6124',
      'x-b3-spanid': 'a2fb4a1d1a96d312',
      'x-b3-sampled': '0'
    });
    ({ src, dst } = await flowsOf(m, 'tr-b3-multi'));
    expect(src.traceId).toBe('000000000000000048485a3953bb6124');
    expect(src.parentSpanId).toBe('a2fb4a1d1a96d312');
    expect(dst!.parentSpanId).toBe(src.spanId);
    seen = lastSeen(reviews, 'tr-b3-multi');
    expect(seen['x-b3-traceid']).toBe('000000000000000048485a3953bb6124');
    expect(seen['x-b3-sampled']).toBe('0');
    expect(traceparentParts(seen.traceparent).flags).toBe('00');

    // the single b3 header (rewritten for the next hop)
    await call('/b3-single', {
      'x-request-id': 'tr-b3-single',
      b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90'
    });
    ({ src, dst } = await flowsOf(m, 'tr-b3-single'));
    expect(src.traceId).toBe('80f198ee56343ba864fe8b2a57d3eff7');
    expect(src.parentSpanId).toBe('e457b5a2e4d86bd1');
    seen = lastSeen(reviews, 'tr-b3-single');
    expect(seen.b3).toBe(`80f198ee56343ba864fe8b2a57d3eff7-${dst!.spanId}-1-${src.spanId}`);

    // a lone B3 sampling decision starts a new trace that keeps it (not sampled here)
    for (const [id, h] of [
      ['tr-b3-deny', { b3: '0' }],
      ['tr-b3-deny-multi', { 'x-b3-sampled': '0' }]
    ] as const) {
      await call('/b3-deny', { 'x-request-id': id, ...h });
      seen = lastSeen(reviews, id);
      expect(seen['x-b3-sampled'], id).toBe('0');
      expect(traceparentParts(seen.traceparent).flags, id).toBe('00');
    }

    // traceparent wins over B3 when both are valid
    await call('/both', {
      'x-request-id': 'tr-both',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-traceid': '48485a3953bb6124',
      'x-b3-spanid': 'a2fb4a1d1a96d312'
    });
    ({ src } = await flowsOf(m, 'tr-both'));
    expect(src.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(src.parentSpanId).toBe('b7ad6b7169203331');
  });
});

interface Collected {
  contentType: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: OtlpRequest;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
  status: { code?: number; message?: string };
}
interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

/** A fake OTLP/HTTP collector: records every POST /v1/traces. */
async function collector(): Promise<{ port: number; got: Collected[]; close(): Promise<void> }> {
  const got: Collected[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces')
        got.push({
          contentType: req.headers['content-type'],
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString()) as OtlpRequest
        });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    got,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      })
  };
}

function spansIn(got: Collected[]): { service: string; span: OtlpSpan }[] {
  const out: { service: string; span: OtlpSpan }[] = [];
  for (const c of got)
    for (const rs of c.body.resourceSpans) {
      const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
      for (const ss of rs.scopeSpans) for (const span of ss.spans) out.push({ service, span });
    }
  return out;
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
};

describe('OTLP export', () => {
  it('posts the spans of both sidecars to <endpoint>/v1/traces as OTLP/JSON', async () => {
    const col = await collector();
    const web = await stub('web');
    const reviews = await stub('reviews', (_req, res, seen) => {
      const status = seen.url.startsWith('/fail') ? 503 : 200;
      res.writeHead(status, { 'content-length': '2' });
      res.end('ok');
    });
    const m = await startMesh(
      {
        meshYaml: yaml(
          web,
          reviews,
          `  tracing:\n    otlp: {endpoint: "http://127.0.0.1:${col.port}", headers: {x-collector-token: abc}, serviceNamePrefix: "lm-"}`
        ),
        istio: { 'vs.yaml': VS }
      },
      { store: 'memory' }
    );
    try {
      const call = (p: string, id: string) =>
        viaProxy(m.outbound('web-v1'), 'reviews:9080', p, { headers: { 'x-request-id': id } });
      expect((await call('/ok?q=1', 'otlp-ok')).status).toBe(200);
      expect((await call('/fail', 'otlp-fail')).status).toBe(503);
      const ok = await flowsOf(m, 'otlp-ok');
      const fail = await flowsOf(m, 'otlp-fail');
      const want = [ok.src, ok.dst!, fail.src, fail.dst!];
      await until(
        () => want.every((f) => spansIn(col.got).some((s) => s.span.spanId === f.spanId)),
        'the collector to receive the spans',
        400
      );

      expect(col.got[0]!.contentType).toBe('application/json');
      expect(col.got[0]!.headers['x-collector-token']).toBe('abc');
      const spans = spansIn(col.got);
      const byId = (id: string | undefined) => spans.find((s) => s.span.spanId === id)!;

      const client = byId(ok.src.spanId);
      expect(client.span.traceId).toBe(ok.src.traceId);
      expect(client.span.parentSpanId ?? '').toBe('');
      expect(client.span.kind).toBe(3); // SPAN_KIND_CLIENT
      expect(client.span.name).toBe('reviews.default.svc.cluster.local:9080/*');
      expect(client.service).toBe('lm-web.default');
      expect(attr(client.span, 'http.method')).toBe('GET');
      expect(attr(client.span, 'http.url')).toBe('http://reviews:9080/ok?q=1');
      expect(attr(client.span, 'url.path')).toBe('/ok');
      expect(attr(client.span, 'http.status_code')).toBe('200');
      expect(attr(client.span, 'http.response.status_code')).toBe(200);
      expect(attr(client.span, 'response_flags')).toBe('-');
      expect(attr(client.span, 'istio.canonical_service')).toBe('web');
      expect(attr(client.span, 'istio.namespace')).toBe('default');
      expect(attr(client.span, 'guid:x-request-id')).toBe('otlp-ok');
      expect(attr(client.span, 'upstream_cluster')).toBe('outbound|9080||reviews.default.svc.cluster.local');
      expect(client.span.status.code ?? 0).toBe(0);
      expect(BigInt(client.span.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(client.span.startTimeUnixNano));

      const server = byId(ok.dst!.spanId);
      expect(server.span.traceId).toBe(ok.src.traceId);
      expect(server.span.parentSpanId).toBe(ok.src.spanId);
      expect(server.span.kind).toBe(2); // SPAN_KIND_SERVER
      expect(server.span.name).toBe('reviews.default.svc.cluster.local:9080/*');
      expect(server.service).toBe('lm-reviews.default');
      expect(attr(server.span, 'istio.canonical_service')).toBe('reviews');

      // 5xx: status ERROR
      const failed = byId(fail.src.spanId);
      expect(failed.span.status.code).toBe(2);
      expect(attr(failed.span, 'error')).toBe('true');
      expect(byId(fail.dst!.spanId).span.parentSpanId).toBe(fail.src.spanId);
    } finally {
      await m.close();
      await col.close();
      await web.close();
      await reviews.close();
    }
  });

  it('with the collector down, requests still succeed and are recorded', async () => {
    const port = await deadPort();
    const web = await stub('web');
    const reviews = await stub('reviews');
    const lines: string[] = [];
    const m = await startMesh(
      {
        meshYaml: yaml(web, reviews, `  tracing:\n    otlp: {endpoint: "http://127.0.0.1:${port}"}`),
        istio: { 'vs.yaml': VS }
      },
      { store: 'memory', log: (l) => lines.push(l) }
    );
    try {
      for (let i = 0; i < 20; i++) {
        const r = await viaProxy(m.outbound('web-v1'), 'reviews:9080', `/down/${i}`, {
          headers: { 'x-request-id': `down-${i}` }
        });
        expect(r.status).toBe(200);
      }
      const { src, dst } = await flowsOf(m, 'down-19');
      expect(dst!.parentSpanId).toBe(src.spanId);
      await until(
        () => lines.some((l) => l.includes('OTLP') && l.includes('failed')),
        'the failed export to be logged',
        400
      );
    } finally {
      await m.close();
      await web.close();
      await reviews.close();
    }
    expect(lines.some((l) => /OTLP: \d+ span\(s\) not exported/.test(l))).toBe(true);
  });
});
