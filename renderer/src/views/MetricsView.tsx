/**
 * Metrics: one service's request rate, error rate and latency percentiles (p50/p90/p99) over a chosen window, as
 * uPlot charts that follow the theme and the window's width. Refreshed while on screen.
 */
import { useEffect, useMemo } from 'react';
import { MetricsChart } from '../components/MetricsChart.js';
import { WindowPicker } from '../components/MetricsWindowPicker.js';
import { Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { useMesh } from '../hooks.js';
import { formatClock, formatDuration, formatPercent, formatRate } from '../lib/format.js';
import { chartColumns, summarize, tickLabels, windowText } from '../lib/metrics.js';
import { servicesOf } from '../lib/quick.js';

const fmtRate = (v: number): string => formatRate(v);
const fmtPct = (v: number): string => `${v >= 10 ? Math.round(v) : Number(v.toFixed(1))}%`;
const fmtMs = (v: number): string => (v === 0 ? '0' : formatDuration(v));
const rateTicks = (splits: number[]): string[] => tickLabels(splits);
const pctTicks = (splits: number[]): string[] => tickLabels(splits, '%');

export function MetricsView() {
  const watch = useMesh((s) => s.watchMetrics);
  const workloads = useMesh((s) => s.workloads);
  const service = useMesh((s) => s.metricsService);
  const setService = useMesh((s) => s.setMetricsService);
  const services = useMemo(() => servicesOf(workloads), [workloads]);

  useEffect(() => watch(), [watch]);
  // Workloads may arrive after the view opened: pick the first service then.
  useEffect(() => {
    if (service === null && services.length > 0) setService(services[0]!.name);
  }, [service, services, setService]);

  return (
    <section className="page metrics-page" aria-label="Metrics" data-testid="metrics-view">
      <Toolbar services={services.map((s) => s.name)} />
      <div className="metrics-body">
        {services.length === 0 ? (
          <Empty title="No services yet" icon={Icons.chart()} testId="metrics-no-services">
            <p>
              Add a service to <code>localmesh.yaml</code>; its request rate, errors and latency show up here once it is
              called.
            </p>
          </Empty>
        ) : (
          <Charts />
        )}
      </div>
    </section>
  );
}

function Toolbar({ services }: { services: string[] }) {
  const service = useMesh((s) => s.metricsService);
  const setService = useMesh((s) => s.setMetricsService);
  const windowSec = useMesh((s) => s.metricsWindowSec);
  const setWindow = useMesh((s) => s.setMetricsWindow);
  const status = useMesh((s) => s.metricsStatus);
  const error = useMesh((s) => s.metricsError);
  const loadedAt = useMesh((s) => s.metricsLoadedAt);
  const hasData = useMesh((s) => s.metrics !== null);
  return (
    <div className="toolbar" role="toolbar" aria-label="Metrics options">
      <label className="metrics-service-field">
        <span className="txt-muted">Service</span>
        <select
          data-testid="metrics-service"
          value={service ?? ''}
          onChange={(e) => setService(e.target.value)}
          aria-label="Service"
        >
          {service !== null && !services.includes(service) && <option value={service}>{service}</option>}
          {services.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <WindowPicker value={windowSec} onChange={setWindow} testId="metrics-window" />
      {status === 'loading' && hasData && <span className="spinner" role="status" aria-label="Loading" />}
      <span className="toolbar-spacer" />
      {loadedAt !== null && (
        <span className="count">updated {formatClock(new Date(loadedAt).toISOString()).slice(0, 8)}</span>
      )}
      {status === 'ready' && error && (
        <span className="graph-refresh-error" data-testid="metrics-refresh-error" title={error.message}>
          Refresh failed ({error.code}); showing the last data
        </span>
      )}
    </div>
  );
}

function Charts() {
  const metrics = useMesh((s) => s.metrics);
  const status = useMesh((s) => s.metricsStatus);
  const error = useMesh((s) => s.metricsError);
  const service = useMesh((s) => s.metricsService);
  const windowSec = useMesh((s) => s.metricsWindowSec);
  const load = useMesh((s) => s.loadMetrics);
  const cols = useMemo(() => (metrics ? chartColumns(metrics) : null), [metrics]);
  const sum = useMemo(() => (metrics ? summarize(metrics) : null), [metrics]);

  if (status === 'error') {
    return (
      <div className="inline-error" data-testid="metrics-error">
        <ErrorText error={error} />
        <button type="button" className="btn btn-small" onClick={() => void load()}>
          Retry
        </button>
      </div>
    );
  }
  if (metrics === null || cols === null || sum === null) return <Loading label="Loading metrics…" />;
  if (sum.requests === 0) {
    return (
      <Empty
        title={`No calls to ${service ?? 'this service'} in ${windowText(metrics.windowSec)}`}
        icon={Icons.chart()}
        testId="metrics-empty"
      >
        <p>Call the service (or pick a longer window) and its rate, errors and latency are charted here.</p>
      </Empty>
    );
  }
  const stale = metrics.windowSec !== windowSec;
  return (
    <div className={`metrics-grid ${stale ? 'graph-stale' : ''}`} data-testid="metrics-charts" data-service={service}>
      <div className="metrics-summary">
        <div className="metrics-figure card">
          <span className="metrics-figure-label">Requests</span>
          <strong data-testid="metrics-summary-requests">{sum.requests}</strong>
          <span className="txt-muted small">in {windowText(metrics.windowSec)}</span>
        </div>
        <div className="metrics-figure card">
          <span className="metrics-figure-label">Average rate</span>
          <strong data-testid="metrics-summary-rps">{formatRate(sum.rps)}</strong>
          <span className="txt-muted small">req/s</span>
        </div>
        <div className="metrics-figure card">
          <span className="metrics-figure-label">Errors</span>
          <strong
            data-testid="metrics-summary-errors"
            className={sum.errorRate >= 0.2 ? 'txt-err' : sum.errorRate > 0 ? 'txt-warn' : ''}
          >
            {formatPercent(sum.errorRate)}
          </strong>
          <span className="txt-muted small">5xx and local replies</span>
        </div>
        <div className="metrics-figure card">
          <span className="metrics-figure-label">Highest p99</span>
          <strong data-testid="metrics-summary-p99">
            {sum.maxP99Ms === null ? '–' : formatDuration(sum.maxP99Ms)}
          </strong>
          <span className="txt-muted small">per {metrics.stepSec} s bucket</span>
        </div>
      </div>
      <figure className="metrics-card card">
        <figcaption>Request rate (req/s)</figcaption>
        <MetricsChart
          testId="metrics-chart-rate"
          label="Request rate"
          t={cols.t}
          points={sum.busyPoints}
          format={fmtRate}
          ticks={rateTicks}
          lines={[{ label: 'req/s', colour: '--accent', values: cols.rps, fill: true }]}
        />
      </figure>
      <figure className="metrics-card card">
        <figcaption>Errors (% of requests)</figcaption>
        <MetricsChart
          testId="metrics-chart-errors"
          label="Error rate"
          t={cols.t}
          points={sum.busyPoints}
          format={fmtPct}
          ticks={pctTicks}
          lines={[{ label: 'errors', colour: '--err', values: cols.errors, fill: true, dots: true }]}
        />
      </figure>
      <figure className="metrics-card card">
        <figcaption>Latency percentiles</figcaption>
        <MetricsChart
          testId="metrics-chart-latency"
          label="Latency p50, p90, p99"
          t={cols.t}
          points={sum.busyPoints}
          format={fmtMs}
          lines={[
            { label: 'p50', colour: '--ok', values: cols.p50, dots: true },
            { label: 'p90', colour: '--warn', values: cols.p90, dash: [6, 3], dots: true },
            { label: 'p99', colour: '--err', values: cols.p99, dash: [2, 3], dots: true }
          ]}
        />
      </figure>
    </div>
  );
}
