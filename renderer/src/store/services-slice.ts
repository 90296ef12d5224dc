/**
 * Services slice: workloads, their processes (state + restart/stop) and the log of each workload: the history the
 * engine kept (loaded when a Logs panel opens, again when the connection comes back) joined by `seq` to the live lines.
 */
import {
  LOG_LINES_KEPT,
  type LogLine,
  type MeshEvent,
  type ProcessView,
  type WorkloadView
} from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import type { LoadStatus, SliceCreator } from './types.js';

export type { LogLine };

/** Log lines kept per workload: as many as the engine keeps. */
export const MAX_LOG_LINES = LOG_LINES_KEPT;

export type LogEvent = Extract<MeshEvent, { type: 'log' }>;

/** Loading the engine's history of a workload's log. */
export interface LogHistory {
  status: LoadStatus;
  error: ErrorInfo | null;
}

export interface ProcessOp {
  pending: 'restart' | 'stop' | null;
  error: ErrorInfo | null;
}

export interface ServicesSlice {
  workloads: WorkloadView[];
  workloadsStatus: LoadStatus;
  workloadsError: ErrorInfo | null;
  logs: Record<string, LogLine[]>;
  /** The history load of each workload whose log was opened. */
  logHistory: Record<string, LogHistory>;
  /** Restart/stop in flight or failed, by workload name. */
  processOps: Record<string, ProcessOp>;
  loadWorkloads(opts?: { quiet?: boolean }): Promise<boolean>;
  restartProcess(workload: string, instance?: string): Promise<void>;
  stopProcess(workload: string, instance?: string): Promise<void>;
  applyProcess(workload: string, process: ProcessView): void;
  appendLogs(events: LogEvent[]): void;
  /** Load the lines the engine kept for the workload; they replace what the store held, live lines are kept after. */
  loadLogs(workload: string): Promise<void>;
  /** Load the history again of every workload whose log was opened (after the connection came back). */
  reloadLogs(): Promise<void>;
}

const toLine = (e: LogEvent): LogLine => ({
  workload: e.workload,
  instance: e.instance,
  stream: e.stream,
  line: e.line,
  at: e.at,
  seq: e.seq
});

export const createServicesSlice: SliceCreator<ServicesSlice> = (deps) => (set, get) => {
  async function processAction(kind: 'restart' | 'stop', workload: string, instance?: string): Promise<void> {
    set((s) => ({ processOps: { ...s.processOps, [workload]: { pending: kind, error: null } } }));
    try {
      if (kind === 'restart') await deps.api.restartProcess(workload, instance);
      else await deps.api.stopProcess(workload, instance);
      set((s) => ({ processOps: { ...s.processOps, [workload]: { pending: null, error: null } } }));
      // Process events normally carry the new state; a quiet refresh covers a missed event.
      void get().loadWorkloads({ quiet: true });
    } catch (err) {
      set((s) => ({ processOps: { ...s.processOps, [workload]: { pending: null, error: toErrorInfo(err) } } }));
    }
  }

  return {
    workloads: [],
    workloadsStatus: 'idle',
    workloadsError: null,
    logs: {},
    logHistory: {},
    processOps: {},

    async loadWorkloads(opts) {
      if (!opts?.quiet) set({ workloadsStatus: 'loading' });
      try {
        const workloads = await deps.api.listWorkloads();
        set({ workloads, workloadsStatus: 'ready', workloadsError: null });
        return true;
      } catch (err) {
        if (opts?.quiet && get().workloadsStatus === 'ready') return false;
        set({ workloadsStatus: 'error', workloadsError: toErrorInfo(err) });
        return false;
      }
    },

    restartProcess: (workload, instance) => processAction('restart', workload, instance),
    stopProcess: (workload, instance) => processAction('stop', workload, instance),

    applyProcess(workload, process) {
      set((s) => ({
        workloads: s.workloads.map((w) => {
          if (w.name !== workload) return w;
          const i = w.processes.findIndex((p) => p.instance === process.instance);
          const processes = i < 0 ? [...w.processes, process] : w.processes.map((p, k) => (k === i ? process : p));
          return { ...w, processes };
        })
      }));
    },

    appendLogs(events) {
      if (events.length === 0) return;
      set((s) => {
        const logs = { ...s.logs };
        for (const e of events) {
          const lines = logs[e.workload] === s.logs[e.workload] ? [...(logs[e.workload] ?? [])] : logs[e.workload]!;
          const last = lines.at(-1)?.seq ?? 0;
          if (e.seq <= last) {
            // a line the history already brought; a seq not held at all means the engine started afresh
            if (lines.some((l) => l.seq === e.seq)) continue;
            lines.length = 0;
          }
          lines.push(toLine(e));
          logs[e.workload] = lines;
        }
        for (const name of new Set(events.map((e) => e.workload))) {
          const lines = logs[name]!;
          if (lines.length > MAX_LOG_LINES) logs[name] = lines.slice(lines.length - MAX_LOG_LINES);
        }
        return { logs };
      });
    },

    async loadLogs(workload) {
      const before = new Set(get().logs[workload] ?? []);
      set((s) => ({
        logHistory: {
          ...s.logHistory,
          [workload]: { status: 'loading', error: s.logHistory[workload]?.error ?? null }
        }
      }));
      try {
        const history = await deps.api.listLogs({ workload, limit: MAX_LOG_LINES });
        set((s) => {
          // the history replaces what was held; lines that came live while it loaded follow it unless it has them
          const newest = history.at(-1)?.seq ?? 0;
          const arrived = (s.logs[workload] ?? []).filter((l) => !before.has(l) && l.seq > newest);
          const lines = [...history, ...arrived];
          return {
            logs: { ...s.logs, [workload]: lines.slice(Math.max(0, lines.length - MAX_LOG_LINES)) },
            logHistory: { ...s.logHistory, [workload]: { status: 'ready', error: null } }
          };
        });
      } catch (err) {
        set((s) => ({ logHistory: { ...s.logHistory, [workload]: { status: 'error', error: toErrorInfo(err) } } }));
      }
    },

    async reloadLogs() {
      await Promise.all(Object.keys(get().logHistory).map((w) => get().loadLogs(w)));
    }
  };
};
