/**
 * A trace as a waterfall: every hop's span as a bar on one time axis (offset and duration scaled to the width),
 * indented under its parent span. Client spans (the caller's outbound sidecar) are outlined, server spans (the
 * server's inbound sidecar) filled; failures are red. Each row opens its flow (click, or Enter; ↑/↓ move).
 */
import { useEffect, useMemo, useRef, type KeyboardEvent } from 'react';
import { useMesh } from '../hooks.js';
import { flagList, formatDuration, shortService, statusClass } from '../lib/format.js';
import { layoutWaterfall, ticks } from '../lib/waterfall.js';
import { Empty, ErrorText, Loading } from './ui.js';
import { CaptureIcons } from './capture-icons.js';

/** The service of an Istio operation name ("reviews.default.svc.cluster.local:9080/*"). */
function spanService(name: string): string {
  const host = name.replace(/\/\*$/, '').replace(/:\d+$/, '');
  return shortService(host) ?? host;
}

/** "0", "50 ms", "1.5 s": axis labels without the detail of formatDuration. */
function tickLabel(ms: number): string {
  if (ms === 0) return '0';
  return ms < 1000 ? `${Number(ms.toPrecision(3))} ms` : `${Number((ms / 1000).toPrecision(3))} s`;
}

export function TraceWaterfall({ traceId, currentFlowId }: { traceId: string; currentFlowId: string }) {
  const trace = useMesh((s) => (s.trace?.traceId === traceId ? s.trace : null));
  const loadTrace = useMesh((s) => s.loadTrace);
  const openDetail = useMesh((s) => s.openDetail);
  const rowsRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    void loadTrace(traceId);
  }, [traceId, loadTrace]);

  const layout = useMemo(() => (trace?.view ? layoutWaterfall(trace.view.spans) : null), [trace?.view]);
  // Few ticks: the waterfall lives in the narrow detail pane.
  const axis = useMemo(() => (layout ? ticks(layout.totalMs, 2) : []), [layout]);

  if (!trace || trace.status === 'loading' || trace.status === 'idle') {
    return <Loading label="Loading the trace…" />;
  }
  if (trace.status === 'error') {
    return (
      <div className="wf-state" data-testid="trace-error">
        <ErrorText error={trace.error} />
        <button type="button" className="btn btn-small" onClick={() => void loadTrace(traceId, { force: true })}>
          Retry
        </button>
      </div>
    );
  }
  if (!layout || layout.rows.length === 0) {
    return (
      <Empty title="No spans in this trace" testId="trace-empty" icon={CaptureIcons.waterfall()}>
        <p>The sidecars recorded no hop for this trace id (its flows may have been cleared).</p>
      </Empty>
    );
  }

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...(rowsRef.current?.querySelectorAll<HTMLButtonElement>('button.wf-row') ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };

  const total = layout.totalMs;
  return (
    <div className="waterfall" data-testid="trace-waterfall" data-spans={layout.rows.length}>
      <div className="wf-head">
        <span>
          Trace <code title={traceId}>{traceId.slice(0, 16)}…</code>
        </span>
        <span className="txt-muted">
          {layout.rows.length} span{layout.rows.length === 1 ? '' : 's'} · {formatDuration(total)}
        </span>
      </div>
      <div className="wf-legend txt-muted small">
        <span>
          <span className="wf-key wf-key-client" aria-hidden="true" /> C: client span (caller’s sidecar)
        </span>
        <span>
          <span className="wf-key wf-key-server" aria-hidden="true" /> S: server span (server’s sidecar)
        </span>
        <span>
          <span className="wf-key wf-key-err" aria-hidden="true" /> failed
        </span>
      </div>
      <div className="wf-axis" aria-hidden="true">
        <span className="wf-label-col" />
        <span className="wf-track">
          {axis.map((t) => (
            <span
              key={t}
              className={`wf-tick ${t === 0 ? 'first' : ''}`}
              style={{ left: `${total > 0 ? (t / total) * 100 : 0}%` }}
            >
              {tickLabel(t)}
            </span>
          ))}
        </span>
        <span />
      </div>
      <div
        className="wf-rows"
        ref={rowsRef}
        role="list"
        aria-label="Spans of the trace (↑/↓ to move, Enter opens the request)"
        onKeyDown={onKeyDown}
      >
        {layout.rows.map(({ span, depth, left, width, orphan }) => {
          const cls = statusClass(span.status);
          const failed = cls === '5xx' || cls === 'none';
          const current = span.flowId === currentFlowId;
          const flags = flagList(span.flags);
          const label = `${span.kind === 'client' ? 'client' : 'server'} span of ${span.workload ?? 'an unknown workload'} → ${spanService(span.name)}: ${span.status === 0 ? 'no response' : span.status}${flags.length ? ` ${flags.join(',')}` : ''}, ${formatDuration(span.durationMs)} at +${formatDuration(span.offsetMs)}`;
          return (
            <div role="listitem" key={`${span.flowId}-${span.spanId}`}>
              <button
                type="button"
                className={`wf-row ${current ? 'current' : ''}`}
                data-testid="trace-span"
                data-flow-id={span.flowId}
                data-span-id={span.spanId}
                data-kind={span.kind}
                data-depth={depth}
                data-status={span.status}
                aria-current={current ? 'true' : undefined}
                aria-label={label}
                title={`${label}${orphan ? ' (its parent span was not recorded)' : ''}`}
                onClick={() => void openDetail(span.flowId)}
              >
                <span className="wf-label-col" style={{ paddingLeft: 4 + depth * 10 }}>
                  <span className={`wf-kind wf-kind-${span.kind}`}>{span.kind === 'client' ? 'C' : 'S'}</span>
                  <span className="wf-name">
                    {span.kind === 'client' ? (
                      <>
                        <span className="txt-faint">→ </span>
                        {spanService(span.name)}
                      </>
                    ) : (
                      (span.workload ?? 'unknown')
                    )}
                  </span>
                </span>
                <span className="wf-track">
                  <span
                    className={`wf-bar wf-${span.kind} ${failed ? 'wf-failed' : ''}`}
                    style={{ left: `${left * 100}%`, width: `${width * 100}%` }}
                  />
                </span>
                <span className="wf-dur">
                  <span className={`st-${cls}`}>{span.status === 0 ? '—' : span.status}</span>{' '}
                  {formatDuration(span.durationMs)}
                </span>
              </button>
            </div>
          );
        })}
      </div>
    </div>
  );
}
