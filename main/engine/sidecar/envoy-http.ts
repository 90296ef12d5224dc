/**
 * node:http's messages as Envoy writes them. An HTTP/1.1 connection is persistent unless a side says otherwise, and
 * Envoy sends a `connection` header only to close; node:http adds `Connection: keep-alive` to every keep-alive
 * response and to every request on a keep-alive Agent. A removed header is never added back (node:http's
 * `_removedConnection`), and the connection stays persistent; a header set later is written as set.
 */
import type http from 'node:http';

/** A message (a response as its request arrives) without `Connection: keep-alive`; one that closes says so. */
export function withoutKeepAliveHeader<T extends http.OutgoingMessage>(m: T): T {
  if (m.shouldKeepAlive && !m.headersSent && !m.hasHeader('connection')) m.removeHeader('connection');
  return m;
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
