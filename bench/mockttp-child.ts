/**
 * mockttp (HTTP Toolkit's engine) forwarding every request to the upstream stub, in a process of its own.
 * argv: <upstream port> <listen port>. mockttp listens on every interface by default; this child pins its
 * server to 127.0.0.1.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { getLocal } from 'mockttp';
import { ROOT } from './util.js';

const listen = net.Server.prototype.listen as (...a: unknown[]) => net.Server;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  return listen.apply(this, typeof args[0] === 'number' && args.length === 1 ? [args[0], '127.0.0.1'] : args);
} as typeof net.Server.prototype.listen;

const send = (m: object) =>
  new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

async function main(): Promise<void> {
  const upstream = Number(process.argv[2]);
  const port = Number(process.argv[3]);
  const server = getLocal({ recordTraffic: false });
  await server.start(port);
  await server.forAnyRequest().thenForwardTo(`http://127.0.0.1:${upstream}`);
  const close = () => void server.stop().finally(() => process.exit(0));
  process.on('message', (m: { type?: string }) => m?.type === 'close' && close());
  process.on('disconnect', close);
  let version = 'unknown';
  try {
    version = (
      JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/mockttp/package.json'), 'utf8')) as { version: string }
    ).version;
  } catch {
    /* keep unknown */
  }
  await send({ type: 'ready', port: server.port, version });
}

main().catch((e: Error) => {
  void send({ type: 'error', message: e.stack ?? e.message }).finally(() => process.exit(1));
});
