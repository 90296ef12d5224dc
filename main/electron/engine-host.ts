/**
 * Entry of the engine host process (bundled to out/electron/engine-host.cjs). The main process starts it with
 * Electron's `utilityProcess.fork`, so a proxy crash or a busy event loop never freezes the window. It is plain
 * Node: no `electron` import. Messages arrive on `process.parentPort` (Electron) or, when forked by plain Node's
 * `child_process.fork` (tests), on `process.on('message')`. The protocol is in engine-protocol.ts.
 */
import type { HostToMain } from './engine-protocol.js';
import { createEngineService } from './engine-service.js';

/** Electron's ParentPort, the part used here (typed locally so this file needs no Electron types). */
interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  postMessage(message: unknown): void;
}

const parentPort = (process as { parentPort?: ParentPort }).parentPort;

function post(message: HostToMain): void {
  if (parentPort) parentPort.postMessage(message);
  else if (process.connected) process.send?.(message);
}

const service = createEngineService(post);

if (parentPort) {
  parentPort.on('message', (e) => void service(e.data));
} else if (process.send) {
  process.on('message', (m) => void service(m));
  // The parent went away without saying 'close': stop the mesh (and the processes it launched), then leave.
  process.once('disconnect', () => void service({ type: 'close' }).finally(() => process.exit(0)));
} else {
  process.stderr.write('engine-host: start me with utilityProcess.fork (Electron) or child_process.fork (Node)\n');
  process.exitCode = 2;
}
