/**
 * Comparisons: two flows (A and B: the fields that differ, header changes, body line diffs) and two capture
 * sessions (calls added, missing and changed between them). Both are modal dialogs over the Traffic view.
 */
import { useMemo, type ReactNode } from 'react';
import type { BodyDiff, CallStats, FieldChange, FlowRecord, SessionView } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { formatClock, formatDuration, shortService, statusClass } from '../lib/format.js';
import { withContext, type DiffLine } from '../lib/line-diff.js';
import { sessionTitle } from '../lib/sessions.js';
import { ErrorText, Loading } from './ui.js';
import { DiffRows } from './DiffView.js';
import { Modal } from './Modal.js';

/* ---------- flows ---------- */

export function FlowCompareDialog() {
  const compare = useMesh((s) => s.compare);
  const close = useMesh((s) => s.closeCompare);
  const compareFlows = useMesh((s) => s.compareFlows);
  const openDetail = useMesh((s) => s.openDetail);
  const [a, b] = compare.ids;
  const r = compare.result;
  const open = (id: string): void => {
    close();
    void openDetail(id);
  };
  return (
    <Modal
      testId="compare-dialog"
      className="compare-dialog"
      titleId="compare-title"
      title="Compare requests"
      intro={
        <>
          What differs between request <strong>A</strong> and request <strong>B</strong>.
        </>
      }
      onCancel={close}
      footer={
        <>
          <span className="dialog-foot-note txt-muted">
            Mark requests with <kbd>M</kbd> (or Ctrl+click) in the list, or from a request’s detail.
          </span>
          {a !== undefined && b !== undefined && (
            <button
              type="button"
              className="btn"
              data-testid="compare-swap"
              onClick={() => void compareFlows(b, a)}
              disabled={compare.status === 'loading'}
            >
              Swap A and B
            </button>
          )}
          <button type="button" className="btn btn-primary" data-testid="compare-close" onClick={close}>
            Close
          </button>
        </>
      }
    >
      {compare.status === 'loading' && <Loading label="Comparing…" />}
      {compare.status === 'error' && <ErrorText error={compare.error} testId="compare-error" />}
      {r && (
        <>
          <div className="cmp-sides">
            <FlowCard side="A" flow={r.a} onOpen={() => open(r.a.id)} />
            <FlowCard side="B" flow={r.b} onOpen={() => open(r.b.id)} />
          </div>
          <CmpSection title="Request" testId="compare-changes" count={r.changes.length}>
            <ChangeTable changes={r.changes} first="Field" none="Same method, path, status, route and timing class." />
          </CmpSection>
          <CmpSection title="Request headers" testId="compare-request-headers" count={r.requestHeaders.length}>
            <ChangeTable changes={r.requestHeaders} first="Header" none="The same request headers." mono />
          </CmpSection>
          <CmpSection title="Response headers" testId="compare-response-headers" count={r.responseHeaders.length}>
            <ChangeTable changes={r.responseHeaders} first="Header" none="The same response headers." mono />
          </CmpSection>
          <CmpSection title="Request body" testId="compare-request-body" count={r.requestBody.same ? 0 : null}>
            <BodyDiffView diff={r.requestBody} />
          </CmpSection>
          <CmpSection title="Response body" testId="compare-response-body" count={r.responseBody.same ? 0 : null}>
            <BodyDiffView diff={r.responseBody} />
          </CmpSection>
        </>
      )}
    </Modal>
  );
}

function FlowCard({ side, flow: f, onOpen }: { side: 'A' | 'B'; flow: FlowRecord; onOpen: () => void }) {
  const cls = statusClass(f.status);
  return (
    <div className={`cmp-card cmp-${side.toLowerCase()}`} data-testid={`compare-side-${side.toLowerCase()}`}>
      <div className="cmp-card-head">
        <span className="cmp-side">{side}</span>
        <span className={`status-pill st-${cls}`}>{f.status === 0 ? 'no response' : f.status}</span>
        <code className="req-line">
          <strong>{f.method}</strong> {f.path}
        </code>
      </div>
      <div className="txt-muted small">
        {f.source ?? 'unknown'} → {f.destination ?? shortService(f.destinationService) ?? f.authority} ·{' '}
        {formatDuration(f.durationMs)} · {formatClock(f.startedAt)} · {f.reporter}
      </div>
      <button type="button" className="btn btn-small btn-ghost" onClick={onOpen}>
        Open {side}
      </button>
    </div>
  );
}

function CmpSection({
  title,
  testId,
  count,
  children
}: {
  title: string;
  testId: string;
  /** Number of differences; 0 = none, null = some (a body). */
  count: number | null;
  children: ReactNode;
}) {
  return (
    <section className="cmp-section" data-testid={testId} data-changes={count ?? 'some'}>
      <h3>
        {title}{' '}
        <span className={`badge ${count === 0 ? '' : 'badge-warn'}`}>
          {count === 0 ? 'same' : count === null ? 'differs' : `${count} change${count === 1 ? '' : 's'}`}
        </span>
      </h3>
      {children}
    </section>
  );
}

function ChangeTable({
  changes,
  first,
  none,
  mono
}: {
  changes: FieldChange[];
  first: string;
  none: string;
  mono?: boolean;
}) {
  if (changes.length === 0) return <p className="txt-muted small">{none}</p>;
  return (
    <table className={`cmp-table fields ${mono ? 'mono' : ''}`}>
      <thead>
        <tr>
          <th scope="col">{first}</th>
          <th scope="col">A</th>
          <th scope="col">B</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr key={c.field} data-testid="compare-change" data-field={c.field}>
            <th scope="row">{c.field}</th>
            <td className={c.a === null ? 'cmp-absent' : 'cmp-old'}>{c.a ?? 'absent'}</td>
            <td className={c.b === null ? 'cmp-absent' : 'cmp-new'}>{c.b ?? 'absent'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The server's line diff ('=', '-', '+') with unchanged stretches folded, drawn like DiffView. */
export function BodyDiffView({ diff }: { diff: BodyDiff }) {
  const chunks = useMemo(() => {
    let oldNo = 0;
    let newNo = 0;
    const lines: DiffLine[] = diff.lines.map((l) => {
      if (l.op === '=') return { op: 'eq', text: l.text, oldNo: ++oldNo, newNo: ++newNo };
      if (l.op === '-') return { op: 'del', text: l.text, oldNo: ++oldNo, newNo: null };
      return { op: 'add', text: l.text, oldNo: null, newNo: ++newNo };
    });
    return withContext(lines, 3);
  }, [diff]);
  if (diff.same) return <p className="txt-muted small">The same body{diff.lines.length === 0 ? ' (none)' : ''}.</p>;
  if (diff.lines.length === 0) return <p className="txt-muted small">The bodies differ (binary: no line diff).</p>;
  return (
    <div className="diff cmp-diff">
      <DiffRows chunks={chunks} label="Body changes from A to B" added="only in B" removed="only in A" />
    </div>
  );
}

/* ---------- sessions ---------- */

function statuses(c: CallStats): string {
  return Object.entries(c.statuses)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([code, n]) => `${code === '0' ? 'no response' : code}×${n}`)
    .join(' ');
}

function delta(ms: number): string {
  if (Math.abs(ms) < 0.05) return '±0';
  return `${ms > 0 ? '+' : '−'}${formatDuration(Math.abs(ms))}`;
}

export function SessionCompareDialog() {
  const sc = useMesh((s) => s.sessionCompare);
  const close = useMesh((s) => s.closeSessionCompare);
  const r = sc.result;
  return (
    <Modal
      testId="session-compare-dialog"
      className="compare-dialog"
      titleId="session-compare-title"
      title="Compare sessions"
      intro="Calls grouped by caller → service, method and path (without query)."
      onCancel={close}
      footer={
        <>
          <span className="dialog-foot-note" />
          <button type="button" className="btn btn-primary" data-testid="session-compare-close" onClick={close}>
            Close
          </button>
        </>
      }
    >
      {sc.status === 'loading' && <Loading label="Comparing…" />}
      {sc.status === 'error' && <ErrorText error={sc.error} testId="session-compare-error" />}
      {r && (
        <>
          <div className="cmp-sides">
            <SessionCard side="A" session={r.a} />
            <SessionCard side="B" session={r.b} />
          </div>
          <p className="small" data-testid="session-compare-summary">
            <strong>{r.added.length}</strong> added · <strong>{r.missing.length}</strong> missing ·{' '}
            <strong>{r.changed.length}</strong> changed · {r.unchanged} unchanged
          </p>
          <CallsSection title="Added in B" testId="session-compare-added" calls={r.added} none="No new calls." />
          <CallsSection
            title="Missing in B"
            testId="session-compare-missing"
            calls={r.missing}
            none="Every call of A is in B."
          />
          <section className="cmp-section" data-testid="session-compare-changed" data-changes={r.changed.length}>
            <h3>
              Changed <span className={`badge ${r.changed.length ? 'badge-warn' : ''}`}>{r.changed.length}</span>
            </h3>
            {r.changed.length === 0 ? (
              <p className="txt-muted small">No call changed its statuses or latency.</p>
            ) : (
              <table className="cmp-table">
                <thead>
                  <tr>
                    <th scope="col">Call</th>
                    <th scope="col">A</th>
                    <th scope="col">B</th>
                    <th scope="col" className="num">
                      p50 Δ
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {r.changed.map((c) => (
                    <tr key={c.key} data-testid="session-compare-row">
                      <th scope="row" className="mono">
                        {c.key}
                      </th>
                      <td className={c.statusChanged ? 'cmp-old' : ''}>
                        {statuses(c.a)} · p50 {formatDuration(c.a.p50Ms)}
                      </td>
                      <td className={c.statusChanged ? 'cmp-new' : ''}>
                        {statuses(c.b)} · p50 {formatDuration(c.b.p50Ms)}
                      </td>
                      <td className={`num ${c.p50DeltaMs > 0 ? 'txt-warn' : 'txt-ok'}`}>{delta(c.p50DeltaMs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
    </Modal>
  );
}

function SessionCard({ side, session }: { side: 'A' | 'B'; session: SessionView }) {
  return (
    <div className={`cmp-card cmp-${side.toLowerCase()}`}>
      <div className="cmp-card-head">
        <span className="cmp-side">{side}</span>
        <strong>{sessionTitle(session)}</strong>
      </div>
      <div className="txt-muted small">
        #{session.id} · {session.kind} · {session.flows.toLocaleString()} request{session.flows === 1 ? '' : 's'}
      </div>
    </div>
  );
}

function CallsSection({
  title,
  testId,
  calls,
  none
}: {
  title: string;
  testId: string;
  calls: CallStats[];
  none: string;
}) {
  return (
    <section className="cmp-section" data-testid={testId} data-changes={calls.length}>
      <h3>
        {title} <span className={`badge ${calls.length ? 'badge-warn' : ''}`}>{calls.length}</span>
      </h3>
      {calls.length === 0 ? (
        <p className="txt-muted small">{none}</p>
      ) : (
        <table className="cmp-table">
          <thead>
            <tr>
              <th scope="col">Caller → service</th>
              <th scope="col">Request</th>
              <th scope="col" className="num">
                Count
              </th>
              <th scope="col">Statuses</th>
              <th scope="col" className="num">
                p50 / p99
              </th>
            </tr>
          </thead>
          <tbody>
            {calls.map((c) => (
              <tr key={c.key} data-testid="session-compare-row">
                <td>
                  {c.caller} → {c.service}
                </td>
                <td className="mono">
                  {c.method} {c.path}
                </td>
                <td className="num">{c.count}</td>
                <td>{statuses(c)}</td>
                <td className="num">
                  {formatDuration(c.p50Ms)} / {formatDuration(c.p99Ms)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
