/**
 * node:http's messages as Envoy writes them. An HTTP/1.1 connection is persistent unless a side says otherwise, and
 * Envoy sends a `connection` header only to close; node:http adds `Connection: keep-alive` to every keep-alive
 * response and to every request on a keep-alive Agent. A removed header is never added back (node:http's
 * `_removedConnection`), and the connection stays persistent; a header set later is written as set.
 */
import type http from 'node:http';
import { httpDate } from '../util/http-date.js';

/** A message (a response as its request arrives) without `Connection: keep-alive`; one that closes says so. */
export function withoutKeepAliveHeader<T extends http.OutgoingMessage>(m: T): T {
  if (m.shouldKeepAlive && !m.headersSent && !m.hasHeader('connection')) m.removeHeader('connection');
  return m;
}

type HeadWriter = { _storeHeader?: (firstLine: string, headers: unknown) => void };

/**
 * A request that sends each of its `cookie` values on a line of its own, as Envoy's HTTP/1 codec sends the cookie
 * lines it received (cookie is no inline header: h1.ts addRequestField). node:http's client joins a cookie list into
 * one line with "; " (_http_outgoing.js processHeader, for `cookie` alone); given its head as a list of [name, value]
 * pairs instead, it writes a line per pair, and decides everything else (framing, keep-alive) as for its own headers.
 */
export function withCookieLines<T extends http.ClientRequest>(req: T): T {
  const cookie = req.getHeader('cookie');
  const w = req as T & HeadWriter;
  const store = w._storeHeader;
  if (!Array.isArray(cookie) || cookie.length < 2 || typeof store !== 'function') return req;
  w._storeHeader = function (this: T, firstLine: string, headers: unknown) {
    // node:http passes the entries setHeader made: { lower-cased name: [name, value] }
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers))
      return store.call(this, firstLine, headers);
    const pairs: [string, unknown][] = [];
    for (const key in headers) {
      const [name, value] = (headers as Record<string, [string, unknown]>)[key]!;
      if (key === 'cookie' && Array.isArray(value)) for (const v of value) pairs.push([name, v]);
      else pairs.push([name, value]);
    }
    return store.call(this, firstLine, pairs);
  };
  return req;
}

/**
 * A response as node:http serves it, written as Envoy writes it: its status line with Envoy's reason phrase for the
 * status it ends up with (read when the line is written), and no `Connection: keep-alive`.
 */
export function envoyResponse(res: http.ServerResponse): http.ServerResponse {
  Object.defineProperty(res, 'statusMessage', {
    get: () => reasonPhrase(res.statusCode),
    set: () => undefined,
    configurable: true
  });
  return withoutKeepAliveHeader(res);
}

/**
 * Envoy's reason phrases (Http::CodeUtility::toString): its HTTP/1 codec writes the status line itself, with these,
 * whatever phrase the app sent; a code it does not name is "Unknown" (node:http's table has a few more, and says
 * "unknown").
 */
const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required'
};

/** The reason phrase Envoy writes after `status` in a status line. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/**
 * What Envoy's HTTP/1 codec answers to a request it refuses before any filter runs (sendProtocolError): the status
 * with its reason phrase as a text/plain body, and the connection closes. 400 for bytes it cannot parse, 431 for
 * headers over its limit, 426 for HTTP/1.0 (`accept_http_10` is off, as Istio leaves it).
 */
export function codecErrorReply(status: number, server: string): string {
  const body = reasonPhrase(status);
  return `HTTP/1.1 ${status} ${body}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nserver: ${server}\r\ndate: ${httpDate()}\r\nconnection: close\r\n\r\n${body}`;
}

/** Does `head` start with an HTTP/1.0 request line (which Envoy's codec answers 426 Upgrade Required)? */
export function isHttp10(head: Buffer): boolean {
  const eol = head.indexOf(0x0a);
  return eol > 0 && /^[A-Z][A-Z0-9_-]* \S+ HTTP\/1\.0\r?$/.test(head.toString('latin1', 0, eol));
}
