/**
 * The detail pane of a request still in flight (a pending row): what its sidecar knew when it started (request
 * line, caller and service, the request headers as sent onward) and the time running. When its flow arrives the
 * store opens that instead (FlowDetailPane).
 */
import { useEffect, useState } from 'react';
import type { FlowRecord } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { headerValue } from '../lib/body.js';
import { formatClock, formatDuration, shortService } from '../lib/format.js';
import { elapsedMs } from '../lib/live-flows.js';
import { Icons } from './ui.js';

/** How often a running time is redrawn. */
const ELAPSED_REFRESH_MS = 100;

/** The time since `startedAt`, redrawn while shown. */
export function Elapsed({ startedAt }: { startedAt: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ELAPSED_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  return <>{formatDuration(elapsedMs(startedAt, now))}</>;
}

export function PendingDetailPane({ flow: f }: { flow: FlowRecord }) {
  const close = useMesh((s) => s.closeDetail);
  const headers = Object.entries(f.requestHeaders);
  return (
    <aside
      className="detail"
      data-testid="flow-detail"
      data-id={f.id}
      data-pending="true"
      aria-label="Request details"
      tabIndex={-1}
    >
      <header className="detail-head">
        <div className="detail-title">
          <span className="status-pill st-pending">
            <span className="spinner spinner-small" aria-hidden="true" /> pending
          </span>
          <code className="req-line" title={`${f.method} http://${f.authority}${f.path}`}>
            <strong>{f.method}</strong> {f.path}
          </code>
        </div>
        <button
          type="button"
          className="btn btn-small btn-ghost"
          onClick={close}
          aria-label="Close details (Esc)"
          title="Close (Esc)"
        >
          {Icons.close()}
        </button>
      </header>
      <div className="detail-sub">
        <span>
          {f.source ?? 'unknown caller'} → {f.destination ?? shortService(f.destinationService) ?? f.authority}
        </span>
        <span className="txt-faint">
          {' '}
          · host <code>{f.authority}</code> · reported by the{' '}
          {f.reporter === 'source' ? 'caller’s (outbound)' : 'server’s (inbound)'} sidecar · started{' '}
          {formatClock(f.startedAt)}
        </span>
      </div>
      <div className="detail-body">
        <p className="pending-note" role="status" data-testid="flow-pending">
          <span className="spinner" aria-hidden="true" /> Waiting for the response… <Elapsed startedAt={f.startedAt} />{' '}
          so far. The whole request (status, timing, decision trace, bodies) shows here when it ends.
        </p>
        <details className="section" open data-testid="flow-request-headers">
          <summary>
            <span className="section-title">Request headers</span>
            <span className="section-aside">as sent onward so far</span>
          </summary>
          <div className="section-body">
            {headers.length === 0 ? (
              <p className="txt-muted">No headers known yet.</p>
            ) : (
              <table className="headers">
                <tbody>
                  {headers.map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row">{k}</th>
                      <td>{headerValue(v)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        </details>
      </div>
    </aside>
  );
}
