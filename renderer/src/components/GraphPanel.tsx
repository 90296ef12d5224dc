/**
 * The side panel of the Graph view: the numbers of the selected edge (with "Show in Traffic" and "Inject a fault on
 * this edge") or of the selected node (its calls in and out, its service's metrics). Escape closes it and puts the
 * focus back on the edge or node it was opened from.
 */
import { useEffect, useRef, type ReactNode } from 'react';
import type { GraphEdge, GraphNode, GraphView } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { formatDuration, formatPercent, formatRate, shortService } from '../lib/format.js';
import { nodeService } from '../lib/graph-layout.js';
import { windowText } from '../lib/metrics.js';
import type { GraphSelection } from '../store/graph-slice.js';
import { MtlsIcon, errorLevel, nodeCaption } from './GraphCanvas.js';
import { Icons } from './ui.js';

const MTLS_LONG: Record<GraphEdge['mtls'], string> = {
  mutual_tls: 'mutual TLS on every call',
  none: 'plaintext: no call used mutual TLS',
  mixed: 'mixed: some calls used mutual TLS'
};

/** Focus the edge label or node button a panel belongs to (after the panel closes). */
export function focusGraphItem(sel: GraphSelection): void {
  const attr = sel.kind === 'edge' ? 'data-edge' : 'data-node';
  const testId = sel.kind === 'edge' ? 'graph-edge' : 'graph-node';
  const el = [...document.querySelectorAll<HTMLElement>(`[data-testid="${testId}"]`)].find(
    (e) => e.getAttribute(attr) === sel.id
  );
  el?.focus();
}

export function GraphPanel({ graph, selection }: { graph: GraphView; selection: GraphSelection }) {
  const select = useMesh((s) => s.selectGraphItem);
  const ref = useRef<HTMLElement>(null);
  const close = (): void => {
    select(null);
    focusGraphItem(selection);
  };
  useEffect(() => {
    ref.current?.focus();
  }, [selection.kind, selection.id]);

  const edge = selection.kind === 'edge' ? graph.edges.find((e) => e.id === selection.id) : undefined;
  const node = selection.kind === 'node' ? graph.nodes.find((n) => n.id === selection.id) : undefined;
  if (!edge && !node) return null;
  const labelOf = (id: string): string => graph.nodes.find((n) => n.id === id)?.label ?? id;

  return (
    <aside
      ref={ref}
      className="graph-panel"
      data-testid="graph-panel"
      data-kind={selection.kind}
      data-id={selection.id}
      tabIndex={-1}
      aria-labelledby="graph-panel-title"
      onKeyDown={(e) => {
        if (e.key === 'Escape' && !e.defaultPrevented) {
          e.preventDefault();
          close();
        }
      }}
    >
      <header className="graph-panel-head">
        <h2 id="graph-panel-title">
          {edge ? (
            <>
              {labelOf(edge.from)} <span className="txt-muted">→</span> {labelOf(edge.to)}
            </>
          ) : (
            node!.label
          )}
        </h2>
        <button
          type="button"
          className="btn btn-small btn-ghost"
          data-testid="graph-panel-close"
          aria-label="Close"
          title="Close (Esc)"
          onClick={close}
        >
          {Icons.close()}
        </button>
      </header>
      {edge ? <EdgeDetail edge={edge} graph={graph} /> : <NodeDetail node={node!} graph={graph} />}
    </aside>
  );
}

function Stat({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={testId}>{children}</dd>
    </>
  );
}

function EdgeDetail({ edge, graph }: { edge: GraphEdge; graph: GraphView }) {
  const showInTraffic = useMesh((s) => s.showEdgeInTraffic);
  const injectFault = useMesh((s) => s.injectFaultOnEdge);
  const openMetrics = useMesh((s) => s.openMetrics);
  const target = useMesh((s) => s.edgeFaultTarget(edge.id));
  const configReady = useMesh((s) => s.config !== null);
  const from = graph.nodes.find((n) => n.id === edge.from);
  const caller = from?.kind === 'unknown' ? 'callers without a sidecar' : (from?.label ?? edge.from);
  const service = target ?? shortService(edge.service) ?? edge.to;
  const level = errorLevel(edge.errorRate);
  return (
    <div className="graph-panel-body">
      <p className="txt-muted small">
        Calls from <strong>{caller}</strong> to <strong>{service}</strong> in {windowText(graph.windowSec)}.
      </p>
      <dl className="graph-stats">
        <Stat label="Requests" testId="graph-edge-requests">
          {edge.requests}
        </Stat>
        <Stat label="Rate" testId="graph-edge-rps">
          {formatRate(edge.rps)} req/s
        </Stat>
        <Stat label="Errors" testId="graph-edge-errors">
          <span className={`graph-err-${level}`}>{formatPercent(edge.errorRate)}</span>
        </Stat>
        <Stat label="Latency p50" testId="graph-edge-p50">
          {formatDuration(edge.p50Ms)}
        </Stat>
        <Stat label="Latency p99" testId="graph-edge-p99">
          {formatDuration(edge.p99Ms)}
        </Stat>
        <Stat label="Security" testId="graph-edge-mtls">
          <span className="graph-mtls-text">
            <MtlsIcon mtls={edge.mtls} /> {MTLS_LONG[edge.mtls]}
          </span>
        </Stat>
        {edge.service && (
          <Stat label="Service">
            <code className="graph-fqdn">{edge.service}</code>
          </Stat>
        )}
      </dl>
      <div className="graph-panel-actions">
        <button
          type="button"
          className="btn btn-primary"
          data-testid="graph-edge-traffic"
          onClick={() => showInTraffic(edge.id)}
        >
          {Icons.traffic()} Show in Traffic
        </button>
        <button
          type="button"
          className="btn"
          data-testid="graph-edge-fault"
          disabled={target === null || !configReady}
          onClick={() => injectFault(edge.id)}
        >
          {Icons.bolt()} Inject a fault on this edge
        </button>
        {target !== null && (
          <button type="button" className="btn" data-testid="graph-edge-metrics" onClick={() => openMetrics(target)}>
            {Icons.chart()} Metrics of {target}
          </button>
        )}
      </div>
      <p className="note small" data-testid="graph-edge-fault-note">
        {target === null
          ? `${service} is not a service of this mesh: a fault can only be injected into the mesh's own services.`
          : `The fault is written to the VirtualService of ${target} with a sourceLabels match on ${caller}, so only this edge fails (a caller without a sidecar is never matched: VirtualServices apply at the caller's sidecar).`}
      </p>
    </div>
  );
}

function EdgeList({ title, edges, label }: { title: string; edges: GraphEdge[]; label: (e: GraphEdge) => string }) {
  const select = useMesh((s) => s.selectGraphItem);
  if (edges.length === 0) return null;
  return (
    <div className="graph-edge-list">
      <h3>{title}</h3>
      <ul>
        {edges.map((e) => (
          <li key={e.id}>
            <button
              type="button"
              className="graph-edge-link"
              data-testid="graph-node-edge"
              onClick={() => select({ kind: 'edge', id: e.id })}
            >
              <MtlsIcon mtls={e.mtls} />
              <span className="graph-edge-link-name">{label(e)}</span>
              <span className="txt-muted">{formatRate(e.rps)} req/s</span>
              <span className={`graph-err-${errorLevel(e.errorRate)}`}>{formatPercent(e.errorRate)}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

function NodeDetail({ node, graph }: { node: GraphNode; graph: GraphView }) {
  const openMetrics = useMesh((s) => s.openMetrics);
  const showNode = useMesh((s) => s.showNodeInTraffic);
  const svc = nodeService(node);
  const known = useMesh((s) => svc !== null && s.workloads.some((w) => w.service === svc));
  const labelOf = (id: string): string => graph.nodes.find((n) => n.id === id)?.label ?? id;
  const incoming = graph.edges.filter((e) => e.to === node.id);
  const outgoing = graph.edges.filter((e) => e.from === node.id);
  return (
    <div className="graph-panel-body">
      <p className="txt-muted small">
        {node.kind === 'workload' ? `Workload of ${svc ?? 'no service'}` : nodeCaption(node)}, in{' '}
        {windowText(graph.windowSec)}.
      </p>
      <dl className="graph-stats">
        <Stat label="Health" testId="graph-node-health">
          <span className="graph-health-text">
            <span className={`graph-dot graph-dot-${node.health}`} aria-hidden="true" /> {node.health}
          </span>
        </Stat>
        <Stat label="Requests served">{node.requests}</Stat>
        <Stat label="Errors">
          <span className={`graph-err-${errorLevel(node.errorRate)}`}>{formatPercent(node.errorRate)}</span>
        </Stat>
        {node.namespace && <Stat label="Namespace">{node.namespace}</Stat>}
      </dl>
      <EdgeList title="Called by" edges={incoming} label={(e) => labelOf(e.from)} />
      <EdgeList title="Calls" edges={outgoing} label={(e) => labelOf(e.to)} />
      <div className="graph-panel-actions">
        <button type="button" className="btn" data-testid="graph-node-traffic" onClick={() => showNode(node.id)}>
          {Icons.traffic()} Show in Traffic
        </button>
        {svc !== null && known && (
          <button type="button" className="btn" data-testid="graph-node-metrics" onClick={() => openMetrics(svc)}>
            {Icons.chart()} Metrics of {svc}
          </button>
        )}
      </div>
    </div>
  );
}
