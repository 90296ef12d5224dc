/**
 * The detail pane of a request still in flight (a pending row): what its sidecar knew when it started (its head as
 * a flow's, DetailHeader; the request headers as sent onward), the time running, and Copy as cURL of the request as
 * sent so far (replay, compare and export wait for its end). When its flow arrives the store opens that instead
 * (FlowDetailPane).
 */
import { useEffect, useState } from 'react';
import type { FlowRecord } from '../../../main/contract/api.js';
import { headerValue } from '../lib/body.js';
import { formatDuration } from '../lib/format.js';
import { elapsedMs } from '../lib/live-flows.js';
import { CopyCurlButton } from './CopyCurlButton.js';
import { DetailHeader } from './DetailHeader.js';

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
      <DetailHeader id={f.id} flow={f} pending />
      <div className="detail-actions" role="toolbar" aria-label="Request actions">
        <CopyCurlButton flow={f} pending />
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
