/** Services slice: workloads, their processes (state + restart/stop) and the live log tail per workload. */
import type { MeshEvent, ProcessView, WorkloadView } from '../../../main/contract/api.js';
import { toErrorInfo, type ErrorInfo } from '../lib/errors.js';
import type { LoadStatus, SliceCreator } from './types.js';

/** Log lines kept per workload. */
export const MAX_LOG_LINES = 500;

export type LogEvent = Extract<MeshEvent, { type: 'log' }>;

export interface LogLine {
  seq: number;
  instance: string;
  stream: 'stdout' | 'stderr';
  line: string;
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
  /** Restart/stop in flight or failed, by workload name. */
  processOps: Record<string, ProcessOp>;
  loadWorkloads(opts?: { quiet?: boolean }): Promise<boolean>;
  restartProcess(workload: string, instance?: string): Promise<void>;
  stopProcess(workload: string, instance?: string): Promise<void>;
  applyProcess(workload: string, process: ProcessView): void;
  appendLogs(events: LogEvent[]): void;
}

let logSeq = 0;

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
          lines.push({ seq: ++logSeq, instance: e.instance, stream: e.stream, line: e.line });
          logs[e.workload] = lines;
        }
        for (const name of new Set(events.map((e) => e.workload))) {
          const lines = logs[name]!;
          if (lines.length > MAX_LOG_LINES) logs[name] = lines.slice(lines.length - MAX_LOG_LINES);
        }
        return { logs };
      });
    }
  };
};
