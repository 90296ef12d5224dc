/**
 * Graph: who calls whom over a chosen window, live. Services are boxes holding their workloads; edges carry
 * req/s, error %, p50/p99 and the mTLS lock; node borders show health. Clicking (or Enter on) an edge opens its
 * panel: "Show in Traffic" and "Inject a fault on this edge".
 */
import { useEffect } from 'react';
import { GraphCanvas, GraphLegend } from '../components/GraphCanvas.js';
import { GraphPanel } from '../components/GraphPanel.js';
import { WindowPicker } from '../components/MetricsWindowPicker.js';
import { Empty, ErrorText, Icons, Loading } from '../components/ui.js';
import { useMesh } from '../hooks.js';
import { formatClock } from '../lib/format.js';
import { windowText } from '../lib/metrics.js';

export function GraphView() {
  const watch = useMesh((s) => s.watchGraph);
  const graph = useMesh((s) => s.graph);
  const status = useMesh((s) => s.graphStatus);
  const error = useMesh((s) => s.graphError);
  const windowSec = useMesh((s) => s.graphWindowSec);
  const selection = useMesh((s) => s.graphSelection);
  const load = useMesh((s) => s.loadGraph);

  useEffect(() => watch(), [watch]);

  // The graph on screen belongs to another window while a new one loads: show it dimmed.
  const stale = graph !== null && graph.windowSec !== windowSec;
  const empty = graph !== null && graph.edges.length === 0 && graph.nodes.every((n) => n.requests === 0);

  let body;
  if (status === 'error' || (status !== 'ready' && graph === null && error !== null)) {
    body = (
      <div className="inline-error graph-message" data-testid="graph-error">
        <ErrorText error={error} />
        <button type="button" className="btn btn-small" onClick={() => void load()}>
          Retry
        </button>
      </div>
    );
  } else if (graph === null) {
    body = (
      <div className="graph-message">
        <Loading label="Loading the graph…" />
      </div>
    );
  } else if (empty) {
    body = (
      <Empty title={`No calls observed in ${windowText(graph.windowSec)}`} testId="graph-empty" icon={Icons.graph()}>
        <p>
          Call your services (open the app, run your tests, or <code>curl</code> through a sidecar) and the calls show
          up here as edges within a few seconds. A longer window shows older calls.
        </p>
      </Empty>
    );
  } else {
    body = (
      <div className={`graph-main ${stale ? 'graph-stale' : ''}`}>
        <GraphCanvas graph={graph} />
        {selection && <GraphPanel graph={graph} selection={selection} />}
      </div>
    );
  }

  return (
    <section className="page graph-page" aria-label="Graph" data-testid="graph-view" data-status={status}>
      <Toolbar />
      {body}
      {graph !== null && !empty && status !== 'error' && <GraphLegend />}
    </section>
  );
}

function Toolbar() {
  const graph = useMesh((s) => s.graph);
  const status = useMesh((s) => s.graphStatus);
  const error = useMesh((s) => s.graphError);
  const windowSec = useMesh((s) => s.graphWindowSec);
  const setWindow = useMesh((s) => s.setGraphWindow);
  const live = useMesh((s) => s.graphLive);
  const setLive = useMesh((s) => s.setGraphLive);
  const loadedAt = useMesh((s) => s.graphLoadedAt);
  const load = useMesh((s) => s.loadGraph);
  const workloads = graph?.nodes.filter((n) => n.kind === 'workload').length ?? 0;
  const edges = graph?.edges.length ?? 0;
  return (
    <div className="toolbar graph-toolbar" role="toolbar" aria-label="Graph options">
      <WindowPicker value={windowSec} onChange={setWindow} testId="graph-window" />
      <label className="graph-live" title="Refresh every 2 seconds and when new calls arrive">
        <input type="checkbox" data-testid="graph-live" checked={live} onChange={(e) => setLive(e.target.checked)} />
        Live
      </label>
      {!live && (
        <button type="button" className="btn btn-small" data-testid="graph-refresh" onClick={() => void load()}>
          Refresh
        </button>
      )}
      {status === 'loading' && graph !== null && <span className="spinner" role="status" aria-label="Loading" />}
      <span className="toolbar-spacer" />
      {graph !== null && (
        <span className="count" data-testid="graph-count">
          {workloads} workload{workloads === 1 ? '' : 's'} · {edges} edge{edges === 1 ? '' : 's'}
          {loadedAt !== null && <> · updated {formatClock(new Date(loadedAt).toISOString()).slice(0, 8)}</>}
        </span>
      )}
      {status === 'ready' && error && (
        <span className="graph-refresh-error" data-testid="graph-refresh-error" title={error.message}>
          Refresh failed ({error.code}); showing the last graph
        </span>
      )}
    </div>
  );
}
