/**
 * What the engine host does, apart from how messages travel (engine-host.ts wires it to Electron's
 * `process.parentPort`, or to `process.send` under plain Node for tests): 'open' starts the mesh and a token-gated
 * admin API on an ephemeral loopback port, 'close' stops both. Requests are handled one at a time, in order.
 */
import { ErrorCodes, isMeshError } from '../contract/errors.js';
import { createMesh, type Mesh } from '../engine/mesh.js';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { parseMainToHost, type HostToMain, type MainToHost } from './engine-protocol.js';

export interface EngineServiceDeps {
  createMesh: typeof createMesh;
  startAdminServer: typeof startAdminServer;
}

/** Feed it every raw message that arrives; it answers through `post`. Returns a promise of the queue's tail. */
export type EngineService = (raw: unknown) => Promise<void>;

export function createEngineService(
  post: (message: HostToMain) => void,
  deps: EngineServiceDeps = { createMesh, startAdminServer }
): EngineService {
  let mesh: Mesh | undefined;
  let admin: AdminServer | undefined;
  let queue: Promise<void> = Promise.resolve();
  const log = (line: string): void => post({ type: 'log', line });

  async function stop(): Promise<void> {
    const [a, m] = [admin, mesh];
    admin = undefined;
    mesh = undefined;
    // Errors while stopping are logged, not fatal: the host is about to go away anyway.
    await a?.close().catch((e: unknown) => log(`admin API close failed: ${describe(e)}`));
    await m?.close().catch((e: unknown) => log(`mesh close failed: ${describe(e)}`));
  }

  async function open(msg: Extract<MainToHost, { type: 'open' }>): Promise<void> {
    await stop();
    try {
      // As `localmesh up` does: sidecars, then the admin API, and only then the developer's processes.
      mesh = await deps.createMesh(msg.meshFile, { seed: msg.seed, log, launch: false });
      // `token` gates the admin API (Authorization: Bearer <token>); main generated it and alone knows it.
      admin = await deps.startAdminServer(mesh, { port: 0, token: msg.token });
      mesh.launchProcesses();
      post({ type: 'ready', url: admin.url });
    } catch (e) {
      await stop();
      post({ type: 'error', error: errorOf(e) });
    }
  }

  async function handle(raw: unknown): Promise<void> {
    const msg = parseMainToHost(raw);
    if (!msg) return log(`engine host: ignored an unknown message ${safeJson(raw)}`);
    if (msg.type === 'open') return open(msg);
    await stop();
    post({ type: 'closed' });
  }

  return (raw) => (queue = queue.then(() => handle(raw)));
}

function errorOf(e: unknown): { code: string; message: string } {
  return isMeshError(e) ? { code: e.code, message: e.message } : { code: ErrorCodes.INTERNAL, message: describe(e) };
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}
