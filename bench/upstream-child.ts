/**
 * The upstream stub every path ends at: node:http answering 1 KiB of JSON on keep-alive connections, on several
 * loopback ports (one per mesh workload, since one address may back only one instance; port 0 is the one the
 * direct, nginx, mockttp and mitmproxy paths use). Runs in its own process; reports its ports over IPC.
 */
import http from 'node:http';
import type net from 'node:net';
import { BODY_BYTES } from './paths.js';

function body(): Buffer {
  const head = '{"ok":true,"service":"bench-upstream","pad":"';
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(BODY_BYTES - head.length - tail.length) + tail);
}

async function main(): Promise<void> {
  const count = Math.max(1, Number(process.argv[2] ?? 1));
  const payload = body();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': payload.length });
      res.end(payload);
    });
  };
  const servers: http.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = http.createServer(handler);
    // idle pooled connections stay open between the benchmark's phases (Node's 5 s default would close them)
    s.keepAliveTimeout = 120_000;
    s.headersTimeout = 125_000;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    ports.push((s.address() as net.AddressInfo).port);
  }
  const close = () => {
    for (const s of servers) {
      s.close();
      s.closeAllConnections();
    }
    process.exit(0);
  };
  process.on('message', (m: { type?: string }) => m?.type === 'close' && close());
  process.on('disconnect', close);
  process.send?.({ type: 'ready', ports });
}

void main().catch((e: Error) => {
  process.send?.({ type: 'error', message: e.message });
  process.exit(1);
});
