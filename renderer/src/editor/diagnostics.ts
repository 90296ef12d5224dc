/** ValidationIssue (1-based line/column) → CodeMirror diagnostics on the right line. */
import type { Diagnostic } from '@codemirror/lint';
import type { Text } from '@codemirror/state';
import type { ValidationIssue } from '../../../main/contract/api.js';

export function issuesToDiagnostics(doc: Text, issues: ValidationIssue[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const i of issues) {
    if (doc.lines === 0) continue;
    const lineNo = Math.max(1, Math.min(doc.lines, i.where.line || 1));
    const line = doc.line(lineNo);
    const indent = /^\s*/.exec(line.text)![0].length;
    const col = Math.max(indent, Math.min(line.length, (i.where.column || 1) - 1));
    const from = line.from + (col >= line.length ? indent : col);
    const to = Math.max(from, line.to);
    out.push({
      from,
      to,
      severity: i.severity,
      source: i.code,
      message: `${i.code}: ${i.message}${i.path ? ` (${i.path})` : ''}`
    });
  }
  return out;
}

/** Does an issue belong to the file open in the editor? (paths may be absolute or relative) */
export function issueInFile(issue: ValidationIssue, path: string, relative: string): boolean {
  const f = issue.where.file;
  return f === path || f === relative || path.endsWith(`/${f}`) || f.endsWith(`/${relative}`);
}
