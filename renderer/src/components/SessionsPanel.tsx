/**
 * Capture sessions, next to the Traffic list: one per `localmesh up`, one per recording, one per imported HAR.
 * Select one to see only its requests; pick two to compare them; delete an ended one (confirmed inline).
 */
import { useState } from 'react';
import type { SessionView } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { formatBytes } from '../lib/format.js';
import { KIND_TEXT, sessionSpan, sessionSpanLong, sessionTitle } from '../lib/sessions.js';
import { CaptureIcons } from './capture-icons.js';
import { ErrorText, Icons, Loading } from './ui.js';

/**
 * `drawer`: the panel lies over the list (a narrow window) rather than beside it. `onClose` closes it and gives the
 * focus back to the Sessions toggle.
 */
export function SessionsPanel({ drawer = false, onClose }: { drawer?: boolean; onClose: () => void }) {
  const sessions = useMesh((s) => s.sessions);
  const status = useMesh((s) => s.sessionsStatus);
  const error = useMesh((s) => s.sessionsError);
  const op = useMesh((s) => s.sessionOp);
  const selected = useMesh((s) => s.filters.session);
  const picked = useMesh((s) => s.sessionCompare.ids);
  const load = useMesh((s) => s.loadSessions);
  const selectSession = useMesh((s) => s.selectSession);
  const pick = useMesh((s) => s.pickSessionForCompare);
  const compare = useMesh((s) => s.compareSessions);
  const clearError = useMesh((s) => s.clearSessionError);
  const newestFirst = [...sessions].sort((a, b) => b.id - a.id);

  return (
    <aside
      className="sessions"
      data-testid="sessions-panel"
      data-mode={drawer ? 'drawer' : 'docked'}
      aria-label="Capture sessions"
      tabIndex={-1}
    >
      <header className="sessions-head">
        <h2>{CaptureIcons.sessions()} Sessions</h2>
        <button
          type="button"
          className="btn btn-small btn-ghost"
          onClick={() => void load()}
          title="Refresh the sessions"
          data-testid="sessions-refresh"
        >
          {CaptureIcons.replay()}
          <span className="sr-only">Refresh</span>
        </button>
        <button
          type="button"
          className="btn btn-small btn-ghost"
          onClick={onClose}
          data-testid="sessions-close"
          aria-label="Close the sessions panel"
          title={drawer ? 'Close (Esc)' : 'Close'}
        >
          {Icons.close()}
        </button>
      </header>
      {op.error && op.pending === null && (
        <div className="sessions-error">
          <ErrorText error={op.error} testId="session-error" />
          <button type="button" className="btn btn-small btn-ghost" onClick={clearError} aria-label="Dismiss">
            {Icons.close()}
          </button>
        </div>
      )}
      {status === 'error' && (
        <div className="sessions-error" data-testid="sessions-error">
          <ErrorText error={error} />
          <button type="button" className="btn btn-small" onClick={() => void load()}>
            Retry
          </button>
        </div>
      )}
      {status === 'loading' && sessions.length === 0 && <Loading label="Loading sessions…" />}
      <ul className="session-list" aria-label="Sessions (select one to see its requests)">
        <li>
          <button
            type="button"
            className={`session-main session-all ${selected === null ? 'selected' : ''}`}
            data-testid="session-all"
            aria-pressed={selected === null}
            onClick={() => selectSession(null)}
          >
            <span className="session-title">All sessions</span>
            <span className="session-meta txt-muted">every request in the store</span>
          </button>
        </li>
        {newestFirst.map((s) => (
          <SessionItem
            key={s.id}
            session={s}
            selected={selected === s.id}
            picked={picked.includes(s.id)}
            pickIndex={picked.indexOf(s.id)}
            onSelect={() => selectSession(s.id)}
            onPick={() => pick(s.id)}
          />
        ))}
      </ul>
      {status === 'ready' && sessions.length === 0 && (
        <div className="sessions-empty" data-testid="sessions-empty">
          <p>No sessions yet.</p>
          <p className="txt-muted small">
            Each <code>localmesh up</code> starts one; <strong>Record</strong> starts a labelled one, and an imported
            HAR file becomes one.
          </p>
        </div>
      )}
      <footer className="sessions-foot">
        <button
          type="button"
          className="btn btn-small"
          data-testid="sessions-compare"
          disabled={picked.length !== 2}
          onClick={() => void compare()}
          title={picked.length === 2 ? 'Compare the two picked sessions' : 'Pick two sessions (the A/B boxes) first'}
        >
          {CaptureIcons.compare()} Compare{picked.length === 2 ? ' A ↔ B' : ` (${picked.length}/2 picked)`}
        </button>
      </footer>
    </aside>
  );
}

function SessionItem({
  session: s,
  selected,
  picked,
  pickIndex,
  onSelect,
  onPick
}: {
  session: SessionView;
  selected: boolean;
  picked: boolean;
  pickIndex: number;
  onSelect: () => void;
  onPick: () => void;
}) {
  const op = useMesh((st) => st.sessionOp);
  const deleteSession = useMesh((st) => st.deleteSession);
  const [confirming, setConfirming] = useState(false);
  const deleting = op.pending === 'delete' && op.id === s.id;
  const title = sessionTitle(s);
  return (
    <li
      className={`session ${selected ? 'selected' : ''} ${s.current ? 'current' : ''}`}
      data-testid="session-item"
      data-id={s.id}
      data-kind={s.kind}
      data-current={s.current ? 'true' : 'false'}
      data-readonly={s.readOnly ? 'true' : 'false'}
      data-selected={selected ? 'true' : 'false'}
    >
      <button
        type="button"
        className={`session-main ${selected ? 'selected' : ''}`}
        data-testid="session-select"
        aria-pressed={selected}
        onClick={onSelect}
        title={sessionSpanLong(s)}
      >
        <span className="session-title">
          {s.current && (
            <span
              className={`session-dot ${s.kind === 'user' ? 'recording' : ''}`}
              aria-label={s.kind === 'user' ? 'recording' : 'current'}
              role="img"
            />
          )}
          <span className="session-name" data-testid="session-title">
            {title}
          </span>
          {s.current && (
            <span className="badge badge-ok" data-testid="session-current">
              {s.kind === 'user' ? 'recording' : 'current'}
            </span>
          )}
          {s.readOnly && (
            <span className="badge" data-testid="session-readonly" title="Imported: read-only">
              {CaptureIcons.lock()} read-only
            </span>
          )}
        </span>
        <span className="session-meta txt-muted">
          {KIND_TEXT[s.kind]} · {sessionSpan(s)}
        </span>
        <span className="session-meta txt-faint" data-testid="session-count" data-flows={s.flows}>
          {s.flows.toLocaleString()} request{s.flows === 1 ? '' : 's'}
          {s.bytes > 0 ? ` · ${formatBytes(s.bytes)}` : ''}
        </span>
      </button>
      {confirming ? (
        <div className="session-confirm" role="group" aria-label={`Delete ${title}?`}>
          <span className="small">
            Delete “{title}” and its {s.flows.toLocaleString()} request{s.flows === 1 ? '' : 's'}?
          </span>
          <button
            type="button"
            className="btn btn-small btn-danger"
            data-testid="session-delete-confirm"
            disabled={deleting}
            autoFocus
            onClick={() => {
              void deleteSession(s.id).then((ok) => {
                if (!ok) setConfirming(false);
              });
            }}
          >
            {deleting ? 'Deleting…' : 'Delete'}
          </button>
          <button
            type="button"
            className="btn btn-small"
            data-testid="session-delete-cancel"
            disabled={deleting}
            onClick={() => setConfirming(false)}
          >
            Cancel
          </button>
        </div>
      ) : (
        <div className="session-actions">
          <label className="session-pick" title="Pick for comparison (two sessions)">
            <input type="checkbox" data-testid="session-compare-pick" checked={picked} onChange={onPick} />
            <span>{picked ? (pickIndex === 0 ? 'A' : 'B') : 'compare'}</span>
          </label>
          {!s.current && (
            <button
              type="button"
              className="btn btn-small btn-ghost"
              data-testid="session-delete"
              onClick={() => setConfirming(true)}
              aria-label={`Delete ${title}`}
              title="Delete this session and its requests"
            >
              {Icons.trash()}
            </button>
          )}
        </div>
      )}
    </li>
  );
}
