/**
 * One MeshApi for the window that outlives engine restarts and project switches. The IPC handlers are registered
 * once, with `switchable.api`; behind it the engine comes and goes:
 *   - starting: calls wait until the engine is ready (or fails);
 *   - ready:    calls go to the engine's HTTP client; event listeners are subscribed to it;
 *   - down:     calls fail with the reason (LM104 "not running", or why the engine could not start).
 * When listeners move to an engine after another one (a restart, another project), what they built from the old
 * engine's events is stale, so each gets `{ type: 'resync', dropped: null }` (whatever types it asked for, as the
 * event stream does): the window reads everything afresh. Not on the first engine: nothing was built yet.
 * Methods are generated from MESH_API_METHODS, like every other transport. No `electron` import here.
 */
import { MESH_API_METHODS, type MeshApi, type MeshEvent, type MeshEventType } from '../contract/api.js';
import { ErrorCodes, MeshError } from '../contract/errors.js';

type State =
  | { kind: 'starting'; waiters: { resolve(api: MeshApi): void; reject(e: unknown): void }[] }
  | { kind: 'ready'; api: MeshApi; unsubscribes: Map<(e: MeshEvent) => void, () => void> }
  | { kind: 'down'; error: MeshError };

export interface SwitchableApi {
  /** The stable MeshApi the IPC handlers call. */
  readonly api: MeshApi;
  /** An engine is starting: hold calls until ready() or down(). */
  starting(): void;
  /** The engine is ready: release held calls, move event listeners to it. */
  ready(api: MeshApi): void;
  /** No engine: pending and future calls fail with `error` (default LM104). */
  down(error?: MeshError): void;
  readonly state: State['kind'];
}

type AnyMethod = (...args: unknown[]) => Promise<unknown>;

export function createSwitchableApi(): SwitchableApi {
  let state: State = { kind: 'down', error: notRunning() };
  /** An engine was ready before: listeners that move to the next one are told to resync. */
  let hadEngine = false;
  /** Each listener and the event types it asked for (undefined: all). */
  const listeners = new Map<(e: MeshEvent) => void, readonly MeshEventType[] | undefined>();

  function leave(): void {
    if (state.kind === 'ready') for (const unsubscribe of state.unsubscribes.values()) unsubscribe();
  }

  function current(): Promise<MeshApi> {
    switch (state.kind) {
      case 'ready':
        return Promise.resolve(state.api);
      case 'down':
        return Promise.reject(state.error);
      case 'starting': {
        const waiters = state.waiters;
        return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
      }
    }
  }

  const api: Record<string, unknown> = {
    onEvent(listener: (e: MeshEvent) => void, types?: readonly MeshEventType[]): () => void {
      const own = (e: MeshEvent): void => listener(e);
      listeners.set(own, types);
      if (state.kind === 'ready') state.unsubscribes.set(own, state.api.onEvent(own, types));
      return () => {
        listeners.delete(own);
        if (state.kind === 'ready') {
          state.unsubscribes.get(own)?.();
          state.unsubscribes.delete(own);
        }
      };
    }
  };
  for (const method of Object.keys(MESH_API_METHODS)) {
    api[method] = async (...args: unknown[]) => {
      const target = await current();
      return (target[method as keyof MeshApi] as unknown as AnyMethod).apply(target, args);
    };
  }

  return {
    api: api as unknown as MeshApi,
    get state() {
      return state.kind;
    },
    starting() {
      if (state.kind === 'starting') return;
      leave();
      state = { kind: 'starting', waiters: [] };
    },
    ready(next) {
      const waiters = state.kind === 'starting' ? state.waiters : [];
      leave();
      const unsubscribes = new Map<(e: MeshEvent) => void, () => void>();
      for (const [l, types] of listeners) unsubscribes.set(l, next.onEvent(l, types));
      state = { kind: 'ready', api: next, unsubscribes };
      if (hadEngine) resync(listeners.keys());
      hadEngine = true;
      for (const w of waiters) w.resolve(next);
    },
    down(error = notRunning()) {
      const waiters = state.kind === 'starting' ? state.waiters : [];
      leave();
      state = { kind: 'down', error };
      for (const w of waiters) w.reject(error);
    }
  };
}

/** Tell each listener to re-read; one that throws neither stops the others nor the switch. */
function resync(listeners: Iterable<(e: MeshEvent) => void>): void {
  for (const listener of [...listeners]) {
    try {
      listener({ type: 'resync', dropped: null });
    } catch {
      // the listener's own failure; the engine's emitter ignores it the same way
    }
  }
}

function notRunning(): MeshError {
  return new MeshError(ErrorCodes.NOT_RUNNING, 'the mesh engine is not running (open a project to start it)');
}
