/**
 * Layout of a trace waterfall (spans as bars, children under their parent) and of one flow's timing phases.
 * Pure; unit-tested. Positions are fractions (0..1) of the whole trace / request, the view scales them to its width.
 */
import type { FlowTimings, SpanView } from '../../../main/contract/api.js';

export interface WaterfallRow {
  span: SpanView;
  /** Nesting under the parent span (0 for a root). */
  depth: number;
  /** Start and width as fractions of the trace's duration. */
  left: number;
  width: number;
  /** The parent span is not in the trace (its sidecar did not report, or it is outside the mesh). */
  orphan: boolean;
}

export interface Waterfall {
  rows: WaterfallRow[];
  /** From the first span's start to the last span's end, ms. */
  totalMs: number;
}

/** A bar is at least this wide, so a 0.1 ms span stays visible and clickable. */
export const MIN_BAR = 0.004;

function order(a: SpanView, b: SpanView): number {
  if (a.offsetMs !== b.offsetMs) return a.offsetMs - b.offsetMs;
  // the client span of a hop opens before the server span it causes
  if (a.kind !== b.kind) return a.kind === 'client' ? -1 : 1;
  return a.flowId < b.flowId ? -1 : a.flowId > b.flowId ? 1 : 0;
}

/** Spans in depth-first order (each parent followed by its children, in start order), scaled to the trace. */
export function layoutWaterfall(spans: SpanView[]): Waterfall {
  const totalMs = Math.max(0, ...spans.map((s) => s.offsetMs + Math.max(0, s.durationMs)));
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, SpanView[]>();
  const roots: SpanView[] = [];
  for (const s of spans) {
    if (s.parentSpanId !== null && s.parentSpanId !== s.spanId && ids.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else {
      roots.push(s);
    }
  }
  const rows: WaterfallRow[] = [];
  const placed = new Set<SpanView>();
  const scale = totalMs > 0 ? totalMs : 1;
  const visit = (s: SpanView, depth: number): void => {
    if (placed.has(s)) return;
    placed.add(s);
    const left = Math.min(1, Math.max(0, s.offsetMs / scale));
    const width = Math.min(1 - left, Math.max(MIN_BAR, Math.max(0, s.durationMs) / scale));
    rows.push({
      span: s,
      depth,
      left,
      width: Math.max(0, width),
      orphan: s.parentSpanId !== null && !ids.has(s.parentSpanId)
    });
    // Spans can share a span id (a client and a server record of one hop); visit each child list once.
    const kids = children.get(s.spanId);
    if (kids && !placed.has(kids[0]!)) for (const k of [...kids].sort(order)) visit(k, depth + 1);
  };
  for (const r of [...roots].sort(order)) visit(r, 0);
  // Anything left (a parent cycle): list it at the top level rather than drop it.
  for (const s of [...spans].sort(order)) visit(s, 0);
  return { rows, totalMs };
}

export type PhaseName = 'request' | 'connect' | 'wait' | 'response';

export interface Phase {
  name: PhaseName;
  label: string;
  fromMs: number;
  toMs: number;
  /** Fractions of the request's duration. */
  left: number;
  width: number;
}

const MARKS: { key: keyof FlowTimings; name: PhaseName; label: string }[] = [
  { key: 'requestEnd', name: 'request', label: 'receive the request' },
  { key: 'upstreamConnected', name: 'connect', label: 'connect upstream' },
  { key: 'responseStart', name: 'wait', label: 'wait for the response' },
  { key: 'responseEnd', name: 'response', label: 'send the response' }
];

/**
 * The request's phases as consecutive segments: each runs from the previous mark to the moment its phase ended
 * (marks that never happened are skipped, marks out of order are clamped so segments never overlap).
 */
export function timingPhases(t: FlowTimings | undefined, durationMs: number): Phase[] {
  if (!t) return [];
  const total = Math.max(t.responseEnd, durationMs, 0);
  const marks = MARKS.map((m) => ({ ...m, at: t[m.key] }))
    .filter((m): m is typeof m & { at: number } => typeof m.at === 'number' && Number.isFinite(m.at))
    .sort((a, b) => a.at - b.at);
  const out: Phase[] = [];
  let from = 0;
  for (const m of marks) {
    const to = Math.min(Math.max(m.at, from), total);
    out.push({
      name: m.name,
      label: m.label,
      fromMs: from,
      toMs: to,
      left: total > 0 ? from / total : 0,
      width: total > 0 ? (to - from) / total : 0
    });
    from = to;
  }
  return out;
}

/** Axis ticks for a duration: about `count` round values (1, 2, 5 × 10^n ms) from 0. */
export function ticks(totalMs: number, count = 4): number[] {
  if (!(totalMs > 0)) return [0];
  const raw = totalMs / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= totalMs + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
