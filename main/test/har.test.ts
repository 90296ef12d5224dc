import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import type { FlowRecord, Har } from '../contract/api.js';
import { HarSchema } from '../contract/api-schema.js';
import { flowsToHar, harToFlows, withoutServerDuplicates } from '../engine/capture/har.js';
import { binaryBody, flow, serverHalf, textBody } from './helpers/flow.js';

const require = createRequire(import.meta.url);
const CREATOR = { name: 'localmesh', version: '0.1.0' };

/** The HAR 1.2 JSON schema of the `har-schema` package (draft-06), with its formats checked for real. */
function harValidator(): ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
  ajv.addFormat('uri', (s: string) => URL.canParse(s));
  ajv.addFormat('ipv4', (s: string) => net.isIPv4(s));
  ajv.addFormat('ipv6', (s: string) => net.isIPv6(s));
  const schemas = require('har-schema') as Record<string, { $id: string }>;
  for (const s of Object.values(schemas)) ajv.addSchema(s);
  return ajv.getSchema('har.json#')!;
}
const validateHar = harValidator();

/** Flows with what a HAR must carry: bodies (text, binary, truncated), multi-value headers, a query, timings. */
function richFlows(): FlowRecord[] {
  const client = flow(1, {
    method: 'POST',
    path: '/reviews/1?user=a%20b&tag=x&tag=y',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: null,
    timings: { requestEnd: 0.4, upstreamConnected: 0.2, responseStart: 3.1, responseEnd: 3.5 },
    durationMs: 3.5,
    requestHeaders: {
      host: 'reviews:9080',
      'content-type': 'application/json',
      cookie: 'session=abc; theme=dark',
      'x-request-id': 'r-1'
    },
    responseHeaders: {
      'content-type': 'application/json',
      'set-cookie': ['a=1; Path=/', 'b=2'],
      'x-multi': ['one', 'two']
    },
    requestBody: textBody('{"rating":5}\n'),
    responseBody: textBody('{"ok":true}'),
    connectionSecurity: 'none',
    sourcePrincipal: null,
    destinationPrincipal: null,
    replayOf: null
  });
  return [
    client,
    serverHalf(client, 'f-1s', {
      connectionSecurity: 'mutual_tls',
      sourcePrincipal: 'spiffe://cluster.local/ns/default/sa/productpage',
      timings: { requestEnd: 0.1, upstreamConnected: null, responseStart: null, responseEnd: 1 }
    }),
    flow(2, {
      responseHeaders: { 'content-type': 'image/png', 'set-cookie': ['only=1'] },
      responseBody: binaryBody(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]))
    }),
    flow(3, {
      responseBody: textBody('x'.repeat(100), { size: 5_000_000, truncated: true }),
      attemptLog: [
        { attempt: 1, endpoint: '127.0.0.1:1', status: 503, flags: 'UF', durationMs: 1, error: 'ECONNREFUSED' }
      ]
    }),
    flow(4, {
      status: 0,
      flags: 'DC',
      responseHeaders: {},
      responseBody: null,
      localReply: 'downstream closed',
      requestBody: binaryBody(Buffer.from([0, 255]), { truncated: true, size: 10 })
    }),
    flow(5, { status: 302, responseHeaders: { location: 'http://reviews:9080/elsewhere' }, responseBody: null })
  ];
}

/** A HAR as it arrives over the API: JSON, then the zod schema the transports apply. */
const overTheWire = (har: Har): Har => HarSchema.parse(JSON.parse(JSON.stringify(har))) as Har;

describe('HAR export', () => {
  it('is valid HAR 1.2 (the har-schema JSON schema)', () => {
    const har = flowsToHar(richFlows(), CREATOR);
    const ok = validateHar(JSON.parse(JSON.stringify(har)));
    expect(validateHar.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the validator rejects what is not HAR (so the check above means something)', () => {
    const har = JSON.parse(JSON.stringify(flowsToHar([flow(1)], CREATOR)));
    delete har.log.entries[0].response.status;
    har.log.entries[0].request.url = 'not a url';
    expect(validateHar(har)).toBe(false);
    expect(validateHar.errors!.map((e) => e.instancePath).sort()).toEqual([
      '/log/entries/0/request/url',
      '/log/entries/0/response'
    ]);
  });

  it('writes what DevTools shows: url, headers per value, query, cookies, bodies, mime types, timings', () => {
    const [e1, , e2, e3, e4, e5] = flowsToHar(richFlows(), CREATOR).log.entries;
    expect(e1!.request.url).toBe('http://reviews:9080/reviews/1?user=a%20b&tag=x&tag=y');
    expect(e1!.request.queryString).toEqual([
      { name: 'user', value: 'a b' },
      { name: 'tag', value: 'x' },
      { name: 'tag', value: 'y' }
    ]);
    expect(e1!.request.cookies).toEqual([
      { name: 'session', value: 'abc' },
      { name: 'theme', value: 'dark' }
    ]);
    expect(e1!.request.postData).toEqual({ mimeType: 'application/json', text: '{"rating":5}\n' });
    expect(e1!.request.bodySize).toBe(13);
    expect(e1!.response.headers.filter((h) => h.name === 'x-multi')).toEqual([
      { name: 'x-multi', value: 'one' },
      { name: 'x-multi', value: 'two' }
    ]);
    expect(e1!.response.cookies).toEqual([
      { name: 'a', value: '1' },
      { name: 'b', value: '2' }
    ]);
    expect(e1!.response).toMatchObject({
      status: 200,
      statusText: 'OK',
      content: { size: 11, mimeType: 'application/json', text: '{"ok":true}' }
    });
    expect(e1!.time).toBe(3.5);
    expect(e1!.timings).toMatchObject({ connect: 0.2, send: 0.2, wait: 2.7, receive: 0.4, dns: -1 });
    const t = e1!.timings;
    expect(t.connect! + t.send + t.wait + t.receive).toBeCloseTo(e1!.time, 9);
    expect(e1!._localmesh).not.toHaveProperty('requestHeaders');
    expect(e1!._localmesh).not.toHaveProperty('responseBody');
    expect(e1!._localmesh).toMatchObject({
      id: 'f-1',
      reporter: 'source',
      traceId: '0af7651916cd43dd8448eb211c80319c'
    });

    expect(e2!.response.content).toEqual({
      size: 7,
      mimeType: 'image/png',
      text: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]).toString('base64'),
      encoding: 'base64'
    });
    expect(e3!.response.content).toMatchObject({ size: 5_000_000, _truncated: true });
    expect(e4!.response).toMatchObject({ status: 0, statusText: '', content: { size: 0, mimeType: 'x-unknown' } });
    expect(e4!.response.content).not.toHaveProperty('text');
    expect(e4!.timings).toEqual({ blocked: -1, dns: -1, connect: -1, send: 0, wait: 1.5, receive: 0, ssl: -1 });
    expect(e5!.response).toMatchObject({ statusText: 'Found', redirectURL: 'http://reviews:9080/elsewhere' });
  });

  it('leaves out the destination sidecar half of a call the source sidecar reported', () => {
    const [client, server, ...rest] = richFlows();
    const lone = flow(9, { reporter: 'destination', source: null, destination: 'productpage-v1' });
    expect(withoutServerDuplicates([client!, server!, ...rest, lone]).map((f) => f.id)).toEqual([
      'f-1',
      'f-2',
      'f-3',
      'f-4',
      'f-5',
      'f-9'
    ]);
    // a server half whose client half is not in the set stays
    expect(withoutServerDuplicates([server!]).map((f) => f.id)).toEqual(['f-1s']);
  });
});

describe('HAR import', () => {
  it('round-trips localmesh flows exactly (text, binary and truncated bodies, headers, timings, ids)', () => {
    const flows = richFlows();
    expect(harToFlows(overTheWire(flowsToHar(flows, CREATOR)))).toEqual(flows);
  });

  it('imports a browser HAR as calls of a caller without sidecar', () => {
    const [post, image] = harToFlows(overTheWire(CHROME_HAR));
    expect(post).toMatchObject({
      requestId: 'req-42',
      reporter: 'source',
      source: null,
      destination: null,
      destinationService: 'shop.example.com',
      method: 'POST',
      authority: 'shop.example.com:8443',
      path: '/api/cart?x=1',
      status: 201,
      flags: '-',
      durationMs: 123.4,
      startedAt: '2026-11-20T10:00:00.123Z',
      trace: [{ step: 'import', detail: 'imported from HAR (WebInspector 537.36)' }],
      configVersion: 0,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      requestBody: { encoding: 'utf8', data: '{"sku":"A1"}', size: 12, truncated: false },
      responseBody: { encoding: 'utf8', data: '{"id":7}', size: 8, truncated: false },
      timings: { upstreamConnected: 30, requestEnd: 31, responseStart: 111, responseEnd: 123.4 }
    });
    expect(post!.requestHeaders).toEqual({
      'content-type': 'application/json',
      'x-request-id': 'req-42',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      cookie: 'a=1'
    });
    expect(post!.responseHeaders).toEqual({ 'content-type': 'application/json', 'set-cookie': ['s=1', 't=2'] });
    expect(post!.id).toMatch(/^har-/);

    expect(image).toMatchObject({
      authority: 'cdn.example.com',
      destinationService: 'cdn.example.com',
      path: '/logo.png',
      status: 200,
      requestBody: null
    });
    expect(image!.responseBody).toEqual({ encoding: 'base64', data: 'iVBORw0KGgo=', size: 8, truncated: false });
    expect(image!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(image!.timings!.upstreamConnected).toBeNull();
    expect(image!.id).not.toBe(post!.id);
  });

  it('says which entry is unusable and why', () => {
    const badUrl = structuredClone(CHROME_HAR);
    badUrl.log.entries[1]!.request.url = '/relative/only';
    expect(() => harToFlows(badUrl)).toThrow(
      /^entry 1 \(GET \/relative\/only\): request\.url "\/relative\/only" is not an absolute URL$/
    );
    const ftp = structuredClone(CHROME_HAR);
    ftp.log.entries[0]!.request.url = 'ftp://files.example.com/x';
    expect(() => harToFlows(ftp)).toThrow(/entry 0 .*not an http\(s\) URL/);
    const forged = flowsToHar([flow(1)], CREATOR);
    delete (forged.log.entries[0]!._localmesh as Partial<FlowRecord>).requestId;
    expect(() => harToFlows(forged)).toThrow(/entry 0 .*_localmesh\.requestId is missing or not a string/);
  });

  it('the API schema rejects a HAR without entries, naming the path', () => {
    const r = HarSchema.safeParse({ log: { version: '1.2', creator: { name: 'x', version: '1' } } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual(['log.entries']);
    const wrongTime = structuredClone(CHROME_HAR) as unknown as { log: { entries: { time: unknown }[] } };
    wrongTime.log.entries[0]!.time = 'slow';
    expect(HarSchema.safeParse(wrongTime).error!.issues[0]!.path).toEqual(['log', 'entries', 0, 'time']);
    expect(HarSchema.safeParse(CHROME_HAR).success).toBe(true);
  });
});

/** A HAR as Chrome DevTools saves it (trimmed): an HTTP/2 POST with pseudo headers and an image. */
const CHROME_HAR: Har = {
  log: {
    version: '1.2',
    creator: { name: 'WebInspector', version: '537.36' },
    pages: [
      {
        startedDateTime: '2026-11-20T10:00:00.000Z',
        id: 'page_1',
        title: 'https://shop.example.com/',
        pageTimings: { onContentLoad: 100, onLoad: 200 }
      }
    ],
    entries: [
      {
        startedDateTime: '2026-11-20T10:00:00.123Z',
        time: 123.4,
        request: {
          method: 'POST',
          url: 'https://shop.example.com:8443/api/cart?x=1',
          httpVersion: 'h2',
          cookies: [{ name: 'a', value: '1' }],
          headers: [
            { name: ':authority', value: 'shop.example.com:8443' },
            { name: ':method', value: 'POST' },
            { name: 'Content-Type', value: 'application/json' },
            { name: 'X-Request-Id', value: 'req-42' },
            { name: 'traceparent', value: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
            { name: 'cookie', value: 'a=1' }
          ],
          queryString: [{ name: 'x', value: '1' }],
          postData: { mimeType: 'application/json', text: '{"sku":"A1"}' },
          headersSize: -1,
          bodySize: 12
        },
        response: {
          status: 201,
          statusText: '',
          httpVersion: 'h2',
          cookies: [],
          headers: [
            { name: 'content-type', value: 'application/json' },
            { name: 'set-cookie', value: 's=1' },
            { name: 'set-cookie', value: 't=2' }
          ],
          content: { size: 8, mimeType: 'application/json', text: '{"id":7}' },
          redirectURL: '',
          headersSize: -1,
          bodySize: 8
        },
        cache: {},
        timings: { blocked: 2, dns: 3, ssl: 10, connect: 25, send: 1, wait: 80, receive: 12.4 }
      },
      {
        startedDateTime: '2026-11-20T10:00:00.300Z',
        time: 20,
        request: {
          method: 'GET',
          url: 'https://cdn.example.com/logo.png',
          httpVersion: 'HTTP/1.1',
          cookies: [],
          headers: [{ name: 'Accept', value: 'image/*' }],
          queryString: [],
          headersSize: 100,
          bodySize: 0
        },
        response: {
          status: 200,
          statusText: 'OK',
          httpVersion: 'HTTP/1.1',
          cookies: [],
          headers: [{ name: 'Content-Type', value: 'image/png' }],
          content: { size: 8, mimeType: 'image/png', text: 'iVBORw0KGgo=', encoding: 'base64' },
          redirectURL: '',
          headersSize: 120,
          bodySize: 8
        },
        cache: {},
        timings: { blocked: -1, dns: -1, connect: -1, send: 1, wait: 15, receive: 4 }
      }
    ]
  }
};
