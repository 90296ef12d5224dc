/** Services: every workload grouped by service, with its wiring, process, traffic numbers, logs and fault switch. */
import { useEffect, useRef, useState } from 'react';
import type { WorkloadView } from '../../../main/contract/api.js';
import { Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { useMesh } from '../hooks.js';
import { MAX_LOG_LINES } from '../store/services-slice.js';
import { formatPercent, formatRate } from '../lib/format.js';
import type { FaultSummary } from '../lib/istio.js';
import {
  EMPTY_STATS,
  overallProcessState,
  selectFaults,
  selectServiceGroups,
  selectServiceStats,
  selectWorkloadStats,
  type ServiceGroup,
  type TrafficStats
} from '../store/selectors.js';

export function ServicesView() {
  const status = useMesh((s) => s.workloadsStatus);
  const error = useMesh((s) => s.workloadsError);
  const groups = useMesh(selectServiceGroups);
  const workloads = useMesh((s) => s.workloads.length);
  const load = useMesh((s) => s.loadWorkloads);

  return (
    <section className="page" aria-labelledby="services-title">
      <header className="page-head">
        <div>
          <h1 id="services-title">Services</h1>
          {status === 'ready' && groups.length > 0 && (
            <p className="page-sub">
              {groups.length} service{groups.length === 1 ? '' : 's'} · {workloads} workload{workloads === 1 ? '' : 's'}
              . Each app sends its calls through its outbound sidecar; each instance is reached through its inbound
              sidecar.
            </p>
          )}
        </div>
      </header>
      {status === 'loading' && groups.length === 0 && <Loading label="Loading workloads…" />}
      {status === 'error' && (
        <div className="inline-error">
          <ErrorText error={error} />
          <button type="button" className="btn btn-small" onClick={() => void load()}>
            Retry
          </button>
        </div>
      )}
      {status === 'ready' && groups.length === 0 && (
        <Empty title="No workloads yet" icon={Icons.services()}>
          <p>
            Add a service with a workload to <code>localmesh.yaml</code> (under <code>spec.services</code>); the mesh
            reloads the file when you save it.
          </p>
        </Empty>
      )}
      <div className="service-list">
        {groups.map((g) => (
          <ServiceCard key={`${g.namespace}/${g.name}`} group={g} />
        ))}
      </div>
    </section>
  );
}

function StatsLine({ stats, testIds }: { stats: TrafficStats; testIds?: { rps: string; errors: string } }) {
  const errClass = stats.errorRate >= 0.2 ? 'txt-err' : stats.errorRate > 0 ? 'txt-warn' : 'txt-muted';
  return (
    <span
      className={`stats ${stats.requests === 0 ? 'stats-idle' : ''}`}
      title="Requests in the last 10 seconds (5xx and resets count as errors)"
    >
      <span className="stat">
        <strong data-testid={testIds?.rps}>{formatRate(stats.rps)}</strong> req/s
      </span>
      <span className="stat">
        <strong className={errClass} data-testid={testIds?.errors}>
          {formatPercent(stats.errorRate)}
        </strong>{' '}
        errors
      </span>
    </span>
  );
}

function ServiceCard({ group }: { group: ServiceGroup }) {
  const fault = useMesh((s) => selectFaults(s)[group.name] ?? null);
  const stats = useMesh((s) => selectServiceStats(s)[group.name] ?? EMPTY_STATS);
  const configReady = useMesh((s) => s.config !== null);
  const openMetrics = useMesh((s) => s.openMetrics);
  return (
    <article
      className="card service-card"
      data-testid="service-card"
      data-service={group.name}
      aria-label={`Service ${group.name}`}
    >
      <header className="service-head">
        <div className="service-title">
          <h2>{group.name}</h2>
          <span className="chip chip-muted" title="Namespace">
            {group.namespace}
          </span>
          <StatsLine stats={stats} />
          <button
            type="button"
            className="btn btn-small btn-ghost"
            data-testid="service-metrics"
            title={`Rate, errors and latency of ${group.name} over time`}
            onClick={() => openMetrics(group.name)}
          >
            {Icons.chart()} Metrics
          </button>
        </div>
        {configReady && <FaultSwitch service={group.name} fault={fault} />}
      </header>
      <div className="workloads">
        {group.workloads.map((w) => (
          <WorkloadRow key={w.name} workload={w} />
        ))}
      </div>
    </article>
  );
}

function FaultSwitch({ service, fault }: { service: string; fault: FaultSummary | null }) {
  const open = useMesh((s) => s.openQuickAction);
  const on = fault !== null;
  return (
    <div className={`fault ${on ? 'fault-on' : ''}`}>
      {on && (
        <span className="fault-summary" title={`${fault.resource} (${fault.file}:${fault.line})`}>
          {faultText(fault)}
        </span>
      )}
      {on && (
        <button
          type="button"
          className="btn btn-small"
          data-testid="fault-clear"
          onClick={() => open('clear-fault', service)}
        >
          Remove fault
        </button>
      )}
      <button
        type="button"
        role="switch"
        aria-checked={on}
        className="switch"
        data-testid="fault-toggle"
        data-state={on ? 'on' : 'off'}
        title={on ? `Remove the fault on ${service}` : `Inject a fault into calls to ${service}`}
        onClick={() => open(on ? 'clear-fault' : 'fault', service)}
      >
        <span className="switch-track" aria-hidden="true">
          <span className="switch-thumb" />
        </span>
        <span className="switch-label">Fault {on ? 'on' : 'off'}</span>
      </button>
    </div>
  );
}

const STATE_LABEL: Record<string, string> = {
  running: 'running',
  starting: 'starting',
  crashed: 'crashed',
  restarting: 'restarting',
  stopped: 'stopped',
  failed: 'failed'
};

function WorkloadRow({ workload: w }: { workload: WorkloadView }) {
  const stats = useMesh((s) => selectWorkloadStats(s)[w.name] ?? EMPTY_STATS);
  const op = useMesh((s) => s.processOps[w.name]);
  const restart = useMesh((s) => s.restartProcess);
  const stop = useMesh((s) => s.stopProcess);
  const [logsOpen, setLogsOpen] = useState(false);
  const restartRef = useRef<HTMLButtonElement>(null);
  // Restart and Stop are disabled while either runs, which drops the focus to the page: a keyboard user gets it back
  // on Restart (Stop stays disabled once the process stopped); a focus the user put elsewhere meanwhile stays.
  const refocus = (): void => {
    const active = document.activeElement;
    if (active === null || active === document.body) restartRef.current?.focus();
  };
  const state = overallProcessState(w);
  const managed = w.processes.length > 0;
  const logsId = `logs-${w.name}`;
  const upstreams = Object.entries(w.upstreams);

  return (
    <div className="workload-row" data-testid="workload-row" data-workload={w.name}>
      <div className="wl-main">
        <div className="wl-name">
          <strong>{w.name}</strong>
          <span className="labels">
            {Object.entries(w.labels).map(([k, v]) => (
              <span key={k} className="chip chip-label">
                {k}={v}
              </span>
            ))}
          </span>
        </div>
        <div className="wl-status">
          <span
            className={`badge ${w.sidecar ? 'badge-ok' : 'badge-muted'}`}
            title={w.sidecar ? 'Traffic passes a localmesh sidecar' : 'No sidecar: calls bypass the mesh'}
          >
            sidecar {w.sidecar ? 'yes' : 'no'}
          </span>
          {managed ? (
            <span
              className={`badge state state-${state}`}
              data-testid="process-state"
              data-state={state ?? undefined}
              title={processTitle(w)}
            >
              {STATE_LABEL[state ?? ''] ?? state}
            </span>
          ) : (
            <span
              className="badge badge-muted"
              data-testid="process-state"
              data-state="external"
              title="localmesh does not start this workload (no run: in the mesh file)"
            >
              not started by localmesh
            </span>
          )}
          <StatsLine stats={stats} testIds={{ rps: 'workload-rps', errors: 'workload-errors' }} />
        </div>
        <div className="wl-actions">
          {managed && (
            <>
              <button
                type="button"
                className="btn btn-small"
                data-testid="process-restart"
                ref={restartRef}
                disabled={op?.pending != null}
                onClick={() => void restart(w.name).then(refocus)}
              >
                {op?.pending === 'restart' ? 'Restarting…' : 'Restart'}
              </button>
              <button
                type="button"
                className="btn btn-small"
                data-testid="process-stop"
                disabled={op?.pending != null || state === 'stopped'}
                onClick={() => void stop(w.name).then(refocus)}
              >
                {op?.pending === 'stop' ? 'Stopping…' : 'Stop'}
              </button>
            </>
          )}
          <button
            type="button"
            className="btn btn-small btn-ghost"
            data-testid="workload-logs-toggle"
            aria-expanded={logsOpen}
            aria-controls={logsId}
            onClick={() => setLogsOpen((o) => !o)}
          >
            {Icons.chevron(logsOpen)} Logs
          </button>
        </div>
      </div>
      <ErrorText error={op?.error} className="wl-error" />
      <dl className="wl-wiring">
        <div>
          <dt>Outbound (HTTP_PROXY)</dt>
          <dd>
            {w.outbound ? (
              <code>{`${w.outbound.host}:${w.outbound.port}`}</code>
            ) : (
              <span className="txt-muted">none (no sidecar)</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Instances (inbound sidecar → app)</dt>
          <dd className="instances">
            {w.instances.map((i) => {
              const p = w.processes.find((x) => x.instance === i.address);
              return (
                <span key={i.address} className="instance">
                  <code>{i.inbound ? `${i.inbound.host}:${i.inbound.port} → ${i.address}` : i.address}</code>
                  {p && w.instances.length > 1 && <span className={`badge state state-${p.state}`}>{p.state}</span>}
                  {p?.pid != null && <span className="txt-faint"> pid {p.pid}</span>}
                  {p && p.restarts > 0 && (
                    <span className="txt-faint">
                      {' '}
                      · {p.restarts} restart{p.restarts === 1 ? '' : 's'}
                    </span>
                  )}
                  {p && p.lastExitCode !== null && p.state !== 'running' && (
                    <span className="txt-faint"> · exit {p.lastExitCode}</span>
                  )}
                </span>
              );
            })}
          </dd>
        </div>
        {upstreams.length > 0 && (
          <div className="wl-upstreams">
            <dt>Upstream URLs (&lt;SERVICE&gt;_URL)</dt>
            <dd>
              {upstreams.map(([svc, ep]) => (
                <span
                  key={svc}
                  className="upstream"
                  title={`${svc.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL=http://${ep.host}:${ep.port}`}
                >
                  <span className="upstream-name">{svc}</span>
                  <code>
                    http://{ep.host}:{ep.port}
                  </code>
                </span>
              ))}
            </dd>
          </div>
        )}
      </dl>
      {logsOpen && <LogPanel id={logsId} workload={w.name} managed={managed} />}
    </div>
  );
}

function processTitle(w: WorkloadView): string {
  return w.processes.map((p) => `${p.instance}: ${p.state}${p.pid ? ` (pid ${p.pid})` : ''} — ${p.command}`).join('\n');
}

function LogPanel({ id, workload, managed }: { id: string; workload: string; managed: boolean }) {
  const lines = useMesh((s) => s.logs[workload]);
  const history = useMesh((s) => s.logHistory[workload]);
  const loadLogs = useMesh((s) => s.loadLogs);
  const ref = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  // the lines the engine kept (printed before this window opened, or while it was away), then the live ones
  useEffect(() => {
    void loadLogs(workload);
  }, [loadLogs, workload]);
  useEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  const empty = !lines || lines.length === 0;
  return (
    <>
      {history?.status === 'error' && (
        <div className="inline-error" data-testid="workload-logs-error">
          <ErrorText error={history.error} />
          <button type="button" className="btn btn-small" onClick={() => void loadLogs(workload)}>
            Retry
          </button>
        </div>
      )}
      <pre
        id={id}
        ref={ref}
        className="log-panel"
        data-testid="workload-logs"
        data-status={history?.status ?? 'idle'}
        tabIndex={0}
        aria-label={`Log of ${workload}`}
        aria-busy={history?.status === 'loading' && empty}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {!empty ? (
          lines.map((l) => (
            <div key={l.seq} className={`log-line ${l.stream === 'stderr' ? 'log-err' : ''}`} title={l.at}>
              {l.line}
            </div>
          ))
        ) : history?.status === 'loading' ? (
          <span className="txt-muted">Loading output…</span>
        ) : history?.status === 'error' ? (
          <span className="txt-muted">The output could not be loaded.</span>
        ) : managed ? (
          <span className="txt-muted">
            No output yet. Lines the app prints to stdout and stderr appear here (the engine keeps the last{' '}
            {MAX_LOG_LINES}).
          </span>
        ) : (
          <span className="txt-muted">
            No output: localmesh does not start this workload (no <code>run:</code> in the mesh file).
          </span>
        )}
      </pre>
    </>
  );
}

/** "abort 503 (50%) on all 2 rules", "delay 2s on rule “jason”"; identical faults are said once. */
export function faultText(fault: FaultSummary): string {
  const byText = new Map<string, string[]>();
  for (const r of fault.rules)
    byText.set(r.text, [...(byText.get(r.text) ?? []), r.name ? `“${r.name}”` : `#${r.index}`]);
  return [...byText.entries()]
    .map(([text, rules]) => `${text} on ${rules.length === 1 ? `rule ${rules[0]}` : `rules ${rules.join(', ')}`}`)
    .join('; ');
}
