/**
 * The detail pane of one flow: its head (DetailHeader), actions (replay, edit and replay, compare, copy as cURL), and
 * two tabs: Overview
 * (decision trace, timing phases and attempts, routing, connection, headers and bodies) and Trace (the waterfall
 * of every hop of the request's trace).
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { BodyView, FlowRecord } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { displayBody, findHeader, headerValue, hexBytesPerRow, hexRows } from '../lib/body.js';
import { flagList, formatBytes, formatDuration, statusClass } from '../lib/format.js';
import { timingPhases } from '../lib/waterfall.js';
import { CaptureIcons } from './capture-icons.js';
import { CopyCurlButton } from './CopyCurlButton.js';
import { DetailHeader } from './DetailHeader.js';
import { ReplayDialog } from './ReplayDialog.js';
import { TraceWaterfall } from './TraceWaterfall.js';
import { Empty, ErrorText, Icons } from './ui.js';

/** Trace steps that decide where a request goes or how it fails: highlighted. */
const KEY_STEPS = new Set(['route', 'weight', 'subset', 'endpoint', 'retry', 'fault', 'local-reply']);

type Tab = 'overview' | 'trace';

export function FlowDetailPane() {
  const detail = useMesh((s) => s.detail)!;
  const replay = useMesh((s) => s.replay);
  const replayFlow = useMesh((s) => s.replayFlow);
  const clearReplayError = useMesh((s) => s.clearReplayError);
  const [tab, setTab] = useState<Tab>('overview');
  const [editing, setEditing] = useState(false);
  const tabsRef = useRef<HTMLDivElement>(null);
  const f = detail.flow;
  const shownTab: Tab = tab;
  const sending = replay.sending && replay.forId === detail.id;

  useEffect(() => {
    // A replay error belongs to the flow it was for.
    if (replay.error && replay.forId !== detail.id) clearReplayError();
  }, [detail.id, replay.error, replay.forId, clearReplayError]);

  const onTabKey = (e: KeyboardEvent): void => {
    if (!['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const next: Tab =
      e.key === 'Home' ? 'overview' : e.key === 'End' ? 'trace' : shownTab === 'overview' ? 'trace' : 'overview';
    setTab(next);
    tabsRef.current?.querySelector<HTMLElement>(`[data-tab="${next}"]`)?.focus();
  };

  return (
    <aside className="detail" data-testid="flow-detail" data-id={detail.id} aria-label="Request details" tabIndex={-1}>
      <DetailHeader id={detail.id} flow={f} />
      {f && (
        <div className="detail-actions" role="toolbar" aria-label="Request actions">
          <button
            type="button"
            className="btn btn-small"
            data-testid="flow-replay"
            disabled={sending}
            onClick={() => void replayFlow({ id: f.id })}
            title="Send this request again, as it was, through the caller’s sidecar"
          >
            {CaptureIcons.replay()} {sending && !editing ? 'Replaying…' : 'Replay'}
          </button>
          <button
            type="button"
            className="btn btn-small"
            data-testid="flow-edit-replay"
            disabled={sending || detail.loading}
            onClick={() => setEditing(true)}
            title={detail.loading ? 'Loading the request body…' : 'Change the request, then send it'}
          >
            {CaptureIcons.edit()} Edit and replay…
          </button>
          <CompareButton id={f.id} />
          <CopyCurlButton flow={f} loading={detail.loading} />
        </div>
      )}
      <ErrorText error={detail.error} className="detail-error" />
      {replay.forId === detail.id && (
        <ErrorText error={!editing ? replay.error : null} className="detail-error" testId="flow-replay-error" />
      )}
      {f && (
        <div className="tabs" role="tablist" aria-label="Request views" ref={tabsRef} onKeyDown={onTabKey}>
          {(['overview', 'trace'] as const).map((t) => (
            <button
              key={t}
              type="button"
              role="tab"
              id={`flow-tab-${t}`}
              data-tab={t}
              data-testid={`flow-tab-${t}`}
              aria-selected={shownTab === t}
              aria-controls={`flow-panel-${t}`}
              tabIndex={shownTab === t ? 0 : -1}
              className={`tab ${shownTab === t ? 'active' : ''}`}
              onClick={() => setTab(t)}
            >
              {t === 'overview' ? 'Overview' : <>{CaptureIcons.waterfall()} Trace</>}
            </button>
          ))}
        </div>
      )}
      {f && shownTab === 'overview' && (
        <div className="detail-body" id="flow-panel-overview" role="tabpanel" aria-labelledby="flow-tab-overview">
          <DetailBody flow={f} loadingBodies={detail.loading} />
        </div>
      )}
      {f && shownTab === 'trace' && (
        <div className="detail-body" id="flow-panel-trace" role="tabpanel" aria-labelledby="flow-tab-trace">
          {f.traceId ? (
            <TraceWaterfall traceId={f.traceId} currentFlowId={f.id} />
          ) : (
            <Empty title="No trace for this request" testId="trace-none" icon={CaptureIcons.waterfall()}>
              <p>
                The sidecar recorded no trace context for it (flows captured before tracing, or imported from a HAR file
                without one).
              </p>
            </Empty>
          )}
        </div>
      )}
      {editing && f && <ReplayDialog flow={f} onClose={() => setEditing(false)} />}
    </aside>
  );
}

/** Mark this flow as A, compare it with the marked A, or compare the two marked flows. */
function CompareButton({ id }: { id: string }) {
  const ids = useMesh((s) => s.compare.ids);
  const markForCompare = useMesh((s) => s.markForCompare);
  const clearMarks = useMesh((s) => s.clearCompareMarks);
  const compareFlows = useMesh((s) => s.compareFlows);
  const compareMarked = useMesh((s) => s.compareMarked);
  const [a, b] = ids;
  if (a !== undefined && b === undefined && a !== id) {
    return (
      <button
        type="button"
        className="btn btn-small btn-primary"
        data-testid="flow-compare-with"
        onClick={() => void compareFlows(a, id)}
        title={`Compare request ${a} (A) with this one (B)`}
      >
        {CaptureIcons.compare()} Compare with A
      </button>
    );
  }
  if (a !== undefined && b !== undefined && ids.includes(id)) {
    return (
      <button
        type="button"
        className="btn btn-small"
        data-testid="flow-compare-marked"
        onClick={() => void compareMarked()}
        title="Compare the two marked requests"
      >
        {CaptureIcons.compare()} Compare A ↔ B
      </button>
    );
  }
  const marked = a === id;
  return (
    <button
      type="button"
      className="btn btn-small"
      data-testid="flow-compare-mark"
      aria-pressed={marked}
      onClick={() => {
        if (marked) {
          markForCompare(id);
          return;
        }
        clearMarks();
        markForCompare(id);
      }}
      title={marked ? 'Unmark' : 'Mark this request as A, then open another one and compare it with A'}
    >
      {CaptureIcons.compare()} {marked ? 'Marked as A (unmark)' : 'Compare: mark as A'}
    </button>
  );
}

/** The request's phases as one bar (receive, connect, wait, send), with the times under it. */
function PhaseBar({ flow: f }: { flow: FlowRecord }) {
  const phases = timingPhases(f.timings, f.durationMs);
  if (phases.length === 0) return null;
  return (
    <div className="phases" data-testid="flow-timings">
      <div
        className="phase-bar"
        role="img"
        aria-label={phases.map((p) => `${p.label} ${formatDuration(p.toMs - p.fromMs)}`).join(', ')}
      >
        {phases.map((p) => (
          <span
            key={p.name}
            className={`phase phase-${p.name}`}
            style={{ left: `${p.left * 100}%`, width: `${p.width * 100}%` }}
            title={`${p.label}: ${formatDuration(p.toMs - p.fromMs)} (${formatDuration(p.fromMs)} → ${formatDuration(p.toMs)})`}
          />
        ))}
      </div>
      <ul className="phase-legend">
        {phases.map((p) => (
          <li key={p.name} data-phase={p.name}>
            <span className={`phase-key phase-${p.name}`} aria-hidden="true" />
            {p.label} <span className="txt-muted">{formatDuration(p.toMs - p.fromMs)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

function Section({
  title,
  children,
  testId,
  open = true,
  aside
}: {
  title: string;
  children: ReactNode;
  testId?: string;
  open?: boolean;
  aside?: ReactNode;
}) {
  return (
    <details className="section" open={open} data-testid={testId}>
      <summary>
        <span className="section-title">{title}</span>
        {aside && <span className="section-aside">{aside}</span>}
      </summary>
      <div className="section-body">{children}</div>
    </details>
  );
}

function DetailBody({ flow: f, loadingBodies }: { flow: FlowRecord; loadingBodies: boolean }) {
  const flags = flagList(f.flags);
  return (
    <>
      <Section title="Decision trace" aside={`${f.trace.length} step${f.trace.length === 1 ? '' : 's'}`}>
        {f.trace.length === 0 ? (
          <p className="txt-muted">No decisions recorded for this request.</p>
        ) : (
          <ol className="trace" data-testid="flow-trace">
            {f.trace.map((t, i) => (
              <li
                key={i}
                className={`trace-step ${KEY_STEPS.has(t.step) ? `key key-${t.step}` : ''}`}
                data-testid="trace-step"
                data-step={t.step}
              >
                <span className="trace-name">{t.step}</span>
                <span className="trace-detail">{t.detail}</span>
              </li>
            ))}
          </ol>
        )}
      </Section>

      <Section title="Timing" aside={formatDuration(f.durationMs)}>
        <PhaseBar flow={f} />
        <dl className="kv">
          <dt>Duration</dt>
          <dd>{formatDuration(f.durationMs)}</dd>
          <dt>Attempts</dt>
          <dd>{f.attempts}</dd>
          {flags.length > 0 && (
            <>
              <dt>Flags</dt>
              <dd>
                {flags.map((fl) => (
                  <span key={fl} className="flag" title={FLAG_HELP[fl]}>
                    {fl}
                  </span>
                ))}
                {flags.map((fl) => FLAG_HELP[fl]).filter(Boolean).length > 0 && (
                  <span className="txt-muted">
                    {' '}
                    {flags
                      .map((fl) => FLAG_HELP[fl])
                      .filter(Boolean)
                      .join('; ')}
                  </span>
                )}
              </dd>
            </>
          )}
          {f.localReply && (
            <>
              <dt>Local reply</dt>
              <dd>{f.localReply}</dd>
            </>
          )}
        </dl>
        {f.attemptLog.length > 0 && (
          <table className="attempts">
            <thead>
              <tr>
                <th>#</th>
                <th>Endpoint</th>
                <th className="num">Status</th>
                <th>Flags</th>
                <th className="num">Duration</th>
              </tr>
            </thead>
            <tbody>
              {f.attemptLog.map((a) => (
                <tr key={a.attempt} className={`s-${statusClass(a.status)}`}>
                  <td>{a.attempt}</td>
                  <td>
                    <code>{a.endpoint}</code>
                    {a.error && <div className="txt-err small">{a.error}</div>}
                  </td>
                  <td className={`num st-${statusClass(a.status)}`}>{a.status === 0 ? '—' : a.status}</td>
                  <td>{a.flags === '-' ? '' : a.flags}</td>
                  <td className="num">{formatDuration(a.durationMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>

      <Section title="Routing">
        <dl className="kv">
          <dt>VirtualService</dt>
          <dd>{f.virtualService ?? <span className="txt-muted">none (default route)</span>}</dd>
          <dt>Rule</dt>
          <dd>{f.rule ?? <span className="txt-muted">–</span>}</dd>
          <dt>Subset</dt>
          <dd>{f.subset ?? <span className="txt-muted">–</span>}</dd>
          <dt>Endpoint</dt>
          <dd>{f.endpoint ? <code>{f.endpoint}</code> : <span className="txt-muted">none</span>}</dd>
          <dt>Config</dt>
          <dd>v{f.configVersion}</dd>
          <dt>Request id</dt>
          <dd>
            <code className="small">{f.requestId}</code>
          </dd>
        </dl>
      </Section>

      <Section
        title="Connection"
        testId="flow-connection"
        aside={
          f.connectionSecurity === 'mutual_tls'
            ? 'mutual TLS'
            : f.connectionSecurity === 'none'
              ? 'plaintext'
              : undefined
        }
      >
        <dl className="kv">
          <dt>Security</dt>
          <dd data-testid="flow-connection-security" data-security={f.connectionSecurity ?? 'unknown'}>
            {f.connectionSecurity === 'mutual_tls' ? (
              <span className="conn-text conn-mtls">{Icons.lock()} mutual TLS between the sidecars</span>
            ) : f.connectionSecurity === 'none' ? (
              <span className="conn-text conn-plain">
                {Icons.unlock()} plaintext{' '}
                <span className="txt-muted">
                  ({f.source === null ? 'the caller has no sidecar' : 'no mutual TLS on this hop'})
                </span>
              </span>
            ) : (
              <span className="txt-muted">not recorded</span>
            )}
          </dd>
          <dt>Caller identity</dt>
          <dd data-testid="flow-source-principal">
            {f.sourcePrincipal ? (
              <code>{f.sourcePrincipal}</code>
            ) : (
              <span className="txt-muted">none (no client certificate)</span>
            )}
          </dd>
          <dt>Server identity</dt>
          <dd data-testid="flow-destination-principal">
            {f.destinationPrincipal ? <code>{f.destinationPrincipal}</code> : <span className="txt-muted">none</span>}
          </dd>
        </dl>
      </Section>

      <Section
        title="Request headers"
        testId="flow-request-headers"
        aside={String(Object.keys(f.requestHeaders).length)}
      >
        <Headers headers={f.requestHeaders} />
      </Section>
      <Section title="Request body" testId="flow-request-body" aside={bodyAside(f.requestBody)}>
        <Body body={f.requestBody} contentType={findHeader(f.requestHeaders, 'content-type')} loading={loadingBodies} />
      </Section>
      <Section
        title="Response headers"
        testId="flow-response-headers"
        aside={String(Object.keys(f.responseHeaders).length)}
      >
        <Headers headers={f.responseHeaders} />
      </Section>
      <Section title="Response body" testId="flow-response-body" aside={bodyAside(f.responseBody)}>
        <Body
          body={f.responseBody}
          contentType={findHeader(f.responseHeaders, 'content-type')}
          loading={loadingBodies}
        />
      </Section>
    </>
  );
}

function bodyAside(body: BodyView | null | undefined): string | undefined {
  if (!body) return undefined;
  return `${formatBytes(body.size)}${body.truncated ? ' (truncated)' : ''}`;
}

function Headers({ headers }: { headers: Record<string, string | string[]> }) {
  const entries = Object.entries(headers);
  if (entries.length === 0) return <p className="txt-muted">No headers recorded.</p>;
  return (
    <table className="headers">
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{headerValue(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Body({
  body,
  contentType,
  loading
}: {
  body: BodyView | null | undefined;
  contentType: string | undefined;
  loading: boolean;
}) {
  const shown = useMemo(() => displayBody(body, contentType), [body, contentType]);
  if (body === undefined)
    return <p className="txt-muted">{loading ? 'Loading the body…' : 'The body is not available.'}</p>;
  if (shown.kind === 'empty') return <p className="txt-muted">No body.</p>;
  return (
    <div className="body-view">
      {shown.notes.map((n) => (
        <p key={n} className="note small">
          {n}
        </p>
      ))}
      <div className="body-meta txt-faint small">
        {shown.kind === 'json' ? 'JSON' : shown.kind === 'hex' ? 'binary (hex dump)' : 'text'}
        {contentType ? ` · ${contentType}` : ''}
      </div>
      {shown.kind === 'hex' && shown.bytes ? (
        <HexDump bytes={shown.bytes} />
      ) : (
        <pre className={`code body-${shown.kind}`}>{shown.text}</pre>
      )}
    </div>
  );
}

/**
 * A binary body as a hex dump, as many bytes per row (16, 8 or 4) as the pane's width shows whole, so the ASCII
 * column is never cut off; the dump scrolls sideways only when even 4 bytes per row do not fit.
 */
function HexDump({ bytes }: { bytes: Uint8Array }) {
  const ref = useRef<HTMLPreElement>(null);
  const [perRow, setPerRow] = useState(16);
  useLayoutEffect(() => {
    const pre = ref.current;
    if (!pre) return;
    const fit = (): void => {
      const style = getComputedStyle(pre);
      const width = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      // the width of one character of the dump's monospace font
      const probe = document.createElement('span');
      probe.textContent = '0'.repeat(32);
      probe.style.position = 'absolute';
      probe.style.visibility = 'hidden';
      pre.appendChild(probe);
      const char = probe.getBoundingClientRect().width / 32;
      probe.remove();
      if (width > 0 && char > 0) setPerRow(hexBytesPerRow(Math.floor(width / char)));
    };
    fit();
    const observer = new ResizeObserver(fit);
    observer.observe(pre);
    return () => observer.disconnect();
  }, []);
  const rows = useMemo(() => hexRows(bytes, perRow), [bytes, perRow]);
  return (
    <pre ref={ref} className="code body-hex" data-testid="body-hex" data-per-row={perRow}>
      {rows.map((r) => (
        <span key={r.offset} className="hex-row">
          <span className="hex-offset">{r.offset}</span>
          {`  ${r.hex} `}
          <span className="hex-ascii">{r.ascii}</span>
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

/** Envoy response flags the mesh sets, in words (istio-semantics). */
const FLAG_HELP: Record<string, string> = {
  UF: 'upstream connection failure',
  UH: 'no healthy upstream',
  NR: 'no route configured',
  URX: 'retry or connect limit reached',
  UT: 'upstream request timeout',
  UC: 'upstream connection terminated',
  UO: 'upstream overflow (circuit breaker)',
  UR: 'upstream remote reset',
  LR: 'connection local reset',
  DC: 'downstream connection termination',
  DI: 'request delayed by fault injection',
  FI: 'request aborted by fault injection',
  RL: 'rate limited',
  UAEX: 'denied by external authorization',
  RLSE: 'rate-limit service error',
  NC: 'no cluster (upstream not found)',
  DT: 'downstream request timeout',
  SI: 'stream idle timeout',
  DPE: 'downstream protocol error',
  UPE: 'upstream protocol error',
  UMSDR: 'upstream max stream duration reached'
};
