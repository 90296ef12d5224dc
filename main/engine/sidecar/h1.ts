/**
 * A minimal HTTP/1.1 message-head parser for the sidecars' fast lane (issue 7). It accepts only what it is sure of
 * and says `unsupported` for the rest, so the caller hands that connection to node:http, whose parser (llhttp) then
 * answers exactly as before: obsolete line folding, a header name that is not a token, control characters in a
 * value, both Content-Length and Transfer-Encoding, duplicate or non-numeric Content-Length, a request target that is
 * not origin-form, any HTTP version but 1.1. A request's header object holds what Envoy's HTTP/1 codec makes of the
 * fields (envoyRequestHeaders, which the node:http path uses too, so the pipeline sees the same headers either way); a
 * response's likewise (envoyResponseHeaders): names lower-cased, a repeat of a header Envoy keeps inline joined with
 * ",", any other repeat (`set-cookie` among them) kept as a line of its own.
 */

/**
 * The largest message head the sidecars take: Envoy's default limit on request and response headers
 * (max_request_headers_kb, max_response_headers_kb: 60 KiB). The fast lane reads heads up to it and node:http is given
 * it too (its own default is 16 KiB), so a larger request head gets node:http's 431.
 */
export const MAX_HEAD = 60 * 1024;
/**
 * Envoy's `max_headers_count` (100 by default; Istio leaves it): a request with more header lines gets its codec's
 * 431 `Request Header Fields Too Large` (details `http1.too_many_headers`, flag DPE).
 */
export const MAX_HEADERS_COUNT = 100;

export type Headers = Record<string, string | string[]>;

export interface RequestHead {
  method: string;
  target: string;
  headers: Headers;
  /** Bytes of the head, request line to the blank line included. */
  length: number;
  /** Content-Length (0 when absent). */
  contentLength: number;
  /** `Connection: close` from the client. */
  close: boolean;
}

export interface ResponseHead {
  status: number;
  reason: string;
  headers: Headers;
  length: number;
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** The server will close the connection after this response (`Connection: close`, or HTTP/1.0 without keep-alive). */
  close: boolean;
}

/** `incomplete`: more bytes are needed; `unsupported`: leave this message to node:http. */
export type Parsed<T> = T | 'incomplete' | 'unsupported';

/** Envoy's INLINE_REQ_RESP_HEADERS (envoy/http/header_map.h): inline in requests and responses alike. */
const INLINE_REQ_RESP_HEADERS = [
  'connection',
  'content-type',
  'x-envoy-decorator-operation',
  'keep-alive',
  'proxy-connection',
  'proxy-status',
  'x-request-id',
  'transfer-encoding',
  'upgrade',
  'via',
  'content-length',
  'x-envoy-attempt-count'
];

/**
 * The request headers Envoy keeps in an inline (O(1)) slot of its header map, as an Istio sidecar's Envoy has them: a
 * field repeated on several lines is appended to the slot's value with "," (HeaderMapImpl::insertByKey ->
 * appendToHeader, source/common/http/header_map_impl.cc; "; " only for `cookie` when registered inline, which Istio's
 * build does not do), so the upstream gets one line. Every other header keeps an entry, and a line upstream, per field.
 * The core's slots are INLINE_REQ_HEADERS and INLINE_REQ_RESP_HEADERS (envoy/http/header_map.h; `host` is
 * `:authority`'s); the rest are registered by extensions linked into istio-proxy
 * (bazel/extension_config/extensions_build_config.bzl) whether configured or not: grpc_web and
 * grpc_http1_reverse_bridge (accept, grpc-accept-encoding), compressor and decompressor (accept-encoding,
 * cache-control, content-encoding), cache (authorization, pragma, if-*), cors and jwt_authn (origin,
 * access-control-request-*), the CEL attributes of rbac/wasm (referer).
 */
export const ENVOY_INLINE_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  // INLINE_REQ_STRING_HEADERS
  'x-client-trace-id',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  'x-envoy-external-address',
  'x-envoy-force-trace',
  'x-envoy-hedge-on-per-try-timeout',
  'x-envoy-internal',
  'x-envoy-ip-tags',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-original-path',
  'x-envoy-original-url',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-alt-response',
  'expect',
  'x-forwarded-client-cert',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'grpc-timeout',
  'host',
  'te',
  'user-agent',
  // INLINE_REQ_NUMERIC_HEADERS
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-max-retries',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-stream-duration-ms',
  ...INLINE_REQ_RESP_HEADERS,
  // RegisterCustomInlineHeader<RequestHeaders> of the extensions in istio-proxy's build
  'accept',
  'grpc-accept-encoding',
  'accept-encoding',
  'cache-control',
  'content-encoding',
  'authorization',
  'pragma',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'origin',
  'access-control-request-method',
  'access-control-request-headers',
  'referer'
]);

/**
 * The response headers an Istio sidecar's Envoy keeps inline: the core's INLINE_RESP_HEADERS, INLINE_REQ_RESP_HEADERS
 * and INLINE_RESP_HEADERS_TRAILERS (envoy/http/header_map.h; `:status` is no field), and those registered for
 * responses by extensions linked into istio-proxy (RegisterCustomInlineHeader<ResponseHeaders>): compressor
 * (cache-control, content-encoding, etag, vary), decompressor (cache-control, content-encoding), cache (cache-control,
 * last-modified, etag, age, expires), cors (the access-control-allow-* and -expose-headers, -max-age). `set-cookie`,
 * `www-authenticate`, `link` and the app's own headers are not among them.
 */
export const ENVOY_INLINE_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  // INLINE_RESP_STRING_HEADERS, INLINE_RESP_NUMERIC_HEADERS
  'date',
  'x-envoy-degraded',
  'x-envoy-immediate-health-check-fail',
  'x-envoy-ratelimited',
  'x-envoy-upstream-canary',
  'x-envoy-upstream-healthchecked-cluster',
  'location',
  'server',
  'x-envoy-upstream-service-time',
  ...INLINE_REQ_RESP_HEADERS,
  // INLINE_RESP_HEADERS_TRAILERS
  'grpc-message',
  'grpc-status',
  // RegisterCustomInlineHeader<ResponseHeaders> of the extensions in istio-proxy's build
  'cache-control',
  'content-encoding',
  'etag',
  'vary',
  'last-modified',
  'age',
  'expires',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
  'access-control-expose-headers',
  'access-control-allow-private-network'
]);

/**
 * A value appended to an inline header's value as Envoy's appendToHeader does it: with "," between them, where an
 * empty value adds nothing and a value after an empty one takes its place.
 */
export function appendInline(prev: string, value: string): string {
  return value === '' ? prev : prev === '' ? value : `${prev},${value}`;
}

/**
 * Add a field to `h` as Envoy's header map takes it (HeaderMapImpl::insertByKey): a repeat of an `inline` header is
 * appended to its value (appendInline); any other header's repeat becomes another value of a list, sent as a line of
 * its own.
 */
function addField(h: Headers, key: string, value: string, inline: ReadonlySet<string>): void {
  const prev = h[key];
  if (prev === undefined) h[key] = value;
  else if (inline.has(key)) h[key] = appendInline(prev as string, value);
  else if (typeof prev === 'string') h[key] = [prev, value];
  else prev.push(value);
}

/**
 * What Envoy's formatter reads of a header (`%REQ(X)%` and `%RESP(X)%`, in a header value or the access log): the
 * value of its first entry in Envoy's header map (`headers.get(name)[0]`, source/common/formatter). A header on several
 * lines (a list here: an entry per line) gives its first line; a list of a header Envoy keeps `inline` is one entry
 * there, so it gives the list joined with ",".
 */
export function formatterHeader(
  headers: Record<string, string | string[] | undefined>,
  name: string,
  inline: ReadonlySet<string>
): string | undefined {
  const v = headers[name];
  if (v === undefined || typeof v === 'string') return v;
  return inline.has(name) ? v.join(',') : v[0];
}

/**
 * Add one request field (`key` lower-cased) to `h` as Envoy's codec does (addField, ENVOY_INLINE_REQUEST_HEADERS).
 * Two exceptions keep what localmesh did before: `host` keeps its first value (node:http's rule, on both paths), and a
 * repeated `content-length` is refused (false: node:http then decides, 400 or one value).
 */
export function addRequestField(h: Headers, key: string, value: string): boolean {
  if (h[key] !== undefined && (key === 'content-length' || key === 'host')) return key === 'host';
  addField(h, key, value, ENVOY_INLINE_REQUEST_HEADERS);
  return true;
}

/**
 * Add one response field (`key` lower-cased) to `h` as Envoy's codec does (addField, ENVOY_INLINE_RESPONSE_HEADERS):
 * `set-cookie` is always a list (a line per cookie, as node:http reports it too). A repeated `content-length` is
 * refused (false: the fast lane does not proxy it; node:http's client has already checked its values agree).
 */
export function addResponseField(h: Headers, key: string, value: string): boolean {
  if (key === 'set-cookie') {
    const prev = h[key];
    if (prev === undefined) h[key] = [value];
    else (prev as string[]).push(value);
    return true;
  }
  if (key === 'content-length' && h[key] !== undefined) return false;
  addField(h, key, value, ENVOY_INLINE_RESPONSE_HEADERS);
  return true;
}

/** A request's header object, as Envoy's codec builds it (addRequestField), from node:http's `rawHeaders`. */
export function envoyRequestHeaders(raw: readonly string[]): Headers {
  const h: Headers = {};
  for (let i = 0; i + 1 < raw.length; i += 2) addRequestField(h, raw[i]!.toLowerCase(), raw[i + 1]!);
  return h;
}

/**
 * A response's header object, as Envoy's codec builds it (addResponseField), from node:http's `rawHeaders` (an
 * IncomingMessage's `headers` join a repeat with ", " and keep only the first of some); a repeated content-length
 * keeps its first value (node:http's client refused a response whose values differ).
 */
export function envoyResponseHeaders(raw: readonly string[]): Headers {
  const h: Headers = {};
  for (let i = 0; i + 1 < raw.length; i += 2) addResponseField(h, raw[i]!.toLowerCase(), raw[i + 1]!);
  return h;
}

/** RFC 9110 token characters, by char code. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN[c.charCodeAt(0)] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

/**
 * Field values (`s`, or its characters from `from` to `to`): visible characters, space, tab and obs-text; no other
 * control characters (CR, LF, NUL, DEL...).
 */
function isFieldValue(s: string, from = 0, to = s.length): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Where the head ends (after its blank line), -1 when not yet, -2 when longer than MAX_HEAD. */
function headEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf(CRLFCRLF, from);
  if (i >= 0) return i + 4 - from > MAX_HEAD ? -2 : i + 4;
  return buf.length - from > MAX_HEAD ? -2 : -1;
}

/**
 * Lower-cased names of the header names seen (exactly as written), each a token: most messages repeat a few names, so
 * one lookup replaces checking and lower-casing each. Bounded: once full, other names are checked each time.
 */
const NAME_KEYS = new Map<string, string>();
const NAME_KEYS_MAX = 512;

function nameKey(name: string): string | undefined {
  const known = NAME_KEYS.get(name);
  if (known !== undefined) return known;
  if (!isToken(name)) return undefined;
  const key = name.toLowerCase();
  // kept as strings of their own: a slice of the head would keep the whole head alive as long as the cache
  if (NAME_KEYS.size < NAME_KEYS_MAX) NAME_KEYS.set(ownCopy(name), ownCopy(key));
  return key;
}

/** A copy of a token (ASCII) that shares no memory with the string it was sliced from. */
function ownCopy(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/**
 * Parse the header lines of `head` (a message head without its blank line) from `from` (the second line) into an
 * object as Envoy's codec makes it (addRequestField, addResponseField); undefined when one is not plain. A value loses the spaces and tabs around it (OWS) and may hold no other control character.
 */
function parseFields(head: string, from: number, request: boolean, maxCount = Infinity): Headers | undefined {
  const h: Headers = {};
  const n = head.length;
  let i = from;
  let count = 0;
  while (i < n) {
    if (++count > maxCount) return undefined;
    let eol = head.indexOf('\r\n', i);
    if (eol < 0) eol = n;
    const colon = head.indexOf(':', i);
    // no colon on this line, or at its start (also a line starting with space/tab, obs-fold: the name is no token)
    if (colon <= i || colon >= eol) return undefined;
    const key = nameKey(head.slice(i, colon));
    if (key === undefined) return undefined;
    let a = colon + 1;
    let b = eol;
    while (a < b && (head.charCodeAt(a) === 0x20 || head.charCodeAt(a) === 0x09)) a++;
    while (b > a && (head.charCodeAt(b - 1) === 0x20 || head.charCodeAt(b - 1) === 0x09)) b--;
    if (!isFieldValue(head, a, b)) return undefined;
    const value = head.slice(a, b);
    i = eol + 2;
    // a repeated content-length: node:http decides (a request's 400 or one value; a response is not proxied)
    if (!(request ? addRequestField(h, key, value) : addResponseField(h, key, value))) return undefined;
  }
  return h;
}

/** Where a head's first line ends (its CRLF, or the head's end when it has no header line). */
function firstLineEnd(head: string): number {
  const eol = head.indexOf('\r\n');
  return eol < 0 ? head.length : eol;
}

function contentLengthOf(v: string | string[] | undefined): number {
  if (v === undefined) return -1;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) return -2;
  return Number(v);
}

function hasToken(v: string | string[] | undefined, token: string): boolean {
  if (typeof v !== 'string') return false;
  if (v.length === token.length) return v.toLowerCase() === token; // one value, no spaces around it (most often)
  for (const part of v.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * A request head at `from`, without body: HTTP/1.1, Content-Length framing only, an origin-form target (or with
 * `absoluteForm`, also `http://authority/path` as a forward proxy receives it; Host is then optional).
 */
export function parseRequestHead(buf: Buffer, from = 0, absoluteForm = false): Parsed<RequestHead> {
  const end = headEnd(buf, from);
  if (end === -1) return 'incomplete';
  if (end === -2) return 'unsupported';
  const head = buf.toString('latin1', from, end - 4);
  const eol = firstLineEnd(head);
  const first = head.slice(0, eol);
  const sp1 = first.indexOf(' ');
  const sp2 = first.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || first.slice(sp2 + 1) !== 'HTTP/1.1') return 'unsupported';
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  const absolute = absoluteForm && target.startsWith('http://') && target.length > 7;
  if (!isToken(method) || !(absolute || target.charCodeAt(0) === 0x2f) /* / */ || !isTarget(target))
    return 'unsupported';
  // past Envoy's header count node:http reads it, and the listener answers 431 (mesh.ts)
  const headers = parseFields(head, eol + 2, true, MAX_HEADERS_COUNT);
  if (!headers || headers['transfer-encoding'] !== undefined) return 'unsupported';
  if (typeof headers.host !== 'string' && !(absolute && headers.host === undefined)) return 'unsupported';
  const cl = contentLengthOf(headers['content-length']);
  if (cl === -2) return 'unsupported';
  return {
    method,
    target,
    headers,
    length: end - from,
    contentLength: Math.max(cl, 0),
    close: hasToken(headers.connection, 'close')
  };
}

/** Visible ASCII only (what llhttp accepts in a request target). */
function isTarget(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** A response head at `from`. `unsupported` here means the upstream sent something this lane does not proxy. */
export function parseResponseHead(buf: Buffer, from = 0): Parsed<ResponseHead> {
  const end = headEnd(buf, from);
  if (end === -1) return 'incomplete';
  if (end === -2) return 'unsupported';
  const head = buf.toString('latin1', from, end - 4);
  const eol = firstLineEnd(head);
  const first = head.slice(0, eol);
  const version = first.slice(0, 8);
  if ((version !== 'HTTP/1.1' && version !== 'HTTP/1.0') || first.charCodeAt(8) !== 0x20) return 'unsupported';
  const status = Number(first.slice(9, 12));
  if (!(status >= 100 && status <= 999) || (first.length > 12 && first.charCodeAt(12) !== 0x20)) return 'unsupported';
  const headers = parseFields(head, eol + 2, false);
  if (!headers) return 'unsupported';
  const te = headers['transfer-encoding'];
  const chunked = te !== undefined;
  if (
    chunked &&
    (typeof te !== 'string' || te.trim().toLowerCase() !== 'chunked' || headers['content-length'] !== undefined)
  )
    return 'unsupported';
  const cl = contentLengthOf(headers['content-length']);
  if (cl === -2) return 'unsupported';
  const close =
    version === 'HTTP/1.0' ? !hasToken(headers.connection, 'keep-alive') : hasToken(headers.connection, 'close');
  return { status, reason: first.slice(13), headers, length: end - from, contentLength: cl, chunked, close };
}

/**
 * Follows a chunked body as it streams by (the bytes are forwarded untouched), collecting the decoded data for
 * capture and saying where the message ends: after the last chunk and the trailer section.
 */
export class ChunkedScanner {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private remaining = 0;
  private line = '';
  done = false;
  failed = false;

  /**
   * Scan `buf` from `from`; `data` receives decoded pieces. Returns the offset just past the message's end, or -1
   * when the message goes on past `buf` (or the framing is broken: `failed`).
   */
  scan(buf: Buffer, from: number, data: (piece: Buffer) => void): number {
    let i = from;
    while (i < buf.length && !this.done) {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, buf.length - i);
        data(buf.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          this.state = 'data-crlf';
          this.line = '';
        }
        continue;
      }
      const nl = buf.indexOf(10, i);
      const stop = nl < 0 ? buf.length : nl + 1;
      this.line += buf.toString('latin1', i, stop);
      i = stop;
      if (nl < 0) {
        if (this.line.length > 4096) return this.fail();
        break;
      }
      const line = this.line.endsWith('\r\n') ? this.line.slice(0, -2) : undefined;
      this.line = '';
      if (line === undefined) return this.fail();
      if (this.state === 'data-crlf') {
        if (line !== '') return this.fail();
        this.state = 'size';
      } else if (this.state === 'size') {
        const semi = line.indexOf(';');
        const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) return this.fail();
        this.remaining = parseInt(hex, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') this.done = true; // the blank line after the (possibly empty) trailers
    }
    return this.done ? i : -1;
  }

  private fail(): number {
    this.failed = true;
    return -1;
  }
}

/**
 * Serialize header fields the way node:http's OutgoingMessage does (name: value, a line per list member), and like
 * it refuse a name that is not a token or a value with CR, LF or another control character (no header injection).
 */
export function headerLines(h: Record<string, string | string[] | number | undefined>): string {
  let out = '';
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (!isToken(k)) throw invalidHeader(k);
    if (Array.isArray(v)) {
      for (const x of v) out += field(k, String(x));
    } else out += field(k, typeof v === 'string' ? v : String(v));
  }
  return out;
}

function field(name: string, value: string): string {
  if (!isFieldValue(value)) throw invalidHeader(name);
  return `${name}: ${value}\r\n`;
}

function invalidHeader(name: string): Error {
  return Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
}

/** Methods node:http's client sends `content-length: 0` for when they carry no body (the fast lane does the same). */
const NO_LENGTH_NEEDED = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** A request head as node:http's client would write it for these headers and this (whole) body. */
export function requestHead(
  method: string,
  path: string,
  headers: Record<string, string | string[] | number | undefined>,
  body: Buffer | null
): string {
  const cl =
    body === null && headers['content-length'] === undefined && !NO_LENGTH_NEEDED.has(method)
      ? 'content-length: 0\r\n'
      : '';
  return `${method} ${path} HTTP/1.1\r\n${headerLines(headers)}${cl}\r\n`;
}
