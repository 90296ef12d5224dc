/** A unified line diff of an EditPlan (before → after), with unchanged stretches folded. */
import { useMemo } from 'react';
import { diffLines, diffStats, withContext, type DiffLine } from '../lib/line-diff.js';

export function DiffView({
  before,
  after,
  path,
  testId
}: {
  before: string;
  after: string;
  path: string;
  testId?: string;
}) {
  const lines = useMemo(() => diffLines(before, after), [before, after]);
  const chunks = useMemo(() => withContext(lines, 3), [lines]);
  const { added, removed } = diffStats(lines);
  return (
    <div className="diff" data-testid={testId}>
      <div className="diff-head">
        <code>{path}</code>
        {before === '' && <span className="badge badge-ok">new file</span>}
        <span className="diff-stats">
          <span className="txt-ok">+{added}</span> <span className="txt-err">−{removed}</span>
        </span>
      </div>
      {added === 0 && removed === 0 ? (
        <p className="diff-none">No change: the file already says this.</p>
      ) : (
        <DiffRows chunks={chunks} label={`Changes to ${path}`} added="added" removed="removed" />
      )}
    </div>
  );
}

/** The rows of a folded line diff (shared by the quick-action diff and the body compare). */
export function DiffRows({
  chunks,
  label,
  added,
  removed
}: {
  chunks: ReturnType<typeof withContext>;
  label: string;
  /** How a screen reader names an added / removed line. */
  added: string;
  removed: string;
}) {
  return (
    <div className="diff-body" role="table" aria-label={label}>
      {chunks.map((c, i) =>
        c.type === 'skip' ? (
          <div key={i} className="diff-skip" role="row">
            <span role="cell">
              ⋯ {c.count} unchanged line{c.count === 1 ? '' : 's'}
            </span>
          </div>
        ) : (
          c.lines.map((l: DiffLine, k: number) => (
            <div key={`${i}-${k}`} className={`diff-line diff-${l.op}`} role="row" data-op={l.op}>
              <span className="diff-no" role="cell">
                {l.oldNo ?? ''}
              </span>
              <span className="diff-no" role="cell">
                {l.newNo ?? ''}
              </span>
              <span
                className="diff-sign"
                role="cell"
                aria-label={l.op === 'add' ? added : l.op === 'del' ? removed : undefined}
              >
                {l.op === 'add' ? '+' : l.op === 'del' ? '−' : ' '}
              </span>
              <span className="diff-text" role="cell">
                {l.text || ' '}
              </span>
            </div>
          ))
        )
      )}
    </div>
  );
}
