/**
 * Security: the mesh CA, each workload's identity (SPIFFE ID, certificate, rotation), the effective mTLS mode per
 * port and the AuthorizationPolicies selecting it, a "Require mTLS (STRICT)" quick action per workload and per
 * namespace, and the who-may-call-whom matrix overlaid with the calls the sidecars actually saw.
 */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { AccessCell, SecurityView as SecurityData, WorkloadSecurityView } from '../../../main/contract/api.js';
import { Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { useMesh, useMeshStore } from '../hooks.js';
import { formatClock, formatDateTime, formatRelative } from '../lib/format.js';
import { caExportCommand, requiresMtls } from '../lib/security.js';
import {
  contradicts,
  observedKey,
  observedOutside,
  observedState,
  selectMatrixLayout,
  selectObservedCalls,
  UNKNOWN_CALLER,
  type MatrixLayout,
  type ObservedCall
} from '../store/selectors.js';

/** The clock the relative times follow, coarse so the page does not re-render every second. */
const useCoarseNow = (): number => useMesh((s) => Math.floor(s.now / 15_000) * 15_000);

/** Longest delay setTimeout accepts (about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function SecurityView() {
  const status = useMesh((s) => s.securityStatus);
  const error = useMesh((s) => s.securityError);
  const security = useMesh((s) => s.security);
  const loadedAt = useMesh((s) => s.securityLoadedAt);
  const load = useMesh((s) => s.loadSecurity);
  const reload = useMesh((s) => s.config?.lastReload);

  // The view is normally loaded by setView('security'); cover a first render that did not go through it.
  const store = useMeshStore();
  useEffect(() => {
    if (store.getState().securityStatus === 'idle') void load();
  }, [store, load]);

  // Certificates rotate without a config event: fetch again shortly after the next rotation is due.
  useEffect(() => {
    if (!security) return;
    const now = Date.now();
    const next = security.workloads
      .map((w) => (w.cert ? Date.parse(w.cert.renewAt) : NaN))
      .filter((t) => Number.isFinite(t) && t > now)
      .sort((a, b) => a - b)[0];
    if (next === undefined) return;
    const t = setTimeout(() => void load({ quiet: true }), Math.min(MAX_TIMEOUT_MS, next - now + 2000));
    return () => clearTimeout(t);
  }, [security, load]);

  return (
    <section className="page security" aria-labelledby="security-title" data-testid="security-view">
      <header className="page-head">
        <div>
          <h1 id="security-title">Security</h1>
          <p className="page-sub">
            Every sidecar gets a certificate from the mesh CA for its service account (a SPIFFE identity). Sidecars talk
            mutual TLS to each other; PeerAuthentications decide whether plaintext is still accepted, and
            AuthorizationPolicies decide which callers are let in.
          </p>
        </div>
        <div className="page-actions">
          {loadedAt !== null && (
            <span className="txt-faint small" title="When this page was last fetched from the mesh">
              as of {formatClock(new Date(loadedAt).toISOString()).slice(0, 8)}
            </span>
          )}
          <button
            type="button"
            className="btn btn-small"
            data-testid="security-refresh"
            disabled={status === 'loading'}
            onClick={() => void load({ quiet: true })}
          >
            Refresh
          </button>
        </div>
      </header>

      {(status === 'loading' || status === 'idle') && !security && (
        <Loading label="Loading certificates and policies…" />
      )}
      {status === 'error' && (
        <div className="inline-error" data-testid="security-error">
          <ErrorText error={error} />
          <button type="button" className="btn btn-small" onClick={() => void load()}>
            Retry
          </button>
        </div>
      )}
      {status === 'ready' && error && (
        <div className="note stale-note" role="status" data-testid="security-stale">
          Could not refresh: <code>{error.code}</code> {error.message}. Showing what the mesh reported
          {loadedAt !== null ? ` at ${formatClock(new Date(loadedAt).toISOString()).slice(0, 8)}` : ''}.{' '}
          <button type="button" className="btn btn-small" onClick={() => void load({ quiet: true })}>
            Retry
          </button>
        </div>
      )}
      {reload && !reload.ok && security && (
        <p className="note small" data-testid="security-rejected-note">
          The last reload was rejected ({reload.error ?? 'see Rules'}): this page shows the running config v
          {reload.version}, not what is in the files now.
        </p>
      )}

      {security && <SecurityBody security={security} />}
    </section>
  );
}

function SecurityBody({ security }: { security: SecurityData }) {
  if (security.workloads.length === 0) {
    return (
      <>
        <CaCard ca={security.ca} />
        <Empty title="No workloads yet" icon={Icons.shield()} testId="security-empty">
          <p>
            Add a service with a workload to <code>localmesh.yaml</code>; each workload with a sidecar gets a
            certificate for its service account.
          </p>
        </Empty>
      </>
    );
  }
  return (
    <div className="security-body">
      <CaCard ca={security.ca} />
      <WorkloadTable workloads={security.workloads} />
      <AccessMatrix />
    </div>
  );
}

/* ---------- CA ---------- */

function keyName(alg: 'ec' | 'rsa'): string {
  return alg === 'ec' ? 'EC P-256' : 'RSA 2048';
}

function CaCard({ ca }: { ca: SecurityData['ca'] }) {
  const now = useCoarseNow();
  const to = Date.parse(ca.validTo);
  const expired = to <= now;
  const soon = !expired && to - now < 30 * 86_400_000;
  return (
    <article className="card ca-card" data-testid="security-ca" aria-labelledby="ca-title">
      <header className="card-head">
        <span className="card-icon" aria-hidden="true">
          {Icons.shield()}
        </span>
        <div>
          <h2 id="ca-title">Mesh certificate authority</h2>
          <p className="txt-muted small">
            The root every workload certificate is issued from. It stays on this machine.
          </p>
        </div>
      </header>
      <dl className="kv ca-kv">
        <dt>Subject</dt>
        <dd data-testid="ca-subject">{ca.subject.split('\n').join(', ')}</dd>
        <dt>Key</dt>
        <dd data-testid="ca-key">{keyName(ca.keyAlgorithm)}</dd>
        <dt>Valid</dt>
        <dd data-testid="ca-validity">
          {formatDateTime(ca.validFrom)} → {formatDateTime(ca.validTo)}{' '}
          <span className={expired ? 'txt-err' : soon ? 'txt-warn' : 'txt-muted'}>
            ({expired ? 'expired' : 'expires'} {formatRelative(to, now)})
          </span>
        </dd>
        <dt>SHA-256</dt>
        <dd>
          <code className="fingerprint" data-testid="ca-fingerprint" title={ca.fingerprint256}>
            {breakAfter(ca.fingerprint256, ':')}
          </code>
        </dd>
        <dt>Root certificate</dt>
        <dd>
          <code className="selectable" data-testid="ca-file">
            {ca.certFile}
          </code>
        </dd>
      </dl>
      <div className="ca-hint">
        <p className="txt-muted small">
          To trust the mesh in your own TLS clients (to call a sidecar over mutual TLS yourself, or to check a workload
          certificate), point them at the root certificate above, or export a copy:
        </p>
        <pre className="cmd" data-testid="ca-export">
          {caExportCommand(ca.certFile)}
        </pre>
        <p className="txt-faint small">
          Without <code>--out</code> it prints the PEM. <code>localmesh ca show</code> prints this card;{' '}
          <code>localmesh ca rotate</code> makes a new CA (restart <code>localmesh up</code> afterwards).
        </p>
      </div>
    </article>
  );
}

/* ---------- workloads ---------- */

type Mode = 'PERMISSIVE' | 'STRICT' | 'DISABLE';

const MODE_HELP: Record<Mode, string> = {
  STRICT: 'only mutual TLS from other sidecars; plaintext connections are closed',
  PERMISSIVE: 'mutual TLS from sidecars, and plaintext from callers without sidecar',
  DISABLE: 'no mutual TLS: sidecars call it in plaintext'
};

/** "PeerAuthentication default/x (port 9080)" → the part a reader needs; the whole text stays in the tooltip. */
function shortSource(source: string): string {
  if (/^default \(no PeerAuthentication\)/.test(source)) return 'no PeerAuthentication (default)';
  return source.replace(/^PeerAuthentication /, 'by ');
}

function WorkloadTable({ workloads }: { workloads: WorkloadSecurityView[] }) {
  const namespaces = useMemo(() => {
    const out = new Map<string, WorkloadSecurityView[]>();
    for (const w of workloads) out.set(w.namespace, [...(out.get(w.namespace) ?? []), w]);
    return [...out.entries()];
  }, [workloads]);
  return (
    <section className="card sec-section" aria-labelledby="sec-workloads-title">
      <header className="card-head">
        <div>
          <h2 id="sec-workloads-title">Workloads</h2>
          <p className="txt-muted small">
            Identity and certificate of each sidecar, the mTLS mode its inbound side enforces (per app port) and the
            AuthorizationPolicies that select it.
          </p>
        </div>
      </header>
      <div className="table-scroll">
        <table className="sec-table">
          <thead>
            <tr>
              <th scope="col">Workload and identity (SPIFFE ID)</th>
              <th scope="col">Certificate</th>
              <th scope="col">Inbound mTLS</th>
              <th scope="col">Authorization policies</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          {namespaces.map(([ns, list]) => (
            <NamespaceGroup key={ns} namespace={ns} workloads={list} />
          ))}
        </table>
      </div>
    </section>
  );
}

function NamespaceGroup({ namespace, workloads }: { namespace: string; workloads: WorkloadSecurityView[] }) {
  const open = useMesh((s) => s.openStrictMtls);
  const withSidecar = workloads.filter((w) => w.sidecar);
  const done = withSidecar.length > 0 && withSidecar.every(requiresMtls);
  const first = withSidecar[0];
  return (
    <tbody data-namespace={namespace}>
      <tr className="ns-row">
        <th scope="rowgroup" colSpan={4}>
          <span className="ns-label">namespace</span> <strong>{namespace}</strong>{' '}
          <span className="txt-muted small">
            · {workloads.length} workload{workloads.length === 1 ? '' : 's'}
            {withSidecar.length < workloads.length ? `, ${workloads.length - withSidecar.length} without sidecar` : ''}
          </span>
        </th>
        <td className="sec-action">
          <button
            type="button"
            className="btn btn-small"
            data-testid="security-strict-namespace"
            data-namespace={namespace}
            disabled={!first || done}
            title={
              !first
                ? 'No workload in this namespace has a sidecar'
                : done
                  ? `Every workload in ${namespace} already requires mutual TLS`
                  : `Write a namespace-wide PeerAuthentication (mode STRICT) for ${namespace}; you review the YAML first`
            }
            onClick={() => first && open(first.workload, 'namespace')}
          >
            {Icons.lock()} Require mTLS for {namespace}
          </button>
        </td>
      </tr>
      {workloads.map((w) => (
        <WorkloadRow key={w.workload} w={w} />
      ))}
    </tbody>
  );
}

function WorkloadRow({ w }: { w: WorkloadSecurityView }) {
  const now = useCoarseNow();
  const open = useMesh((s) => s.openStrictMtls);
  const strict = requiresMtls(w);
  return (
    <tr data-testid="security-workload" data-workload={w.workload} data-sidecar={w.sidecar ? 'true' : 'false'}>
      <th scope="row" className="sec-wl">
        <strong>{w.workload}</strong>
        {!w.sidecar && (
          <>
            {' '}
            <span className="badge" title="Calls to and from it bypass the mesh: no mTLS, no policies">
              no sidecar
            </span>
          </>
        )}
        <div className="sec-id">
          {w.cert ? (
            <code
              className="spiffe"
              data-testid="security-spiffe"
              title={`SPIFFE ID: trust domain, namespace ${w.namespace}, service account ${w.serviceAccount}`}
            >
              {breakAfter(w.cert.spiffeId, '/')}
            </code>
          ) : (
            <span className="txt-muted small">
              {w.sidecar
                ? `no certificate issued yet (service account ${w.serviceAccount})`
                : 'no mesh identity without a sidecar'}
            </span>
          )}
        </div>
      </th>
      <td className="sec-cert">
        {w.cert ? <CertCell cert={w.cert} now={now} /> : <span className="txt-faint">–</span>}
      </td>
      <td className="sec-mtls">
        {w.mtls.length === 0 ? (
          <span className="txt-faint small">{w.sidecar ? 'no ports' : 'not enforced (no sidecar)'}</span>
        ) : (
          <ul className="mode-list">
            {w.mtls.map((m) => (
              <li key={m.port}>
                <span
                  className={`badge mode mode-${m.mode.toLowerCase()}`}
                  data-testid="security-mode"
                  data-mode={m.mode}
                  data-port={m.port}
                  title={`${m.mode}: ${MODE_HELP[m.mode]}. Set by ${m.source}.`}
                >
                  {m.mode === 'STRICT' ? Icons.lock(11) : m.mode === 'DISABLE' ? Icons.unlock(11) : null}
                  {m.mode}
                </span>
                {w.mtls.length > 1 && <span className="txt-muted small"> port {m.port}</span>}
                <div className="mode-source txt-muted small" title={m.source}>
                  {w.mtls.length === 1 ? `port ${m.port} · ` : ''}
                  {shortSource(m.source)}
                </div>
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="sec-policies">
        {!w.sidecar ? (
          <span className="txt-faint small">not enforced (no sidecar)</span>
        ) : w.policies.length === 0 ? (
          <span className="txt-muted small">none: every caller is let in</span>
        ) : (
          <ul className="policy-list">
            {w.policies.map((p) => (
              <li key={p.name} data-testid="security-policy" data-action={p.action} data-dry-run={p.dryRun}>
                <span
                  className={`badge policy policy-${p.action.toLowerCase()} ${p.dryRun ? 'policy-dry' : ''}`}
                  title={
                    p.dryRun
                      ? `Dry run (istio.io/dry-run): evaluated and logged in the trace, not enforced`
                      : `${p.action} policy`
                  }
                >
                  {p.action}
                  {p.dryRun ? ' · dry run' : ''}
                </span>{' '}
                <span className="policy-name">{p.name}</span>
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="sec-action">
        <button
          type="button"
          className="btn btn-small"
          data-testid="security-strict"
          data-workload={w.workload}
          disabled={!w.sidecar || strict}
          title={
            !w.sidecar
              ? 'Needs a sidecar: mutual TLS is between sidecars'
              : strict
                ? `${w.workload} already requires mutual TLS`
                : `Write a PeerAuthentication (mode STRICT) selecting ${w.workload}; you review the YAML first`
          }
          onClick={() => open(w.workload, 'workload')}
        >
          {strict ? 'mTLS required' : 'Require mTLS (STRICT)'}
        </button>
      </td>
    </tr>
  );
}

/** Let a long SPIFFE ID (or fingerprint) wrap after its separators, not in the middle of a name. */
function breakAfter(text: string, sep: '/' | ':'): ReactNode[] {
  const parts = text.split(sep === '/' ? /(?<=\/)(?!\/)/ : /(?<=:)/);
  return parts.map((p, i) => (
    <span key={i}>
      {p}
      {i < parts.length - 1 && <wbr />}
    </span>
  ));
}

function CertCell({ cert, now }: { cert: NonNullable<WorkloadSecurityView['cert']>; now: number }) {
  const notAfter = Date.parse(cert.notAfter);
  const renewAt = Date.parse(cert.renewAt);
  const expired = notAfter <= now;
  const due = !expired && renewAt <= now;
  return (
    <div
      data-testid="security-cert"
      title={`Issued ${formatDateTime(cert.notBefore)}, valid until ${formatDateTime(cert.notAfter)}, ${keyName(cert.keyAlgorithm)}. The sidecar gets a new certificate at ${formatDateTime(cert.renewAt)} (half its lifetime).`}
    >
      <div className={expired ? 'txt-err' : undefined}>
        {expired ? 'expired' : 'expires'} {formatRelative(notAfter, now)}
      </div>
      <div className={`small ${due ? 'txt-warn' : 'txt-muted'}`} data-testid="security-rotation">
        {due ? 'rotation due now' : `rotates ${formatRelative(renewAt, now)}`}
      </div>
    </div>
  );
}

/* ---------- matrix ---------- */

function callerLabel(name: string): ReactNode {
  return name === UNKNOWN_CALLER ? (
    <span className="caller-unknown" title="Callers without a sidecar (e.g. curl straight to an inbound port)">
      no sidecar <span className="txt-faint">(unknown)</span>
    </span>
  ) : (
    name
  );
}

function callerText(name: string): string {
  return name === UNKNOWN_CALLER ? 'a caller without sidecar' : name;
}

function observedText(o: ObservedCall | undefined, configVersion: number | null): string {
  if (!o) return 'No calls seen in the captured traffic.';
  const parts = [
    `${o.total} call${o.total === 1 ? '' : 's'} seen`,
    `${o.allowed} answered`,
    `${o.denied} denied by policy`
  ];
  if (o.failed > 0) parts.push(`${o.failed} failed (5xx / no response)`);
  const conn =
    o.mtls > 0 && o.plaintext > 0
      ? `${o.mtls} over mutual TLS, ${o.plaintext} in plaintext`
      : o.plaintext > 0
        ? 'all in plaintext'
        : o.mtls > 0
          ? 'all over mutual TLS'
          : '';
  const older =
    configVersion !== null && o.lastVersion < configVersion
      ? ` Seen under config v${o.lastVersion}; the config has changed since (now v${configVersion}).`
      : '';
  return `${parts.join(', ')}${conn ? `; ${conn}` : ''}. Last at ${formatClock(o.lastAt)}.${older}`;
}

function AccessMatrix() {
  const layout = useMesh(selectMatrixLayout);
  const observed = useMesh(selectObservedCalls);
  const flowCount = useMesh((s) => s.flows.length);
  const workloads = useMesh((s) => s.security?.workloads);
  const noSidecar = (workloads ?? []).filter((w) => !w.sidecar).map((w) => w.workload);
  if (!layout) return null;
  const outside = observedOutside(observed, layout);
  return (
    <section className="card sec-section" aria-labelledby="matrix-title">
      <header className="card-head">
        <div>
          <h2 id="matrix-title">Who may call whom</h2>
          <p className="txt-muted small">
            What the AuthorizationPolicies (and STRICT mTLS) decide for a plain <code>GET /</code> from each caller’s
            identity, with the calls the destination sidecars actually saw on top
            {flowCount > 0
              ? ` (from the ${flowCount.toLocaleString()} request record${flowCount === 1 ? '' : 's'} in Traffic).`
              : '. No calls captured yet: send requests through the sidecars and they show up here.'}
          </p>
        </div>
      </header>
      {layout.destinations.length === 0 ? (
        <p className="txt-muted matrix-empty" data-testid="security-matrix-empty">
          No workload has a sidecar, so nothing enforces policies yet.
        </p>
      ) : (
        <MatrixGrid layout={layout} observed={observed} />
      )}
      <Legend />
      {noSidecar.length > 0 && (
        <p className="txt-faint small matrix-foot">
          Not listed as destinations (no sidecar, nothing enforces policies in front of them): {noSidecar.join(', ')}.
        </p>
      )}
      {outside.length > 0 && (
        <p className="txt-faint small matrix-foot" data-testid="matrix-outside">
          Also seen, not in the matrix: {outside.map((o) => `${callerText(o.from)} → ${o.to} (${o.total})`).join(', ')}.
        </p>
      )}
    </section>
  );
}

function MatrixGrid({ layout, observed }: { layout: MatrixLayout; observed: Map<string, ObservedCall> }) {
  const { callers, destinations } = layout;
  const configVersion = useMesh((s) => s.config?.version ?? null);
  const [active, setActive] = useState<{ r: number; c: number }>({ r: 0, c: 0 });
  const [selected, setSelected] = useState<{ from: string; to: string } | null>(null);
  const refs = useRef(new Map<string, HTMLButtonElement>());
  const r = Math.min(active.r, callers.length - 1);
  const c = Math.min(active.c, destinations.length - 1);

  const move = (nr: number, nc: number): void => {
    const rr = Math.max(0, Math.min(callers.length - 1, nr));
    const cc = Math.max(0, Math.min(destinations.length - 1, nc));
    setActive({ r: rr, c: cc });
    refs.current.get(observedKey(callers[rr]!, destinations[cc]!))?.focus();
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    const keys: Record<string, () => void> = {
      ArrowRight: () => move(r, c + 1),
      ArrowLeft: () => move(r, c - 1),
      ArrowDown: () => move(r + 1, c),
      ArrowUp: () => move(r - 1, c),
      Home: () => move(e.ctrlKey ? 0 : r, 0),
      End: () => move(e.ctrlKey ? callers.length - 1 : r, destinations.length - 1)
    };
    // Esc unselects the cell (its reason below goes back to the hint); the focus stays where it is
    if (e.key === 'Escape' && selected !== null && !e.defaultPrevented) keys.Escape = () => setSelected(null);
    const run = keys[e.key];
    if (run) {
      e.preventDefault();
      run();
    }
  };

  const sel = selected && layout.cells.get(observedKey(selected.from, selected.to));
  return (
    <>
      <div className="table-scroll">
        <table
          className="matrix"
          data-testid="security-matrix"
          aria-labelledby="matrix-title"
          aria-describedby="matrix-help"
          onKeyDown={onKeyDown}
        >
          <thead>
            <tr>
              <th scope="col" className="matrix-corner">
                <span className="corner-to">destination →</span>
                <span className="corner-from">caller ↓</span>
              </th>
              {destinations.map((d) => (
                <th key={d} scope="col" className="matrix-col">
                  {d}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {callers.map((from, ri) => (
              <tr key={from}>
                <th scope="row" className="matrix-row">
                  {callerLabel(from)}
                </th>
                {destinations.map((to, ci) => {
                  const cell = layout.cells.get(observedKey(from, to));
                  const o = observed.get(observedKey(from, to));
                  return (
                    <td key={to} className="matrix-td">
                      {cell ? (
                        <MatrixCell
                          cell={cell}
                          observed={o}
                          configVersion={configVersion}
                          tabIndex={ri === r && ci === c ? 0 : -1}
                          selected={selected?.from === from && selected.to === to}
                          buttonRef={(el) => {
                            if (el) refs.current.set(observedKey(from, to), el);
                            else refs.current.delete(observedKey(from, to));
                          }}
                          onFocus={() => setActive({ r: ri, c: ci })}
                          onSelect={() => setSelected({ from, to })}
                        />
                      ) : (
                        <span className="txt-faint" title="No verdict for this pair">
                          ·
                        </span>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p id="matrix-help" className="sr-only">
        Arrow keys move between cells; Enter or Space shows the reason and the calls seen below the matrix, Escape hides
        it.
      </p>
      <CellDetail
        cell={sel ?? null}
        observed={sel ? observed.get(observedKey(sel.from, sel.to)) : undefined}
        configVersion={configVersion}
      />
    </>
  );
}

function MatrixCell({
  cell,
  observed: o,
  configVersion,
  tabIndex,
  selected,
  buttonRef,
  onFocus,
  onSelect
}: {
  cell: AccessCell;
  observed: ObservedCall | undefined;
  configVersion: number | null;
  tabIndex: number;
  selected: boolean;
  buttonRef: (el: HTMLButtonElement | null) => void;
  onFocus: () => void;
  onSelect: () => void;
}) {
  const state = observedState(o);
  const off = contradicts(cell, o, configVersion);
  // Calls from before a reload that the running config decides differently: history, shown faded.
  const stale =
    o !== undefined &&
    configVersion !== null &&
    o.lastVersion < configVersion &&
    (cell.allowed ? o.denied > 0 : o.allowed + o.failed > 0);
  const verdict = cell.allowed ? 'allowed' : 'denied';
  const title = `${callerText(cell.from)} → ${cell.to}: ${verdict} (${cell.reason}). ${observedText(o, configVersion)}${off ? ' What was seen differs from the GET / verdict: the policy matches on paths, methods or headers.' : ''}`;
  return (
    <button
      type="button"
      ref={buttonRef}
      className={`mcell mcell-${verdict} obs-${state} ${off ? 'mcell-mismatch' : ''} ${selected ? 'mcell-selected' : ''}`}
      data-testid="matrix-cell"
      data-from={cell.from}
      data-to={cell.to}
      data-allowed={cell.allowed ? 'true' : 'false'}
      data-observed={state}
      data-conn={o ? (o.plaintext > 0 ? 'plaintext' : o.mtls > 0 ? 'mtls' : 'unknown') : undefined}
      aria-pressed={selected}
      tabIndex={tabIndex}
      title={title}
      aria-label={title}
      onFocus={onFocus}
      onClick={onSelect}
    >
      <span className="mcell-verdict" aria-hidden="true">
        {cell.allowed ? '✓' : '✕'}
      </span>
      {o && (
        <span className={`mcell-obs obs-${state} ${stale ? 'obs-old' : ''}`} aria-hidden="true">
          <span className="obs-dot" />
          {o.total > 999 ? '999+' : o.total}
          {o.plaintext > 0 ? (
            <span className="conn-plain">{Icons.unlock(11)}</span>
          ) : o.mtls > 0 ? (
            <span className="conn-mtls">{Icons.lock(11)}</span>
          ) : null}
        </span>
      )}
      {off && (
        <span className="mcell-warn" aria-hidden="true">
          !
        </span>
      )}
    </button>
  );
}

function CellDetail({
  cell,
  observed: o,
  configVersion
}: {
  cell: AccessCell | null;
  observed: ObservedCall | undefined;
  configVersion: number | null;
}) {
  const setFilter = useMesh((s) => s.setFilter);
  const setView = useMesh((s) => s.setView);
  return (
    <div className="cell-detail" data-testid="matrix-detail" aria-live="polite">
      {!cell ? (
        <p className="txt-faint small">
          Select a cell (click, or arrow keys and Enter) to see the reason and the calls seen.
        </p>
      ) : (
        <>
          <p>
            <strong>{callerText(cell.from)}</strong> → <strong>{cell.to}</strong>:{' '}
            <span className={cell.allowed ? 'txt-ok' : 'txt-err'}>{cell.allowed ? 'allowed' : 'denied'}</span> for{' '}
            <code>GET /</code>. <span className="txt-muted">{cell.reason}</span>
          </p>
          <p className="small">
            {observedText(o, configVersion)}
            {contradicts(cell, o, configVersion) && (
              <span className="txt-warn">
                {' '}
                What was seen differs from the <code>GET /</code> verdict: a policy matches on paths, methods or
                headers.
              </span>
            )}
          </p>
          {o && (
            <button
              type="button"
              className="btn btn-small"
              data-testid="matrix-show-traffic"
              onClick={() => {
                // the calls from this caller ("unknown" = without sidecar) that reached this workload
                setFilter({ service: '', status: '', flag: '', text: '', caller: cell.from, workload: cell.to });
                setView('traffic');
              }}
            >
              Show these calls in Traffic
            </button>
          )}
        </>
      )}
    </div>
  );
}

function Legend() {
  return (
    <ul className="legend" aria-label="Legend">
      <li>
        <span className="mcell mcell-allowed legend-swatch" aria-hidden="true">
          <span className="mcell-verdict">✓</span>
        </span>
        allowed by policy
      </li>
      <li>
        <span className="mcell mcell-denied legend-swatch" aria-hidden="true">
          <span className="mcell-verdict">✕</span>
        </span>
        denied (403 RBAC, or refused by STRICT mTLS)
      </li>
      <li>
        <span className="mcell-obs obs-allowed" aria-hidden="true">
          <span className="obs-dot" />n
        </span>
        calls seen, answered
      </li>
      <li>
        <span className="mcell-obs obs-denied" aria-hidden="true">
          <span className="obs-dot" />n
        </span>
        calls seen, denied by policy
      </li>
      <li>
        <span className="mcell-obs obs-mixed" aria-hidden="true">
          <span className="obs-dot" />n
        </span>
        some denied, or failed (5xx)
      </li>
      <li>
        <span className="mcell-obs obs-allowed obs-old" aria-hidden="true">
          <span className="obs-dot" />n
        </span>
        faded: seen under an earlier config that decided otherwise
      </li>
      <li>
        <span className="conn-mtls" aria-hidden="true">
          {Icons.lock(12)}
        </span>
        over mutual TLS
      </li>
      <li>
        <span className="conn-plain" aria-hidden="true">
          {Icons.unlock(12)}
        </span>
        plaintext seen
      </li>
      <li>
        <span className="mcell-warn legend-warn" aria-hidden="true">
          !
        </span>
        seen ≠ verdict (path- or method-specific rule)
      </li>
    </ul>
  );
}
