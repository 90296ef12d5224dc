/**
 * The data planes localmesh could have been built on, as bare reverse proxies with no mesh feature at all (issue 7:
 * "measure the alternative (node:http directly, undici pools) and use the faster one, saying so with the numbers").
 * Each forwards every request to the upstream stub and streams the answer back, in a process of its own:
 *
 *   node-http   node:http's server and client, a keep-alive Agent, the bodies piped (the Node floor of
 *               performance-anchors.md)
 *   http-proxy  node:http's server with http-proxy 1.18 forwarding on a keep-alive Agent
 *   undici      node:http's server with an undici Pool (keep-alive, pipelining 1) to the upstream
 *
 * argv: <kind> <upstream port>. Listens on 127.0.0.1 (an ephemeral port) and reports it over IPC.
 */
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';
import { ROOT } from './util.js';

export const BARE_KINDS = ['node-http', 'http-proxy', 'undici'] as const;
export type BareKind = (typeof BARE_KINDS)[number];

/** Connections each client keeps to the upstream (wrk drives 32). */
const SOCKETS = 64;

/** Hop-by-hop headers a proxy does not forward (RFC 9110 §7.6.1). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function fail(res: http.ServerResponse, e: Error): void {
  if (res.headersSent) res.destroy(e);
  else {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`upstream: ${e.message}`);
  }
}

function nodeHttp(upstream: number): http.RequestListener {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS, maxFreeSockets: SOCKETS });
  return (req, res) => {
    const out = http.request(
      { host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      }
    );
    out.on('error', (e) => fail(res, e));
    req.pipe(out);
  };
}

function viaHttpProxy(upstream: number): http.RequestListener {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS, maxFreeSockets: SOCKETS });
  const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent });
  proxy.on('error', (e, _req, res) => fail(res as http.ServerResponse, e));
  return (req, res) => proxy.web(req, res);
}

function viaUndici(upstream: number): http.RequestListener {
  const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: SOCKETS, pipelining: 1 });
  return (req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !HOP.has(name)) headers[name] = value;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool
      .request({ method: req.method as 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null })
      .then((up) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(up.headers))
          if (value !== undefined && !HOP.has(name)) out[name] = value;
        res.writeHead(up.statusCode, out);
        up.body.pipe(res);
      })
      .catch((e: Error) => fail(res, e));
  };
}

function version(pkg: string): string {
  try {
    const file = path.join(ROOT, 'node_modules', pkg, 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const kind = process.argv[2] as BareKind;
  const upstream = Number(process.argv[3]);
  if (!BARE_KINDS.includes(kind)) throw new Error(`unknown kind ${kind} (one of ${BARE_KINDS.join(', ')})`);
  const handler =
    kind === 'node-http' ? nodeHttp(upstream) : kind === 'http-proxy' ? viaHttpProxy(upstream) : viaUndici(upstream);
  const server = http.createServer(handler);
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('message', (m: { type?: string }) => m?.type === 'close' && close());
  process.on('disconnect', close);
  const v =
    kind === 'node-http'
      ? `Node ${process.version}`
      : kind === 'http-proxy'
        ? `http-proxy ${version('http-proxy')}`
        : `undici ${version('undici')}`;
  process.send?.({ type: 'ready', port: (server.address() as net.AddressInfo).port, version: v });
}

main().catch((e: Error) => {
  process.send?.({ type: 'error', message: e.stack ?? e.message });
  process.exit(1);
});
