/**
 * Messages between the main process and the engine host (engine-host.ts, a utility process).
 * Plain JSON-able objects, checked on arrival: each side trusts only the shapes listed here.
 *
 *   main → host   { type: 'open', meshFile, seed?, token }   start the mesh and its admin API (token-gated)
 *                 { type: 'close' }                          stop both, answer 'closed'
 *   host → main   { type: 'ready', url }                     the admin API listens at url
 *                 { type: 'error', error: { code, message } } 'open' failed (e.g. LM003 in the mesh file)
 *                 { type: 'closed' }
 *                 { type: 'log', line }                      engine log lines, for humans
 */
export type MainToHost = { type: 'open'; meshFile: string; seed?: number; token: string } | { type: 'close' };

export type HostToMain =
  | { type: 'ready'; url: string }
  | { type: 'error'; error: { code: string; message: string } }
  | { type: 'closed' }
  | { type: 'log'; line: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

export function parseMainToHost(v: unknown): MainToHost | undefined {
  if (!isObject(v)) return undefined;
  if (v.type === 'close') return { type: 'close' };
  if (v.type === 'open' && typeof v.meshFile === 'string' && v.meshFile !== '' && typeof v.token === 'string') {
    if (v.seed !== undefined && !(typeof v.seed === 'number' && Number.isInteger(v.seed))) return undefined;
    return v.seed === undefined
      ? { type: 'open', meshFile: v.meshFile, token: v.token }
      : { type: 'open', meshFile: v.meshFile, seed: v.seed, token: v.token };
  }
  return undefined;
}

export function parseHostToMain(v: unknown): HostToMain | undefined {
  if (!isObject(v)) return undefined;
  switch (v.type) {
    case 'ready':
      return typeof v.url === 'string' ? { type: 'ready', url: v.url } : undefined;
    case 'closed':
      return { type: 'closed' };
    case 'log':
      return typeof v.line === 'string' ? { type: 'log', line: v.line } : undefined;
    case 'error': {
      const e = v.error;
      return isObject(e) && typeof e.code === 'string' && typeof e.message === 'string'
        ? { type: 'error', error: { code: e.code, message: e.message } }
        : undefined;
    }
    default:
      return undefined;
  }
}
