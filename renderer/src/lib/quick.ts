/**
 * The quick-action dialog's form (strings, as typed) and its translation into a contract QuickAction.
 * Pure: the store and the tests use it; the engine validates the action again with the zod schema.
 */
import type { QuickAction, ResourceView, WorkloadView } from '../../../main/contract/api.js';
import { currentTimeouts, currentWeights, evenWeights, subsetsFor } from './istio.js';

export type QuickKind = 'fault' | 'shift' | 'timeout' | 'clear-fault' | 'mtls-strict';
export type MtlsScope = 'workload' | 'namespace';

export interface QuickDraft {
  kind: QuickKind;
  /** Service short name. */
  service: string;
  /** Namespace of the service (for `name.namespace` when the mesh has several). */
  namespace: string;
  delayMs: string;
  abortStatus: string;
  percentage: string;
  headerName: string;
  headerValue: string;
  /** fault: only calls from this workload ('' = every caller). */
  from: string;
  /** Subset → weight (0–100). */
  weights: Record<string, number>;
  timeoutMs: string;
  retries: string;
  /** mtls-strict: the workload the PeerAuthentication selects (or whose namespace it covers). */
  workload: string;
  scope: MtlsScope;
}

export interface ServiceRef {
  name: string;
  namespace: string;
}

/** Services of the mesh in first-seen order (one entry per name + namespace). */
export function servicesOf(workloads: WorkloadView[]): ServiceRef[] {
  const out: ServiceRef[] = [];
  for (const w of workloads) {
    if (!out.some((s) => s.name === w.service && s.namespace === w.namespace)) {
      out.push({ name: w.service, namespace: w.namespace });
    }
  }
  return out;
}

export function draftFor(kind: QuickKind, service: ServiceRef, resources: ResourceView[]): QuickDraft {
  const subsets = subsetsFor(resources, service.name, service.namespace);
  const t = currentTimeouts(resources, service.name, service.namespace);
  return {
    kind,
    service: service.name,
    namespace: service.namespace,
    delayMs: '',
    abortStatus: '503',
    percentage: '100',
    headerName: '',
    headerValue: '',
    from: '',
    weights: currentWeights(resources, service.name, service.namespace, subsets) ?? evenWeights(subsets),
    timeoutMs: t.timeoutMs === null ? '' : String(t.timeoutMs),
    retries: t.attempts === null ? '' : String(t.attempts),
    workload: '',
    scope: 'workload'
  };
}

/** The workload a "Require mTLS" form starts with: the service's first workload with a sidecar. */
export function strictTargetFor(workloads: WorkloadView[], service: string): string {
  const withSidecar = workloads.filter((w) => w.sidecar);
  return (withSidecar.find((w) => w.service === service) ?? withSidecar[0])?.name ?? '';
}

const INT_RE = /^\d+$/;

function intField(value: string, label: string, min: number, max: number): number | undefined | string {
  const v = value.trim();
  if (v === '') return undefined;
  if (!INT_RE.test(v)) return `${label} must be a whole number.`;
  const n = Number(v);
  if (n < min || n > max) return `${label} must be between ${min} and ${max}.`;
  return n;
}

/**
 * The action the form describes, or a message saying what to fix. `multiNamespace`: qualify the service as
 * `name.namespace` (the short name means the mesh's own namespace).
 */
export function buildQuickAction(d: QuickDraft, multiNamespace = false): QuickAction | { error: string } {
  if (d.kind === 'mtls-strict') {
    if (d.workload === '') return { error: 'Pick a workload with a sidecar.' };
    return { type: 'mtls-strict', scope: d.scope, workload: d.workload };
  }
  const service = multiNamespace ? `${d.service}.${d.namespace}` : d.service;
  if (d.service === '') return { error: 'Pick a service.' };
  switch (d.kind) {
    case 'clear-fault':
      return { type: 'clear-fault', service };
    case 'fault': {
      const delayMs = intField(d.delayMs, 'Delay', 1, 3_600_000);
      if (typeof delayMs === 'string') return { error: delayMs };
      const abortStatus = intField(d.abortStatus, 'Abort status', 200, 599);
      if (typeof abortStatus === 'string') return { error: abortStatus };
      if (delayMs === undefined && abortStatus === undefined) {
        return { error: 'Set a delay, an abort status, or both.' };
      }
      const pctText = d.percentage.trim();
      const percentage = pctText === '' ? 100 : Number(pctText);
      if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) {
        return { error: 'Percentage must be between 0 and 100.' };
      }
      const action: QuickAction = { type: 'fault', service, percentage };
      if (delayMs !== undefined) action.delayMs = delayMs;
      if (abortStatus !== undefined) action.abortStatus = abortStatus;
      if (d.headerName.trim() !== '') action.header = { name: d.headerName.trim(), value: d.headerValue };
      else if (d.headerValue.trim() !== '') return { error: 'Give the header a name, or clear its value.' };
      if (d.from !== '') action.from = d.from;
      return action;
    }
    case 'shift': {
      const entries = Object.entries(d.weights);
      if (entries.length === 0) {
        return { error: `No subsets for ${d.service}: add a DestinationRule with subsets first.` };
      }
      if (!entries.some(([, w]) => w > 0)) return { error: 'At least one weight must be above 0.' };
      return { type: 'shift', service, weights: Object.fromEntries(entries.map(([k, w]) => [k, Math.round(w)])) };
    }
    case 'timeout': {
      const timeoutMs = intField(d.timeoutMs, 'Timeout', 0, 86_400_000);
      if (typeof timeoutMs === 'string') return { error: timeoutMs };
      const attempts = intField(d.retries, 'Retries', 0, 20);
      if (typeof attempts === 'string') return { error: attempts };
      if (timeoutMs === undefined && attempts === undefined) return { error: 'Set a timeout, retries, or both.' };
      const action: QuickAction = { type: 'timeout', service };
      if (timeoutMs !== undefined) action.timeoutMs = timeoutMs;
      if (attempts !== undefined) action.retries = { attempts };
      return action;
    }
  }
}

/** Weights as shares of 100 (what the sliders show next to each subset). */
export function weightShares(weights: Record<string, number>): Record<string, number> {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  return Object.fromEntries(
    Object.entries(weights).map(([k, w]) => [k, total === 0 ? 0 : Math.round((w / total) * 100)])
  );
}
