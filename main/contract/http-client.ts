/**
 * MeshApi over HTTP: the client side of admin-server.ts, generated from `MESH_API_METHODS`.
 * Runs in Node 20 and in a browser (global fetch only, no node: imports). Server errors come back as
 * `MeshError` with the server's code and message; `onEvent` reads the SSE stream with fetch and reconnects
 * with a small backoff until unsubscribed.
 */
import { EVENTS_PATH, MESH_API_METHODS, type MeshApi, type MeshEvent, type MeshEventType } from './api.js';
import { ErrorCodes, MeshError, type MeshErrorData } from './errors.js';

export interface HttpMeshApiOptions {
  fetch?: typeof fetch;
  /** Admin token, sent as `Authorization: Bearer <token>` (a browser page relies on the cookie instead). */
  token?: string;
}

type Route = { method: 'GET' | 'POST'; path: string };

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

export function createHttpMeshApi(baseUrl: string, opts: HttpMeshApiOptions = {}): MeshApi {
  const base = baseUrl.replace(/\/+$/, '');
  // Called unbound: a browser's fetch throws "Illegal invocation" when called as a method of another object.
  const rawFetch: typeof fetch = opts.fetch ?? ((input, init) => fetch(input, init));
  const doFetch: typeof fetch =
    opts.token === undefined
      ? rawFetch
      : (input, init) =>
          rawFetch(input, {
            ...init,
            headers: { ...(init?.headers as Record<string, string> | undefined), authorization: `Bearer ${opts.token}` }
          });

  async function request(route: Route, args: unknown[]): Promise<unknown> {
    while (args.length > 0 && args[args.length - 1] === undefined) args = args.slice(0, -1);
    const init: RequestInit = { method: route.method, headers: { accept: 'application/json' } };
    let url = base + route.path;
    if (route.method === 'GET') {
      url += queryString(args);
    } else {
      init.headers = { accept: 'application/json', 'content-type': 'application/json' };
      init.body = JSON.stringify({ args });
    }
    let res: Response;
    try {
      res = await doFetch(url, init);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // nothing answers there: no running mesh (LM104, as for a stale admin.json), not an internal error
      throw new MeshError(ErrorCodes.NOT_RUNNING, `admin API at ${base} unreachable: ${reason}`, { cause: err });
    }
    if (res.status === 204) return undefined;
    const text = await res.text();
    const body = parseJson(text);
    if (!res.ok) throw toMeshError(body, res.status, text);
    return body;
  }

  function onEvent(listener: (event: MeshEvent) => void, types?: readonly MeshEventType[]): () => void {
    const controller = new AbortController();
    const url = base + EVENTS_PATH + (types === undefined ? '' : `?types=${types.join(',')}`);
    void (async () => {
      let backoff = RECONNECT_MIN_MS;
      let connected = false;
      while (!controller.signal.aborted) {
        try {
          const res = await doFetch(url, {
            headers: { accept: 'text/event-stream' },
            signal: controller.signal
          });
          if (!res.ok || !res.body) throw new Error(`event stream answered HTTP ${res.status}`);
          backoff = RECONNECT_MIN_MS;
          // a stream opened again: what happened while it was down was not seen (ResyncEvent)
          if (connected) listener({ type: 'resync', dropped: null });
          connected = true;
          await readEventStream(res.body, listener);
        } catch {
          // Dropped, refused or aborted: retry below unless unsubscribed.
        }
        await delay(backoff, controller.signal);
        backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
      }
    })();
    return () => controller.abort();
  }

  const api: Record<string, unknown> = { onEvent };
  for (const [name, route] of Object.entries(MESH_API_METHODS)) {
    api[name] = (...args: unknown[]) => request(route, args);
  }
  return api as unknown as MeshApi;
}

/** GET methods take one optional object argument, sent as the query string. */
function queryString(args: unknown[]): string {
  if (args.length === 0) return '';
  const [arg] = args;
  if (args.length > 1 || typeof arg !== 'object' || arg === null || Array.isArray(arg)) {
    throw new MeshError(ErrorCodes.BAD_REQUEST, 'a GET method takes at most one object argument');
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(arg)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null) params.append(key, String(v));
    }
  }
  const qs = params.toString();
  return qs === '' ? '' : `?${qs}`;
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toMeshError(body: unknown, status: number, text: string): MeshError {
  const error = (body as { error?: Partial<MeshErrorData> } | undefined)?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    return new MeshError(error.code, error.message, { where: error.where, details: error.details });
  }
  return new MeshError(ErrorCodes.INTERNAL, `admin API answered HTTP ${status}: ${text.slice(0, 200)}`);
}

/** Reads `event:`/`data:` blocks until the stream ends; comments (`: ping`) are skipped. */
async function readEventStream(body: ReadableStream<Uint8Array>, listener: (event: MeshEvent) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line === '') {
          if (data.length > 0) dispatch(data.join('\n'), listener);
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function dispatch(data: string, listener: (event: MeshEvent) => void): void {
  const event = parseJson(data) as MeshEvent | undefined;
  if (event === undefined) return;
  try {
    listener(event);
  } catch (err) {
    // A throwing listener must not kill the stream; report it the way EventTarget does.
    queueMicrotask(() => {
      throw err;
    });
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
