/**
 * The head of the detail pane, for a finished flow (FlowDetail) and a request still in flight (PendingDetail): its
 * status (or "pending"), the request line and the close button; below, who called whom, the host, the sidecar that
 * reported it, when it started (and ended), and the request it replays.
 */
import type { FlowRecord } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { formatClock, formatDateClock, shortService, statusClass } from '../lib/format.js';
import { CaptureIcons } from './capture-icons.js';
import { ConnIcon, Icons } from './ui.js';

/**
 * `flow`: null while a flow is not loaded yet (its id stands in for it). `pending`: the request is in flight (no
 * status, no connection security, no end yet).
 */
export function DetailHeader({
  id,
  flow: f,
  pending = false
}: {
  id: string;
  flow: FlowRecord | null;
  pending?: boolean;
}) {
  const close = useMesh((s) => s.closeDetail);
  const openDetail = useMesh((s) => s.openDetail);
  return (
    <>
      <header className="detail-head">
        {f ? (
          <div className="detail-title">
            {pending ? (
              <span className="status-pill st-pending">
                <span className="spinner spinner-small" aria-hidden="true" /> pending
              </span>
            ) : (
              <span className={`status-pill st-${statusClass(f.status)}`}>
                {f.status === 0 ? 'no response' : f.status}
              </span>
            )}
            <code className="req-line" title={`${f.method} http://${f.authority}${f.path}`}>
              <strong>{f.method}</strong> {f.path}
            </code>
          </div>
        ) : (
          <div className="detail-title txt-muted">Request {id}</div>
        )}
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
      {f && (
        <div className="detail-sub">
          <span>
            {!pending && (
              <>
                <ConnIcon security={f.connectionSecurity} testId="flow-detail-conn" />{' '}
              </>
            )}
            {f.source ?? 'unknown caller'} → {f.destination ?? shortService(f.destinationService) ?? f.authority}
          </span>
          <span className="txt-faint">
            {' '}
            · host <code>{f.authority}</code> · reported by the{' '}
            {f.reporter === 'source' ? 'caller’s (outbound)' : 'server’s (inbound)'} sidecar ·{' '}
            <span data-testid="flow-detail-started" title={`Started ${formatDateClock(f.startedAt)}`}>
              started {formatClock(f.startedAt)}
              {!pending && Number.isFinite(f.durationMs) && !Number.isNaN(Date.parse(f.startedAt))
                ? `, ended ${formatClock(new Date(Date.parse(f.startedAt) + f.durationMs).toISOString())}`
                : ''}
            </span>
          </span>
          {f.replayOf && (
            <div className="replay-of">
              {CaptureIcons.replay()} replay of{' '}
              <button
                type="button"
                className="link"
                data-testid="flow-replay-of"
                data-replay-of={f.replayOf}
                onClick={() => void openDetail(f.replayOf!)}
                title="Open the original request"
              >
                {f.replayOf}
              </button>
            </div>
          )}
        </div>
      )}
    </>
  );
}
