/**
 * MeshApi over HTTP + Server-Sent Events (the admin API for the CLI and the browser UI).
 * Routes are generated from `MESH_API_METHODS`: there is no per-method handler code here.
 * GET methods take their one optional argument from the query string; POST methods take a JSON body,
 * either the single argument as an object or `{"args": [...]}` for positional arguments.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import {
  EVENTS_PATH,
  MESH_API_METHODS,
  MESH_EVENT_TYPES,
  type MeshApi,
  type MeshEvent,
  type MeshEventType
} from '../../contract/api.js';
import { MESH_API_ARGS, type MeshApiMethod } from '../../contract/api-schema.js';
import { ErrorCodes, MeshError, isMeshError } from '../../contract/errors.js';
import { createEventStream } from './event-stream.js';

export interface AdminServerOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks an ephemeral port. */
  port?: number;
  /** Optional folder served at / (a browser UI); unknown non-/api paths get its index.html. */
  staticDir?: string;
  /** SSE heartbeat period; default 15 s. */
  heartbeatMs?: number;
  /**
   * When set, /api/* needs `Authorization: Bearer <token>` or the `localmesh_token` cookie. A page opened with
   * `?token=<token>` gets the cookie (HttpOnly, SameSite=Strict) and is redirected to the same path without it.
   */
  token?: string;
  /** Bytes an event stream may fall behind before it is cut (event-stream.ts MAX_BUFFERED_BYTES by default). */
  maxEventBufferBytes?: number;
  /** Prometheus text for GET /metrics (open without the token: read-only, as Istio's scrape port). */
  metrics?: () => Promise<{ contentType: string; text: string }>;
}

export const TOKEN_COOKIE = 'localmesh_token';

export interface AdminServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Route = { name: string; method: 'GET' | 'POST' };
type AnyMethod = (...args: unknown[]) => Promise<unknown>;

const JSON_TYPE = 'application/json; charset=utf-8';
const MAX_BODY_BYTES = 6 * 1024 * 1024;
const ROUTES = new Map<string, Route>(
  Object.entries(MESH_API_METHODS).map(([name, r]) => [r.path, { name, method: r.method }])
);
/** Error code → HTTP status; other LM2xx codes are bad requests, anything else is a 500. */
const STATUS_BY_CODE: Record<string, number> = {
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.NOT_RUNNING]: 409,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.OUTSIDE_PROJECT]: 403
};
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': JSON_TYPE,
  '.map': JSON_TYPE,
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2'
};
/** The UI's Content-Security-Policy as a header (frame-ancestors works only there, not in a meta tag). */
const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? (code.startsWith('LM2') ? 400 : 500);
}

export async function startAdminServer(api: MeshApi, opts: AdminServerOptions = {}): Promise<AdminServer> {
  const host = opts.host ?? '127.0.0.1';
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const staticRoot = opts.staticDir === undefined ? undefined : path.resolve(opts.staticDir);
  const loopbackOnly = isLoopback(host);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => sendError(res, err));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    if (loopbackOnly) checkLocalCaller(req);
    if (url.pathname === '/metrics' && opts.metrics) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendMethodNotAllowed(res, 'GET, HEAD');
      const m = await opts.metrics();
      res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.text) });
      res.end(req.method === 'HEAD' ? undefined : m.text);
      return;
    }
    const isApi = url.pathname === '/api' || url.pathname.startsWith('/api/');
    if (opts.token !== undefined) {
      if (isApi && !authorized(req, opts.token)) {
        throw new MeshError(
          ErrorCodes.UNAUTHORIZED,
          'the admin API needs the admin token: open the URL `localmesh up --ui` printed, or send Authorization: Bearer <token> (see <state-dir>/admin-token)'
        );
      }
      const given = url.searchParams.get('token');
      if (!isApi && given !== null) {
        if (!sameSecret(given, opts.token))
          throw new MeshError(ErrorCodes.UNAUTHORIZED, 'wrong admin token in the URL');
        url.searchParams.delete('token');
        res.writeHead(302, {
          location: url.pathname + (url.search === '?' ? '' : url.search),
          'set-cookie': `${TOKEN_COOKIE}=${opts.token}; HttpOnly; SameSite=Strict; Path=/`,
          'cache-control': 'no-store'
        });
        res.end();
        return;
      }
    }
    if (url.pathname === EVENTS_PATH) {
      if (req.method === 'OPTIONS') return sendAllow(res, 'GET, HEAD');
      if (req.method === 'HEAD') return void res.writeHead(200, EVENT_STREAM_HEADERS).end();
      if (req.method !== 'GET') return sendMethodNotAllowed(res, 'GET, HEAD');
      return openEventStream(req, res, url);
    }
    const route = ROUTES.get(url.pathname);
    if (route) {
      // a GET endpoint answers HEAD as GET without the body (node:http leaves it out); OPTIONS names the methods
      const allow = route.method === 'GET' ? 'GET, HEAD' : route.method;
      if (req.method === 'OPTIONS') return sendAllow(res, allow);
      if (req.method !== route.method && !(req.method === 'HEAD' && route.method === 'GET'))
        return sendMethodNotAllowed(res, allow);
      let raw = route.method === 'GET' ? argsFromQuery(url.searchParams) : argsFromBody(await readBody(req));
      const schema = MESH_API_ARGS[route.name as MeshApiMethod];
      let parsed = schema.safeParse(raw);
      // no argument where one is required: check it as an empty object, so that each missing field is named
      // (only where the argument is an object: a field inside it is named, not the argument itself)
      if (!parsed.success && raw.length === 0 && (schema.safeParse([{}]).error?.issues[0]?.path.length ?? 0) > 1) {
        raw = [{}];
        parsed = schema.safeParse(raw);
      }
      if (!parsed.success) {
        throw new MeshError(
          ErrorCodes.BAD_REQUEST,
          `bad arguments for ${route.name}: ${parsed.error.issues.map((i) => describeIssue(i, raw)).join('; ')}`,
          { details: parsed.error.issues }
        );
      }
      const args = parsed.data as unknown[];
      const result = await (api[route.name as keyof MeshApi] as unknown as AnyMethod).apply(api, args);
      return result === undefined ? void res.writeHead(204).end() : sendJson(res, 200, result);
    }
    if (staticRoot === undefined || isApi) {
      throw new MeshError(ErrorCodes.NOT_FOUND, `no such endpoint: ${req.method} ${url.pathname}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendMethodNotAllowed(res, 'GET, HEAD');
    return serveStatic(staticRoot, url.pathname, res);
  }

  /** The events /api/v1/events sends (MeshEvent's types), which `?types=` picks from. */
  const EVENT_TYPES = MESH_EVENT_TYPES;

  function openEventStream(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const types = url.searchParams
      .getAll('types')
      .flatMap((t) => t.split(','))
      .map((t) => t.trim())
      .filter(Boolean);
    const unknown = types.filter((t) => !EVENT_TYPES.includes(t as MeshEvent['type']));
    if (unknown.length > 0)
      throw new MeshError(
        ErrorCodes.BAD_REQUEST,
        `types: unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => JSON.stringify(t)).join(', ')} (one of ${EVENT_TYPES.join(', ')})`
      );
    const wanted = types.length > 0 ? [...new Set(types as MeshEventType[])] : undefined;
    res.writeHead(200, EVENT_STREAM_HEADERS);
    res.write(': connected\n\n');
    const stream = createEventStream(res, { maxBufferedBytes: opts.maxEventBufferBytes });
    // the engine is told the types: it builds no event nobody wants (flow-start costs nothing unsubscribed)
    const unsubscribe = api.onEvent((event: MeshEvent) => {
      if (!wanted || wanted.includes(event.type)) stream.send(event);
    }, wanted);
    const heartbeat = setInterval(() => stream.comment('ping'), heartbeatMs);
    heartbeat.unref();
    res.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
    req.resume();
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const code = err.code === 'EADDRINUSE' ? ErrorCodes.PORT_IN_USE : ErrorCodes.LISTEN_FAILED;
      reject(
        new MeshError(code, `admin API cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`, { cause: err })
      );
    };
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      })
  };
}

const EVENT_STREAM_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive'
};

/**
 * One problem with an endpoint's arguments, said for a person: a field that is missing is "required"; arguments
 * where the endpoint takes none are named as such. The positional index of the single argument is left out.
 */
function describeIssue(issue: { path: PropertyKey[]; message: string; code?: string }, raw: unknown[]): string {
  const p = issue.path.length > 0 && issue.path[0] === 0 ? issue.path.slice(1) : issue.path;
  const name = p.map(String).join('.');
  let value: unknown = raw;
  for (const k of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
  if (name !== '' && value === undefined && issue.code !== 'unrecognized_keys') return `${name} is required`;
  // a positional argument that is missing (processes/restart without a workload): said so, by its place
  if (issue.path.length === 1 && typeof issue.path[0] === 'number' && value === undefined)
    return `argument ${issue.path[0] + 1} is required`;
  if (issue.path.length === 0 && issue.code === 'too_big') return 'this endpoint takes no arguments';
  if (issue.path.length === 0 && issue.code === 'too_small') return `argument ${raw.length + 1} is required`;
  const where =
    name ||
    (issue.path.length === 1 && typeof issue.path[0] === 'number' ? `argument ${issue.path[0] + 1}` : '(arguments)');
  return `${where}: ${issue.message}`;
}

/** Query string → the single optional argument (strings; the method's zod schema coerces; repeated keys → arrays). */
function argsFromQuery(params: URLSearchParams): unknown[] {
  const arg: Record<string, unknown> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    // every query field takes one value: a second one would be read as a list (limit: NaN, status: an array)
    if (values.length > 1)
      throw new MeshError(ErrorCodes.BAD_REQUEST, `${key}: given ${values.length} times; give it once`);
    arg[key] = values[0];
  }
  return Object.keys(arg).length > 0 ? [arg] : [];
}

function authorized(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization;
  // the scheme is case-insensitive (RFC 9110 §11.1)
  const bearer = auth === undefined ? null : /^bearer\s+(\S+)\s*$/i.exec(auth);
  if (bearer && sameSecret(bearer[1]!, token)) return true;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE && sameSecret(v.join('='), token)) return true;
  }
  return false;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** JSON body → positional arguments: `{"args": [...]}`, or an object that is the single argument. */
function argsFromBody(body: string): unknown[] {
  if (body.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new MeshError(ErrorCodes.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new MeshError(ErrorCodes.BAD_REQUEST, 'request body must be a JSON object or {"args": [...]}');
  }
  const keys = Object.keys(parsed);
  const positional = (parsed as { args?: unknown }).args;
  return keys.length === 1 && Array.isArray(positional) ? positional : [parsed];
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new MeshError(ErrorCodes.BAD_REQUEST, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** On a loopback bind, refuse browsers on other sites (Origin) and DNS rebinding (Host). */
function checkLocalCaller(req: IncomingMessage): void {
  const host = (req.headers.host ?? 'localhost').toLowerCase();
  const hostName = hostnameOf(`http://${host}`);
  const origin = req.headers.origin;
  // a DNS-rebinding name (Host) must not reach the admin API, nor a web page of any other origin -- another local
  // port included, whose requests the browser would send with the SameSite cookie
  if (!isLoopback(hostName)) {
    throw new MeshError(
      ErrorCodes.FORBIDDEN,
      'the admin API only accepts requests addressed to a loopback name (Host must be localhost, 127.0.0.1 or [::1], with or without a port)'
    );
  }
  if (origin !== undefined && originHost(origin) !== host) {
    throw new MeshError(
      ErrorCodes.FORBIDDEN,
      `the admin API only accepts requests from its own pages (Origin ${origin} is not http://${host})`
    );
  }
}

/** `host:port` of an http Origin, lowercased ('' when it is not one: "null", another scheme). */
function originHost(origin: string): string {
  try {
    const u = new URL(origin);
    return u.protocol === 'http:' ? u.host.toLowerCase() : '';
  } catch {
    return '';
  }
}

function hostnameOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function serveStatic(root: string, pathname: string, res: ServerResponse): Promise<void> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    throw new MeshError(ErrorCodes.BAD_REQUEST, `bad path encoding: ${pathname}`);
  }
  const file = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  if (decoded.includes('\0') || (file !== root && !file.startsWith(root + path.sep))) {
    throw new MeshError(ErrorCodes.NOT_FOUND, `not found: ${pathname}`);
  }
  const found = (await fileAt(file)) ?? (await fileAt(path.join(file, 'index.html')));
  const target = found ?? (await fileAt(path.join(root, 'index.html')));
  if (target === undefined) throw new MeshError(ErrorCodes.NOT_FOUND, `not found: ${pathname}`);
  const body = await readFile(target);
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[path.extname(target).toLowerCase()] ?? 'application/octet-stream',
    'content-length': body.length,
    'x-content-type-options': 'nosniff',
    'content-security-policy': UI_CSP,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer'
  });
  res.end(body);
}

async function fileAt(file: string): Promise<string | undefined> {
  const info = await stat(file).catch(() => undefined);
  return info?.isFile() ? file : undefined;
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** OPTIONS: 204 with the methods the endpoint takes. */
function sendAllow(res: ServerResponse, allow: string): void {
  res.writeHead(204, { allow }).end();
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): void {
  const error = { code: ErrorCodes.BAD_REQUEST, message: `method not allowed; use ${allow}` };
  sendJson(res, 405, { error }, { allow });
}

/** The one error wrapper: MeshError → its code and a status from the table; anything else → 500 LM500. */
function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  const error = isMeshError(err)
    ? err
    : new MeshError(ErrorCodes.INTERNAL, err instanceof Error ? err.message : String(err));
  sendJson(res, statusForCode(error.code), { error: error.toJSON() });
}
