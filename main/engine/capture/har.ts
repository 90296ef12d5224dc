/**
 * HAR 1.2 export and import of flows. An export opens in Chrome DevTools and HTTP Toolkit and carries each flow
 * (without headers and bodies, which are in the HAR's own fields) in the custom `_localmesh` field, so a localmesh
 * HAR imports back to exactly the flows it was made from. A foreign HAR (a browser's, HTTP Toolkit's) imports to
 * flows as a caller without sidecar would have seen them.
 */
import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { BodyView, FlowRecord, FlowTimings, Har, HarEntry, HarNameValue } from '../../contract/api.js';

type HarRequest = HarEntry['request'];
type HarResponse = HarEntry['response'];
type HarContent = HarResponse['content'];
type HarPostData = NonNullable<HarRequest['postData']>;
type HarTimings = HarEntry['timings'];
type Headers = Record<string, string | string[]>;

/** Custom field on postData/content: the body was cut at the capture cap (`size` is what was on the wire). */
interface Truncatable {
  _truncated?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Export

/** A HAR 1.2 document with one entry per flow, in the given order (pass flows with bodies to include them). */
export function flowsToHar(flows: readonly FlowRecord[], creator: { name: string; version: string }): Har {
  return {
    log: { version: '1.2', creator: { name: creator.name, version: creator.version }, entries: flows.map(flowToEntry) }
  };
}

function flowToEntry(f: FlowRecord): HarEntry {
  return {
    startedDateTime: f.startedAt,
    time: f.durationMs,
    request: requestOf(f),
    response: responseOf(f),
    cache: {},
    timings: timingsOf(f),
    _localmesh: recordOf(f)
  };
}

/** The flow without what the HAR holds in its own fields. */
function recordOf(f: FlowRecord): NonNullable<HarEntry['_localmesh']> {
  const rest: Partial<FlowRecord> = { ...f };
  delete rest.requestHeaders;
  delete rest.responseHeaders;
  delete rest.requestBody;
  delete rest.responseBody;
  return rest as NonNullable<HarEntry['_localmesh']>;
}

function requestOf(f: FlowRecord): HarRequest {
  const req: HarRequest = {
    method: f.method,
    url: `http://${f.authority}${f.path}`,
    httpVersion: 'HTTP/1.1',
    cookies: requestCookies(f.requestHeaders),
    headers: toNameValues(f.requestHeaders),
    queryString: queryOf(f.path),
    headersSize: -1,
    bodySize: f.requestBody?.size ?? 0
  };
  if (f.requestBody) req.postData = postDataOf(f.requestBody, headerValue(f.requestHeaders, 'content-type'));
  return req;
}

function responseOf(f: FlowRecord): HarResponse {
  return {
    status: f.status,
    statusText: STATUS_CODES[f.status] ?? '',
    httpVersion: 'HTTP/1.1',
    cookies: responseCookies(f.responseHeaders),
    headers: toNameValues(f.responseHeaders),
    content: contentOf(f.responseBody ?? null, headerValue(f.responseHeaders, 'content-type')),
    redirectURL: headerValue(f.responseHeaders, 'location') ?? '',
    headersSize: -1,
    bodySize: f.responseBody?.size ?? 0
  };
}

function postDataOf(b: BodyView, contentType: string | undefined): HarPostData {
  const p: HarPostData & Truncatable = { mimeType: contentType ?? 'application/octet-stream', text: b.data };
  if (b.encoding === 'base64') p.encoding = 'base64';
  if (b.truncated) p._truncated = true;
  return p;
}

function contentOf(b: BodyView | null, contentType: string | undefined): HarContent {
  const c: HarContent & Truncatable = { size: b?.size ?? 0, mimeType: contentType ?? 'x-unknown' };
  if (!b) return c;
  c.text = b.data;
  if (b.encoding === 'base64') c.encoding = 'base64';
  if (b.truncated) c._truncated = true;
  return c;
}

/** Headers as HAR name/value pairs; a multi-value header becomes one pair per value. */
function toNameValues(h: Headers): HarNameValue[] {
  return Object.entries(h).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((value) => ({ name, value })));
}

/** The first value of a header, by case-insensitive name. */
function headerValue(h: Headers, name: string): string | undefined {
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

function allValues(h: Headers, name: string): string[] {
  return Object.entries(h).flatMap(([k, v]) => (k.toLowerCase() !== name ? [] : Array.isArray(v) ? v : [v]));
}

/** Query parameters of a path (decoded, in order). */
function queryOf(p: string): HarNameValue[] {
  const i = p.indexOf('?');
  if (i < 0) return [];
  return [...new URLSearchParams(p.slice(i + 1))].map(([name, value]) => ({ name, value }));
}

/** "a=1; b=2" request cookies. */
function requestCookies(h: Headers): HarNameValue[] {
  return allValues(h, 'cookie')
    .flatMap((v) => v.split(';'))
    .map((c) => c.trim())
    .filter((c) => c !== '')
    .map(nameValueOf);
}

/** "a=1; Path=/" response cookies: the first pair of each set-cookie. */
function responseCookies(h: Headers): HarNameValue[] {
  return allValues(h, 'set-cookie').map((v) => nameValueOf(v.split(';')[0]!.trim()));
}

function nameValueOf(pair: string): HarNameValue {
  const eq = pair.indexOf('=');
  return eq < 0 ? { name: pair, value: '' } : { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/**
 * HAR timings (sequential phases adding up to `time`) from the flow's phase ends: connect until the upstream
 * connection was ready, send until the request body was read, wait until the response headers, receive until the
 * end. Without phases, all of the time is wait.
 */
function timingsOf(f: FlowRecord): HarTimings {
  const t = f.timings;
  if (!t) return { blocked: -1, dns: -1, connect: -1, send: 0, wait: round3(f.durationMs), receive: 0, ssl: -1 };
  const end = t.responseEnd;
  const connected = Math.min(t.upstreamConnected ?? 0, end);
  const sent = Math.min(Math.max(connected, t.requestEnd ?? connected), end);
  const started = Math.min(Math.max(sent, t.responseStart ?? end), end);
  return {
    blocked: -1,
    dns: -1,
    connect: t.upstreamConnected === null ? -1 : round3(connected),
    send: round3(sent - connected),
    wait: round3(started - sent),
    receive: round3(end - started),
    ssl: -1
  };
}

/**
 * Flows to export for a set of flows: a call between two sidecars is two flows (source and destination
 * reporter); keep the source one and leave out the destination-reporter flow of the same hop.
 */
export function withoutServerDuplicates(flows: readonly FlowRecord[]): FlowRecord[] {
  const hop = (f: FlowRecord) => `${f.requestId}\u0000${f.source ?? ''}\u0000${f.destination ?? ''}`;
  const clientSide = new Set(flows.filter((f) => f.reporter === 'source').map(hop));
  return flows.filter((f) => f.reporter === 'source' || f.source === null || !clientSide.has(hop(f)));
}

// ---------------------------------------------------------------------------------------------------------------
// Import

/**
 * Flows from a HAR that passed `HarSchema`: localmesh entries (with `_localmesh`) restore their flows exactly;
 * other entries become flows of a caller without sidecar. Throws an Error naming the entry when one is unusable.
 */
export function harToFlows(har: Har): FlowRecord[] {
  const creator = `${har.log.creator.name} ${har.log.creator.version}`.trim();
  return har.log.entries.map((e, i) => {
    try {
      return e._localmesh !== undefined ? localmeshFlow(e) : foreignFlow(e, creator);
    } catch (err) {
      throw new Error(`entry ${i} (${e.request.method} ${e.request.url}): ${(err as Error).message}`);
    }
  });
}

/** The fields a `_localmesh` record must have to be taken as one. */
const RECORD_FIELDS: [string, string][] = [
  ['id', 'string'],
  ['requestId', 'string'],
  ['reporter', 'string'],
  ['method', 'string'],
  ['authority', 'string'],
  ['path', 'string'],
  ['status', 'number'],
  ['flags', 'string'],
  ['durationMs', 'number'],
  ['startedAt', 'string'],
  ['trace', 'object'],
  ['attemptLog', 'object'],
  ['configVersion', 'number']
];

function localmeshFlow(e: HarEntry): FlowRecord {
  const rec = e._localmesh as unknown;
  if (typeof rec !== 'object' || rec === null) throw new Error('_localmesh is not an object');
  for (const [field, type] of RECORD_FIELDS) {
    if (typeof (rec as Record<string, unknown>)[field] !== type)
      throw new Error(`_localmesh.${field} is missing or not a ${type}`);
  }
  return {
    ...(rec as NonNullable<HarEntry['_localmesh']>),
    requestHeaders: fromNameValues(e.request.headers),
    responseHeaders: fromNameValues(e.response.headers),
    requestBody: postDataBody(e.request),
    responseBody: contentBody(e.response.content, e.response.bodySize)
  };
}

function foreignFlow(e: HarEntry, creator: string): FlowRecord {
  const url = parseUrl(e.request.url);
  const requestHeaders = fromNameValues(
    e.request.headers.filter((h) => !h.name.startsWith(':')),
    true
  );
  const responseHeaders = fromNameValues(
    e.response.headers.filter((h) => !h.name.startsWith(':')),
    true
  );
  const startedAt = new Date(e.startedDateTime);
  if (Number.isNaN(startedAt.getTime()))
    throw new Error(`startedDateTime ${JSON.stringify(e.startedDateTime)} is not a date`);
  const durationMs = Math.max(0, e.time);
  const requestId = headerValue(requestHeaders, 'x-request-id');
  const traceId = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(
    headerValue(requestHeaders, 'traceparent') ?? ''
  )?.[1];
  return {
    id: `har-${randomUUID()}`,
    requestId: requestId || randomUUID(),
    reporter: 'source',
    source: null,
    destination: null,
    destinationService: url.hostname,
    method: e.request.method,
    authority: url.host,
    path: `${url.pathname}${url.search}`,
    status: e.response.status,
    flags: '-',
    durationMs,
    startedAt: startedAt.toISOString(),
    virtualService: null,
    rule: null,
    subset: null,
    endpoint: null,
    attempts: 0,
    attemptLog: [],
    localReply: null,
    trace: [{ step: 'import', detail: `imported from HAR (${creator})` }],
    configVersion: 0,
    requestHeaders,
    responseHeaders,
    requestBody: postDataBody(e.request),
    responseBody: contentBody(e.response.content, e.response.bodySize),
    ...(traceId ? { traceId } : {}),
    timings: flowTimingsOf(e.timings, durationMs)
  };
}

function parseUrl(u: string): URL {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new Error(`request.url ${JSON.stringify(u)} is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`request.url ${JSON.stringify(u)} is not an http(s) URL`);
  return url;
}

/**
 * Headers from HAR pairs: a repeated name becomes an array, and so does set-cookie always (as node reports it).
 * Foreign HARs keep HTTP/1 casing: names are lower-cased for them.
 */
function fromNameValues(pairs: readonly HarNameValue[], lowerCase = false): Headers {
  const out: Headers = {};
  for (const { name: raw, value } of pairs) {
    const name = lowerCase ? raw.toLowerCase() : raw;
    const cur = out[name];
    if (cur === undefined) out[name] = name.toLowerCase() === 'set-cookie' ? [value] : value;
    else out[name] = [...(Array.isArray(cur) ? cur : [cur]), value];
  }
  return out;
}

/** A body from HAR text: null when there is none (no text, or an empty one of size 0). */
function bodyOf(
  text: string | undefined,
  encoding: string | undefined,
  size: number,
  truncated: boolean
): BodyView | null {
  if (text === undefined) return null;
  const enc = encoding === 'base64' ? 'base64' : 'utf8';
  const kept = Buffer.byteLength(text, enc);
  const wire = size >= 0 ? size : kept;
  if (kept === 0 && wire <= 0) return null;
  return { encoding: enc, data: text, size: wire, truncated: truncated || wire > kept };
}

function postDataBody(r: HarRequest): BodyView | null {
  const p = r.postData as (HarPostData & Truncatable) | undefined;
  if (!p) return null;
  return bodyOf(p.text, p.encoding, r.bodySize, p._truncated === true);
}

function contentBody(c: HarContent, bodySize: number): BodyView | null {
  const t = c as HarContent & Truncatable;
  return bodyOf(t.text, t.encoding, c.size >= 0 ? c.size : bodySize, t._truncated === true);
}

/** Phase ends from HAR timings (blocked, dns and connect before send; -1 = not applicable). */
function flowTimingsOf(t: HarTimings, durationMs: number): FlowTimings {
  const ms = (n: number | undefined) => (n !== undefined && n > 0 ? n : 0);
  const before = ms(t.blocked) + ms(t.dns) + ms(t.connect);
  const requestEnd = before + ms(t.send);
  const responseStart = requestEnd + ms(t.wait);
  return {
    requestEnd: round3(Math.min(requestEnd, durationMs)),
    upstreamConnected: t.connect !== undefined && t.connect >= 0 ? round3(Math.min(before, durationMs)) : null,
    responseStart: round3(Math.min(responseStart, durationMs)),
    responseEnd: durationMs
  };
}
