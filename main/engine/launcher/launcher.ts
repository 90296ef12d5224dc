/**
 * The launcher runs the developer's processes (the `run:` block of a workload), one per instance.
 *
 * State machine per process:
 *   starting → running → crashed → (backoff) → restarting → running …
 *   stop()/stopAll() → stopped;  command cannot be spawned at all → failed (LM103, no retry).
 * Every unrequested exit counts as a crash and is restarted with exponential backoff; the backoff
 * resets once a process has stayed up for `resetAfterMs`. Every state change emits a `process` event,
 * every output line a `log` event (and a docker-compose style line through `log`). The recent lines of each workload
 * are kept (log-buffer.ts) for `logs()`: the history a client joins to the live events by their `seq`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { LogLine, MeshEvent, ProcessState, ProcessView } from '../../contract/api.js';
import { ErrorCodes, MeshError } from '../../contract/errors.js';
import { createLogBuffer, type LogBufferOptions } from './log-buffer.js';
import { exitCodeOf, signalGroup, spawnsDetached } from './process-group.js';

export interface LaunchSpec {
  workload: string;
  /** The instance address, e.g. "127.0.0.1:19081". */
  instance: string;
  /** A shell command line. */
  command: string;
  /** Absolute working directory. */
  cwd: string;
  /** The complete extra environment, merged over process.env. */
  env: Record<string, string>;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A process that stayed up this long starts again from `initialMs` after its next crash. */
  resetAfterMs: number;
}

export interface LauncherOptions {
  onEvent: (e: MeshEvent) => void;
  log?: (line: string) => void;
  backoff?: Partial<BackoffOptions>;
  /** Time between SIGTERM and SIGKILL when stopping (default 3000 ms). */
  stopGraceMs?: number;
  /** How many lines are kept per workload, and how long a line may be (default LOG_LINES_KEPT, MAX_LOG_LINE_CHARS). */
  logBuffer?: LogBufferOptions;
}

export interface Launcher {
  /** Start processes that are not running yet; a running one whose spec changed is restarted with the new spec. */
  start(specs: LaunchSpec[]): void;
  /** Stop every process (SIGTERM, SIGKILL after the grace period) and clear all timers. */
  stopAll(): Promise<void>;
  /** Restart now, resetting the backoff. Rejects with LM202 when nothing matches. */
  restart(workload: string, instance?: string): Promise<void>;
  /** Stop without restart. Rejects with LM202 when nothing matches. */
  stop(workload: string, instance?: string): Promise<void>;
  list(): ProcessView[];
  /** The kept output lines of one workload, or of all, the newest `limit`, oldest first. */
  logs(workload: string | undefined, limit: number): LogLine[];
  /** Whether lines of the workload are kept (it ran, even if it is gone from the config since). */
  hasLogs(workload: string): boolean;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, resetAfterMs: 10_000 };
export const DEFAULT_STOP_GRACE_MS = 3000;

interface Proc {
  spec: LaunchSpec;
  view: ProcessView;
  /** Prefix for the aggregated log: the workload, plus "#n" when it has several instances. */
  label: string;
  child: ChildProcess | null;
  /** Resolves when `child` has exited (or failed to spawn). */
  exited: Promise<void> | null;
  /** Resolves when every holder of the child's stdout/stderr is gone (the whole group, in practice). */
  closed: Promise<void> | null;
  /** Whether the process should be running (false once stopped by the user). */
  wanted: boolean;
  restartTimer: NodeJS.Timeout | null;
  nextDelayMs: number;
  startedAt: number;
}

const keyOf = (workload: string, instance: string): string => `${workload}\u0000${instance}`;

const sameSpec = (a: LaunchSpec, b: LaunchSpec): boolean =>
  a.command === b.command && a.cwd === b.cwd && JSON.stringify(a.env) === JSON.stringify(b.env);

export function createLauncher(opts: LauncherOptions): Launcher {
  const backoff: BackoffOptions = { ...DEFAULT_BACKOFF, ...opts.backoff };
  const graceMs = opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  const procs = new Map<string, Proc>();
  const kept = createLogBuffer(opts.logBuffer);
  /** Children we are stopping on purpose: their exit is not a crash. */
  const halting = new WeakSet<ChildProcess>();
  let labelWidth = 0;
  let exitHook = false;

  const emit = (e: MeshEvent): void => {
    try {
      opts.onEvent(e);
    } catch {
      // A failing listener must not take the launcher (and the mesh) down.
    }
  };

  const setState = (p: Proc, state: ProcessState): void => {
    p.view.state = state;
    emit({ type: 'process', workload: p.spec.workload, process: { ...p.view } });
  };

  const emitLine = (p: Proc, stream: 'stdout' | 'stderr', line: string): void => {
    emit({ type: 'log', ...kept.add({ workload: p.spec.workload, instance: p.spec.instance, stream, line }) });
    opts.log?.(`${p.label.padEnd(labelWidth)} | ${line}`);
  };

  const relabel = (): void => {
    const byWorkload = new Map<string, Proc[]>();
    for (const p of procs.values()) byWorkload.set(p.spec.workload, [...(byWorkload.get(p.spec.workload) ?? []), p]);
    for (const [workload, list] of byWorkload) {
      list.forEach((p, i) => (p.label = list.length > 1 ? `${workload}#${i + 1}` : workload));
    }
    labelWidth = Math.max(0, ...[...procs.values()].map((p) => p.label.length));
  };

  // Kill the remaining process groups if the engine exits without stopAll (e.g. an uncaught error).
  // Process groups that may still hold processes: the shell may be gone while its app is still shutting down.
  const liveGroups = new Set<number>();
  const killAllNow = (): void => {
    for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
  };
  const setExitHook = (on: boolean): void => {
    if (on === exitHook) return;
    exitHook = on;
    if (on) process.on('exit', killAllNow);
    else process.off('exit', killAllNow);
  };

  const fail = (p: Proc, reason: string): void => {
    p.child = null;
    p.view.pid = null;
    p.wanted = false;
    emitLine(
      p,
      'stderr',
      `${ErrorCodes.PROCESS_START_FAILED} cannot start ${p.spec.workload} (${p.spec.instance}): ${reason}`
    );
    setState(p, 'failed');
  };

  const pipeLines = (p: Proc, input: Readable | null, stream: 'stdout' | 'stderr'): void => {
    if (!input) return;
    createInterface({ input, crlfDelay: Infinity }).on('line', (line) => emitLine(p, stream, line));
  };

  const scheduleRestart = (p: Proc): void => {
    if (performance.now() - p.startedAt >= backoff.resetAfterMs) p.nextDelayMs = backoff.initialMs;
    const delay = p.nextDelayMs;
    p.nextDelayMs = Math.min(delay * 2, backoff.maxMs);
    p.restartTimer = setTimeout(() => {
      p.restartTimer = null;
      if (!p.wanted || p.child) return;
      p.view.restarts++;
      setState(p, 'restarting');
      launch(p);
    }, delay);
  };

  const launch = (p: Proc): void => {
    const { spec } = p;
    const cwdProblem = checkCwd(spec.cwd);
    if (cwdProblem) return fail(p, cwdProblem);
    let child: ChildProcess;
    try {
      child = spawn(spec.command, {
        shell: true,
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        detached: spawnsDetached,
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true
      });
    } catch (err) {
      return fail(p, `could not run "${spec.command}": ${(err as Error).message}`);
    }
    setExitHook(true);
    p.child = child;
    p.startedAt = performance.now();
    let markExited!: () => void;
    let markClosed!: () => void;
    p.exited = new Promise<void>((resolve) => (markExited = resolve));
    p.closed = new Promise<void>((resolve) => (markClosed = resolve));
    child.once('close', () => markClosed());
    pipeLines(p, child.stdout, 'stdout');
    pipeLines(p, child.stderr, 'stderr');

    child.once('spawn', () => {
      if (spawnsDetached && child.pid !== undefined) liveGroups.add(child.pid);
      if (p.child !== child || halting.has(child)) return;
      p.view.pid = child.pid ?? null;
      setState(p, 'running');
    });
    child.on('error', (err) => {
      if (child.pid !== undefined) return; // only spawn failures matter; we never use child.kill()
      markExited();
      markClosed();
      if (p.child === child) fail(p, `could not run "${spec.command}": ${err.message}`);
    });
    child.once('exit', (code, signal) => {
      // Like a container whose main process ended: nothing else of the group may linger (ports!).
      // When we are stopping it, halt() gives the rest of the group its grace period instead.
      if (spawnsDetached && child.pid !== undefined && !halting.has(child)) {
        signalGroup(child.pid, 'SIGKILL');
        liveGroups.delete(child.pid);
      }
      markExited();
      if (p.child !== child) return;
      p.child = null;
      p.view.pid = null;
      p.view.lastExitCode = exitCodeOf(code, signal);
      if (halting.has(child) || !p.wanted) return; // stop()/restart() decide the next state
      setState(p, 'crashed');
      scheduleRestart(p);
    });
  };

  /**
   * Cancel a pending restart and stop the current child: SIGTERM to the group, then SIGKILL to whatever
   * is left once the group has closed its output or the grace period is over. The shell (`sh -c`) often
   * dies at once on SIGTERM while the app behind it is still shutting down, so the wait is on the group's
   * pipes, not on the shell's exit.
   */
  const halt = async (p: Proc): Promise<void> => {
    if (p.restartTimer) clearTimeout(p.restartTimer);
    p.restartTimer = null;
    const { child, exited, closed } = p;
    if (!child || !exited || !closed) return;
    halting.add(child);
    const pid = child.pid;
    if (pid === undefined) return exited; // spawn is failing; its 'error' resolves `exited`
    signalGroup(pid, 'SIGTERM');
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, graceMs)));
    await Promise.race([closed, graceOver]);
    clearTimeout(graceTimer);
    signalGroup(pid, 'SIGKILL');
    await exited;
    liveGroups.delete(pid);
  };

  const stopProc = async (p: Proc): Promise<void> => {
    p.wanted = false;
    await halt(p);
    if (!p.wanted && p.view.state !== 'stopped') setState(p, 'stopped');
  };

  const restartProc = async (p: Proc): Promise<void> => {
    p.wanted = true;
    await halt(p);
    if (!p.wanted || p.child) return; // stopped meanwhile, or a concurrent restart already won
    p.nextDelayMs = backoff.initialMs;
    p.view.restarts++;
    setState(p, 'restarting');
    launch(p);
  };

  const select = (workload: string, instance?: string): Proc[] => {
    const found = [...procs.values()].filter(
      (p) => p.spec.workload === workload && (instance === undefined || p.spec.instance === instance)
    );
    if (found.length === 0) {
      const what = instance === undefined ? `workload "${workload}"` : `instance ${instance} of workload "${workload}"`;
      throw new MeshError(ErrorCodes.NOT_FOUND, `no process is managed for ${what}`);
    }
    return found;
  };

  return {
    start(specs) {
      const toLaunch: Proc[] = [];
      const toRestart: Proc[] = [];
      for (const spec of specs) {
        const key = keyOf(spec.workload, spec.instance);
        const existing = procs.get(key);
        if (!existing) {
          const p: Proc = {
            spec,
            view: {
              instance: spec.instance,
              state: 'starting',
              pid: null,
              restarts: 0,
              lastExitCode: null,
              command: spec.command
            },
            label: spec.workload,
            child: null,
            exited: null,
            closed: null,
            wanted: true,
            restartTimer: null,
            nextDelayMs: backoff.initialMs,
            startedAt: 0
          };
          procs.set(key, p);
          toLaunch.push(p);
          continue;
        }
        const alive = existing.child !== null || existing.restartTimer !== null;
        const unchanged = sameSpec(existing.spec, spec);
        existing.spec = spec;
        existing.view.command = spec.command;
        if (!(alive && existing.wanted && unchanged)) toRestart.push(existing);
      }
      relabel();
      for (const p of toLaunch) {
        setState(p, 'starting');
        launch(p);
      }
      for (const p of toRestart) void restartProc(p);
    },

    async stopAll() {
      await Promise.all([...procs.values()].map(stopProc));
      setExitHook(false);
    },

    async restart(workload, instance) {
      await Promise.all(select(workload, instance).map(restartProc));
    },

    async stop(workload, instance) {
      await Promise.all(select(workload, instance).map(stopProc));
    },

    logs: (workload, limit) => kept.list(workload, limit),
    hasLogs: (workload) => kept.has(workload),

    list() {
      return [...procs.values()].map((p) => ({ ...p.view }));
    }
  };
}

/** A clear reason when `cwd` cannot be used (spawn's own error would blame /bin/sh). */
function checkCwd(cwd: string): string | null {
  try {
    return statSync(cwd).isDirectory() ? null : `working directory ${cwd} is not a directory`;
  } catch {
    return `working directory ${cwd} does not exist`;
  }
}
