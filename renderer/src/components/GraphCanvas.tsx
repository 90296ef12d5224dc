/**
 * The service graph drawn with React Flow: one box per service holding its workloads, `unknown` callers and
 * external hosts on their own, observed calls as edges labelled with req/s, error %, p50/p99 and the mTLS state.
 * Positions come from `layoutGraph` (deterministic, callers left of the services they call); nothing is draggable.
 * Every workload and every edge label is a real button: Tab reaches it, Enter (or a click) opens its panel.
 */
import {
  BaseEdge,
  Background,
  BackgroundVariant,
  Controls,
  EdgeLabelRenderer,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  getBezierPath,
  type Edge,
  type EdgeProps,
  type Node,
  type NodeProps,
  type ReactFlowInstance
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { useEffect, useMemo, useRef, useState, type FocusEvent, type RefObject } from 'react';
import type { GraphEdge, GraphNode, GraphView, Health } from '../../../main/contract/api.js';
import { useMesh } from '../hooks.js';
import { formatDuration, formatPercent, formatRate } from '../lib/format.js';
import {
  LOOP_LABEL_RISE,
  NODE_H,
  NODE_W,
  edgeLabelPositions,
  layoutGraph,
  topologyKey,
  type LabelPos
} from '../lib/graph-layout.js';
import { Icons } from './ui.js';

type WorkloadNode = Node<{ node: GraphNode }, 'graphNode'>;
type ServiceNode = Node<{ service: string; namespace: string | null; count: number }, 'graphService'>;
type CallEdge = Edge<{ edge: GraphEdge; fromLabel: string; toLabel: string; label: LabelPos | undefined }, 'graphCall'>;

const HEALTH_TEXT: Record<Health, string> = {
  healthy: 'healthy',
  degraded: 'degraded (some errors)',
  failing: 'failing (many errors)',
  idle: 'idle (no requests in the window)'
};

const MTLS_TEXT: Record<GraphEdge['mtls'], string> = {
  mutual_tls: 'mutual TLS',
  none: 'plaintext (no mutual TLS)',
  mixed: 'mixed: some calls used mutual TLS, some did not'
};

/**
 * The graph item (`edge:<id>` or `node:<id>`) whose button has the keyboard focus. A refresh that adds or drops an
 * edge or node remounts the canvas (a fresh fit for the new topology), which would drop the focus on the page body;
 * the item's new button takes it back, so Tab, Enter and Escape keep working on a live graph.
 */
let focusedItem: string | null = null;

/** Props for a graph item's button that keep its focus across a remount of the canvas. */
function useKeptFocus(item: string): {
  ref: RefObject<HTMLButtonElement | null>;
  onFocus: () => void;
  onBlur: (e: FocusEvent) => void;
} {
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const active = document.activeElement;
    if (focusedItem === item && (active === null || active === document.body)) ref.current?.focus();
  }, [item]);
  return {
    ref,
    onFocus: () => {
      focusedItem = item;
    },
    // Focus that moves to another element was moved on purpose; a removed button loses it with no new target.
    onBlur: (e) => {
      if (e.relatedTarget !== null && focusedItem === item) focusedItem = null;
    }
  };
}

/** Error level of a rate: what colour an edge or a number gets. */
export function errorLevel(rate: number): 'ok' | 'warn' | 'err' {
  return rate >= 0.2 ? 'err' : rate > 0 ? 'warn' : 'ok';
}

export function MtlsIcon({ mtls, testId }: { mtls: GraphEdge['mtls']; testId?: string }) {
  const label = MTLS_TEXT[mtls];
  return (
    <span
      className={`graph-mtls graph-mtls-${mtls}`}
      role="img"
      aria-label={label}
      title={label}
      data-testid={testId}
      data-mtls={mtls}
    >
      {mtls === 'mutual_tls' ? Icons.lock(12) : mtls === 'none' ? Icons.unlock(12) : HalfLock()}
    </span>
  );
}

function HalfLock() {
  return (
    <svg
      width={12}
      height={12}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.8"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
    >
      <rect x="5" y="11" width="14" height="10" rx="2" />
      <path d="M12 11h5a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2h-5z" fill="currentColor" stroke="none" />
      <path d="M8 11V7a4 4 0 0 1 8 0v4" />
    </svg>
  );
}

export function nodeCaption(n: GraphNode): string {
  if (n.kind === 'unknown') return 'callers without a sidecar';
  if (n.kind === 'external') return 'outside the mesh';
  if (n.kind === 'service') return 'service (no workload known)';
  return n.namespace ?? '';
}

function WorkloadNodeView({ data }: NodeProps<WorkloadNode>) {
  const n = data.node;
  const select = useMesh((s) => s.selectGraphItem);
  const selected = useMesh((s) => s.graphSelection?.kind === 'node' && s.graphSelection.id === n.id);
  const level = errorLevel(n.errorRate);
  const focus = useKeptFocus(`node:${n.id}`);
  return (
    <div className={`graph-node graph-node-${n.kind} graph-health-${n.health} ${selected ? 'graph-selected' : ''}`}>
      <Handle type="target" position={Position.Left} isConnectable={false} className="graph-handle" />
      <button
        type="button"
        {...focus}
        className="graph-node-button nodrag nopan"
        data-testid="graph-node"
        data-node={n.id}
        data-kind={n.kind}
        data-health={n.health}
        aria-pressed={selected}
        aria-label={`${n.label}: ${HEALTH_TEXT[n.health]}, ${n.requests} requests, ${formatPercent(n.errorRate)} errors`}
        title={`${n.label} — ${HEALTH_TEXT[n.health]}`}
        onClick={() => select({ kind: 'node', id: n.id })}
      >
        <span className="graph-node-title">
          <span className={`graph-dot graph-dot-${n.health}`} aria-hidden="true" />
          <span className="graph-node-label">{n.label}</span>
        </span>
        <span className="graph-node-sub">
          {n.kind === 'workload' ? (
            <>
              <span>{n.requests} req</span>
              <span className={`graph-err-${level}`}>{formatPercent(n.errorRate)} err</span>
            </>
          ) : (
            <span>{nodeCaption(n)}</span>
          )}
        </span>
      </button>
      <Handle type="source" position={Position.Right} isConnectable={false} className="graph-handle" />
    </div>
  );
}

function ServiceNodeView({ data }: NodeProps<ServiceNode>) {
  const openMetrics = useMesh((s) => s.openMetrics);
  const known = useMesh((s) => s.workloads.some((w) => w.service === data.service));
  return (
    <div
      className="graph-group"
      data-testid="graph-service"
      data-service={data.service}
      aria-label={`Service ${data.service}`}
    >
      <div className="graph-group-head">
        <span className="graph-group-name">{data.service}</span>
        {data.namespace && <span className="graph-group-ns">{data.namespace}</span>}
        {known && (
          <button
            type="button"
            className="graph-group-metrics nodrag nopan"
            data-testid="graph-service-metrics"
            title={`Metrics of ${data.service}`}
            aria-label={`Metrics of ${data.service}`}
            onClick={() => openMetrics(data.service)}
          >
            {Icons.chart()}
          </button>
        )}
      </div>
    </div>
  );
}

/**
 * A call from a workload to itself: a loop above the node, its label above the loop and above the service group's
 * title (which sits right over the node).
 */
function loopPath(x: number, y: number, tx: number, ty: number): [string, number, number] {
  const path = `M ${x} ${y} C ${x + 70} ${y - 110}, ${tx - 70} ${ty - 110}, ${tx} ${ty}`;
  return [path, (x + tx) / 2, Math.min(y, ty) - LOOP_LABEL_RISE];
}

export function edgeSummary(e: GraphEdge): string {
  return `${formatRate(e.rps)} req/s · ${formatPercent(e.errorRate)} errors · p50 ${formatDuration(e.p50Ms)} · p99 ${formatDuration(e.p99Ms)} · ${MTLS_TEXT[e.mtls]}`;
}

function CallEdgeView(props: EdgeProps<CallEdge>) {
  const { id, source, target, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, markerEnd, style } =
    props;
  const e = props.data!.edge;
  const select = useMesh((s) => s.selectGraphItem);
  const selected = useMesh((s) => s.graphSelection?.kind === 'edge' && s.graphSelection.id === e.id);
  const [path, midX, midY] =
    source === target
      ? loopPath(sourceX, sourceY, targetX, targetY)
      : getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  // The layout places every label clear of the boxes and of each other (React Flow's middle point as a fallback).
  const labelX = props.data!.label?.x ?? midX;
  const labelY = props.data!.label?.y ?? midY;
  const level = errorLevel(e.errorRate);
  const focus = useKeptFocus(`edge:${e.id}`);
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        style={style}
        className={`graph-edge-path graph-edge-${level} graph-edge-mtls-${e.mtls} ${selected ? 'graph-selected' : ''}`}
        interactionWidth={14}
      />
      <EdgeLabelRenderer>
        <button
          type="button"
          {...focus}
          className={`graph-edge-label graph-edge-label-${level} nodrag nopan ${selected ? 'graph-selected' : ''}`}
          style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          data-testid="graph-edge"
          data-edge={e.id}
          data-from={e.from}
          data-to={e.to}
          data-mtls={e.mtls}
          aria-pressed={selected}
          aria-label={`Calls from ${props.data!.fromLabel} to ${props.data!.toLabel}: ${edgeSummary(e)}`}
          title={`${props.data!.fromLabel} → ${props.data!.toLabel}\n${edgeSummary(e)}`}
          onClick={() => select({ kind: 'edge', id: e.id })}
        >
          <span className="graph-edge-line">
            <MtlsIcon mtls={e.mtls} />
            <strong>{formatRate(e.rps)}</strong> req/s
            <span className={`graph-err-${level}`}>{formatPercent(e.errorRate)}</span>
          </span>
          <span className="graph-edge-line graph-edge-latency">
            {formatDuration(e.p50Ms)} / {formatDuration(e.p99Ms)}
          </span>
        </button>
      </EdgeLabelRenderer>
    </>
  );
}

const nodeTypes = { graphNode: WorkloadNodeView, graphService: ServiceNodeView };
const edgeTypes = { graphCall: CallEdgeView };

const EDGE_COLOUR = { ok: 'var(--graph-edge)', warn: 'var(--warn)', err: 'var(--err)' } as const;

/** React Flow nodes and edges for a graph (service boxes first: a parent must precede its children). */
export function flowElements(graph: GraphView): { nodes: (WorkloadNode | ServiceNode)[]; edges: CallEdge[] } {
  const layout = layoutGraph(graph.nodes, graph.edges);
  const labels = edgeLabelPositions(layout);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  // The namespace is shown on the service boxes only when the graph spans more than one.
  const namespaces = new Set(layout.groups.map((g) => g.namespace));
  const nodes: (WorkloadNode | ServiceNode)[] = layout.groups.map((g) => ({
    id: g.id,
    type: 'graphService',
    position: { x: g.x, y: g.y },
    data: { service: g.service, namespace: namespaces.size > 1 ? g.namespace : null, count: g.nodeIds.length },
    style: { width: g.width, height: g.height },
    width: g.width,
    height: g.height,
    selectable: false,
    focusable: false,
    draggable: false
  }));
  for (const l of layout.nodes) {
    nodes.push({
      id: l.id,
      type: 'graphNode',
      position: l.groupId ? { x: l.relX, y: l.relY } : { x: l.x, y: l.y },
      ...(l.groupId ? { parentId: l.groupId, extent: 'parent' as const } : {}),
      data: { node: byId.get(l.id)! },
      style: { width: NODE_W, height: NODE_H },
      width: NODE_W,
      height: NODE_H,
      selectable: false,
      focusable: false,
      draggable: false
    });
  }
  const edges: CallEdge[] = layout.edges.map((e) => {
    const level = errorLevel(e.errorRate);
    const colour = EDGE_COLOUR[level];
    return {
      id: e.id,
      type: 'graphCall',
      source: e.from,
      target: e.to,
      data: { edge: e, fromLabel: byId.get(e.from)!.label, toLabel: byId.get(e.to)!.label, label: labels.get(e.id) },
      markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: colour },
      style: {
        stroke: colour,
        strokeWidth: 1.4 + Math.min(2.6, Math.log10(1 + e.rps) * 1.6),
        strokeDasharray: e.mtls === 'none' ? '6 4' : e.mtls === 'mixed' ? '12 3 3 3' : undefined
      },
      selectable: false,
      focusable: false
    };
  });
  return { nodes, edges };
}

const FIT_OPTIONS = { padding: 0.12, maxZoom: 1.2 };
/** A resize of the canvas (the window, the side panel) waits this long for the next one before the graph re-fits. */
export const REFIT_DELAY_MS = 150;

/**
 * The canvas re-fits the graph when it is resized (the window, the side panel opening or closing), as the first
 * fit did, until the user pans or zooms by hand: a view the user moved stays where they put it. The Controls' "fit
 * view" button, or a new topology (a fresh canvas), makes it follow the size again. `data-view` says which
 * ("fitted" or "moved"); `data-settled-width` is the width of the last resize handled.
 */
export function GraphCanvas({ graph }: { graph: GraphView }) {
  const theme = useMesh((s) => s.theme);
  const clear = useMesh((s) => s.selectGraphItem);
  const { nodes, edges } = useMemo(() => flowElements(graph), [graph]);
  // A new set of nodes or edges gets a fresh canvas fitted to it; new numbers on the same graph keep the viewport.
  const key = useMemo(() => topologyKey(graph.nodes, graph.edges), [graph]);
  const wrapRef = useRef<HTMLDivElement>(null);
  const flowRef = useRef<ReactFlowInstance<WorkloadNode | ServiceNode, CallEdge> | null>(null);
  const [moved, setMoved] = useState(false);
  const movedRef = useRef(false);
  const markMoved = (value: boolean): void => {
    movedRef.current = value;
    setMoved(value);
  };
  // a fresh canvas for a new topology starts fitted
  useEffect(() => markMoved(false), [key]);
  useEffect(() => {
    const el = wrapRef.current;
    if (!el) return;
    let last = { w: el.clientWidth, h: el.clientHeight };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ro = new ResizeObserver(() => {
      const size = { w: el.clientWidth, h: el.clientHeight };
      if (size.w === last.w && size.h === last.h) return;
      last = size;
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!movedRef.current && flowRef.current) {
          const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
          void flowRef.current.fitView({ ...FIT_OPTIONS, duration: still ? 0 : 200 });
        }
        el.dataset.settledWidth = String(size.w);
      }, REFIT_DELAY_MS);
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      clearTimeout(timer);
    };
  }, []);
  return (
    <div className="graph-canvas" data-testid="graph-canvas" data-view={moved ? 'moved' : 'fitted'} ref={wrapRef}>
      <ReactFlow
        key={key}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        colorMode={theme}
        fitView
        fitViewOptions={FIT_OPTIONS}
        minZoom={0.2}
        maxZoom={2}
        nodesDraggable={false}
        nodesConnectable={false}
        nodesFocusable={false}
        edgesFocusable={false}
        elementsSelectable={false}
        zoomOnDoubleClick={false}
        onInit={(flow) => {
          flowRef.current = flow;
        }}
        // the view moved by the user has an event (a drag, the wheel, a pinch); the re-fits and the Controls have
        // none (and a click on the pane starts a gesture that moves nothing)
        onMove={(event) => {
          if (event && !movedRef.current) markMoved(true);
        }}
        onPaneClick={() => clear(null)}
      >
        <Background variant={BackgroundVariant.Dots} gap={18} size={1} />
        <Controls
          showInteractive={false}
          fitViewOptions={FIT_OPTIONS}
          onZoomIn={() => markMoved(true)}
          onZoomOut={() => markMoved(true)}
          onFitView={() => markMoved(false)}
        />
      </ReactFlow>
    </div>
  );
}

export function GraphLegend() {
  return (
    <div className="graph-legend" aria-label="Legend" data-testid="graph-legend">
      <span className="graph-legend-item">
        <span className="graph-dot graph-dot-healthy" aria-hidden="true" /> healthy
      </span>
      <span className="graph-legend-item">
        <span className="graph-dot graph-dot-degraded" aria-hidden="true" /> degraded
      </span>
      <span className="graph-legend-item">
        <span className="graph-dot graph-dot-failing" aria-hidden="true" /> failing
      </span>
      <span className="graph-legend-item">
        <span className="graph-dot graph-dot-idle" aria-hidden="true" /> idle
      </span>
      <span className="graph-legend-sep" aria-hidden="true" />
      <span className="graph-legend-item">
        <MtlsIcon mtls="mutual_tls" /> mutual TLS
      </span>
      <span className="graph-legend-item">
        <MtlsIcon mtls="none" /> plaintext (dashed)
      </span>
      <span className="graph-legend-item">
        <MtlsIcon mtls="mixed" /> mixed
      </span>
      <span className="graph-legend-sep" aria-hidden="true" />
      <span className="graph-legend-item">edge labels: req/s · errors · p50 / p99</span>
    </div>
  );
}
