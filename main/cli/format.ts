/** Plain-text output for the terminal: tables and issue lines. */
import path from 'node:path';
import type { ValidationIssue, WorkloadView } from '../contract/api.js';
import { issueLine } from '../contract/api.js';

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function workloadTable(ws: WorkloadView[]): string {
  const rows = [['WORKLOAD', 'SERVICE', 'OUTBOUND (HTTP_PROXY)', 'INBOUND SIDECAR → APP', 'UPSTREAM PORTS']];
  for (const w of ws) {
    const inbound = w.instances
      .map((i) => (i.inbound ? `${i.inbound.host}:${i.inbound.port} → ${i.address}` : `${i.address} (no sidecar)`))
      .join(', ');
    const ups = Object.entries(w.upstreams)
      .map(([s, e]) => `${s}=${e.port}`)
      .join(' ');
    rows.push([
      w.name,
      `${w.service}.${w.namespace}`,
      w.outbound ? `${w.outbound.host}:${w.outbound.port}` : '-',
      inbound,
      ups || '-'
    ]);
  }
  return table(rows);
}

export function formatIssue(i: ValidationIssue, cwd = process.cwd()): string {
  return issueLine(i, path.relative(cwd, i.where.file) || i.where.file);
}

export function summary(issues: ValidationIssue[]): string {
  const n = (s: string) => issues.filter((i) => i.severity === s).length;
  return `${n('error')} error(s), ${n('warning')} warning(s), ${n('info')} note(s)`;
}
