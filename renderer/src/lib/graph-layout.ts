/**
 * A deterministic layered layout for the service graph (pure; unit-tested). No layout library: a mesh on a laptop
 * has a few dozen nodes at most.
 *
 * Workloads are clustered by service (one box per service, its workloads stacked inside); `unknown` callers,
 * external hosts and nodes without a service are clusters of their own. Clusters are placed in columns by call
 * depth (the longest chain of callers in front of them, so callers sit left of the services they call); cycles are
 * broken at the edge that closes them (depth-first, in name order). Inside a column, clusters are ordered by the
 * mean row of their callers (fewer crossings), then by name. The same graph always gives the same positions.
 */
import type { GraphEdge, GraphNode } from '../../../main/contract/api.js';
import { shortService } from './format.js';

export const NODE_W = 190;
export const NODE_H = 58;
/** Vertical gap between two workloads of one service. */
export const NODE_GAP = 10;
/** Padding inside a service box, and the height of its title. */
export const GROUP_PAD = 10;
export const GROUP_HEAD = 26;
/** Horizontal gap between columns, vertical gap between clusters of one column. */
export const COL_GAP = 150;
export const ROW_GAP = 30;

export interface LayoutGroup {
  /** "group:<namespace>/<service>". */
  id: string;
  service: string;
  namespace: string | null;
  x: number;
  y: number;
  width: number;
  height: number;
  column: number;
  /** Member node ids, top to bottom. */
  nodeIds: string[];
}

export interface LayoutNode {
  id: string;
  /** Absolute position (top left). */
  x: number;
  y: number;
  /** The service box holding the node, and the node's position inside it; null for a node on its own. */
  groupId: string | null;
  relX: number;
  relY: number;
  column: number;
}

export interface GraphLayout {
  groups: LayoutGroup[];
  nodes: LayoutNode[];
  /** Edges whose two ends are both nodes of the graph (others cannot be drawn). */
  edges: GraphEdge[];
  columns: number;
  width: number;
  height: number;
}

interface Cluster {
  key: string;
  group: boolean;
  service: string;
  namespace: string | null;
  members: GraphNode[];
  width: number;
  height: number;
  column: number;
  row: number;
  y: number;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Service short name of a node ("reviews" from "reviews.default.svc.cluster.local"); null without one. */
export function nodeService(n: GraphNode): string | null {
  if (n.service === null || n.service === '') return null;
  return shortService(n.service);
}

/** Workloads (and service placeholders) of one service share a box; everything else stands alone. */
export function clusterKey(n: GraphNode): string {
  const svc = nodeService(n);
  if (svc !== null && (n.kind === 'workload' || n.kind === 'service')) return `group:${n.namespace ?? ''}/${svc}`;
  return `node:${n.id}`;
}

/** Column of each cluster key: longest path from the clusters nobody calls, cycles broken depth-first. */
export function clusterDepths(keys: string[], links: [string, string][]): Map<string, number> {
  const sorted = [...keys].sort(cmp);
  const out = new Map<string, string[]>(sorted.map((k) => [k, []]));
  const indeg = new Map<string, number>(sorted.map((k) => [k, 0]));
  const seen = new Set<string>();
  for (const [a, b] of links) {
    if (a === b || !out.has(a) || !out.has(b) || seen.has(`${a}\u0000${b}`)) continue;
    seen.add(`${a}\u0000${b}`);
    out.get(a)!.push(b);
    indeg.set(b, indeg.get(b)! + 1);
  }
  for (const list of out.values()) list.sort(cmp);

  // Drop back edges (those closing a cycle), visiting the roots first so callers stay on the left.
  const state = new Map<string, 1 | 2>();
  const dag = new Map<string, string[]>(sorted.map((k) => [k, []]));
  const visit = (k: string): void => {
    state.set(k, 1);
    for (const n of out.get(k)!) {
      const s = state.get(n);
      if (s === 1) continue; // back edge
      dag.get(k)!.push(n);
      if (s === undefined) visit(n);
    }
    state.set(k, 2);
  };
  for (const k of sorted) if (indeg.get(k) === 0 && !state.has(k)) visit(k);
  for (const k of sorted) if (!state.has(k)) visit(k);

  // Longest path over the DAG, in topological order (Kahn, names in order for determinism).
  const deg = new Map<string, number>(sorted.map((k) => [k, 0]));
  for (const list of dag.values()) for (const n of list) deg.set(n, deg.get(n)! + 1);
  const depth = new Map<string, number>(sorted.map((k) => [k, 0]));
  const queue = sorted.filter((k) => deg.get(k) === 0);
  while (queue.length > 0) {
    const k = queue.shift()!;
    for (const n of dag.get(k)!) {
      depth.set(n, Math.max(depth.get(n)!, depth.get(k)! + 1));
      deg.set(n, deg.get(n)! - 1);
      if (deg.get(n) === 0) queue.push(n);
    }
  }
  return depth;
}

export function layoutGraph(nodes: GraphNode[], edges: GraphEdge[]): GraphLayout {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const drawable = edges.filter((e) => byId.has(e.from) && byId.has(e.to));

  const clusters = new Map<string, Cluster>();
  for (const n of nodes) {
    const key = clusterKey(n);
    let c = clusters.get(key);
    if (!c) {
      const group = key.startsWith('group:');
      c = {
        key,
        group,
        service: group ? nodeService(n)! : n.label,
        namespace: n.namespace,
        members: [],
        width: 0,
        height: 0,
        column: 0,
        row: 0,
        y: 0
      };
      clusters.set(key, c);
    }
    c.members.push(n);
  }
  for (const c of clusters.values()) {
    c.members.sort((a, b) => cmp(a.label, b.label) || cmp(a.id, b.id));
    const k = c.members.length;
    if (c.group) {
      c.width = NODE_W + 2 * GROUP_PAD;
      c.height = GROUP_HEAD + k * NODE_H + (k - 1) * NODE_GAP + GROUP_PAD;
    } else {
      c.width = NODE_W;
      c.height = NODE_H;
    }
  }

  const keyOf = (id: string): string => clusterKey(byId.get(id)!);
  const links = drawable.map((e): [string, string] => [keyOf(e.from), keyOf(e.to)]);
  const depths = clusterDepths([...clusters.keys()], links);
  for (const c of clusters.values()) c.column = depths.get(c.key) ?? 0;

  const columnCount = clusters.size === 0 ? 0 : Math.max(...[...clusters.values()].map((c) => c.column)) + 1;
  const columns: Cluster[][] = Array.from({ length: columnCount }, () => []);
  for (const c of clusters.values()) columns[c.column]!.push(c);

  // Callers of each cluster, for the ordering inside a column.
  const callers = new Map<string, Set<string>>();
  for (const [a, b] of links) {
    if (a === b) continue;
    let set = callers.get(b);
    if (!set) callers.set(b, (set = new Set()));
    set.add(a);
  }
  columns.forEach((col, i) => {
    const score = (c: Cluster): number => {
      if (i === 0) return 0;
      const rows = [...(callers.get(c.key) ?? [])]
        .map((k) => clusters.get(k)!)
        .filter((p) => p.column < i)
        .map((p) => p.row);
      return rows.length === 0 ? Number.MAX_SAFE_INTEGER : rows.reduce((s, r) => s + r, 0) / rows.length;
    };
    const scored = col.map((c) => ({ c, s: score(c) }));
    scored.sort((a, b) => a.s - b.s || cmp(a.c.service, b.c.service) || cmp(a.c.key, b.c.key));
    col.length = 0;
    scored.forEach(({ c }, row) => {
      c.row = row;
      col.push(c);
    });
  });

  const colHeight = (col: Cluster[]): number =>
    col.reduce((h, c) => h + c.height, 0) + Math.max(0, col.length - 1) * ROW_GAP;
  const height = columns.reduce((m, col) => Math.max(m, colHeight(col)), 0);
  const colWidth = NODE_W + 2 * GROUP_PAD;

  const groups: LayoutGroup[] = [];
  const laid: LayoutNode[] = [];
  columns.forEach((col, i) => {
    let y = (height - colHeight(col)) / 2;
    const x0 = i * (colWidth + COL_GAP);
    for (const c of col) {
      // Single nodes are centred in the column's width, like the service boxes.
      const x = c.group ? x0 : x0 + GROUP_PAD;
      c.y = y;
      if (c.group) {
        groups.push({
          id: c.key,
          service: c.service,
          namespace: c.namespace,
          x,
          y,
          width: c.width,
          height: c.height,
          column: i,
          nodeIds: c.members.map((m) => m.id)
        });
        c.members.forEach((m, k) => {
          const relX = GROUP_PAD;
          const relY = GROUP_HEAD + k * (NODE_H + NODE_GAP);
          laid.push({ id: m.id, x: x + relX, y: y + relY, groupId: c.key, relX, relY, column: i });
        });
      } else {
        const m = c.members[0]!;
        laid.push({ id: m.id, x, y, groupId: null, relX: 0, relY: 0, column: i });
      }
      y += c.height + ROW_GAP;
    }
  });

  return {
    groups,
    nodes: laid,
    edges: drawable,
    columns: columnCount,
    width: columnCount === 0 ? 0 : columnCount * colWidth + (columnCount - 1) * COL_GAP,
    height
  };
}

/** A key that changes when the set of nodes or edges (not their numbers) changes: the view re-fits on it. */
export function topologyKey(nodes: GraphNode[], edges: GraphEdge[]): string {
  return [
    nodes
      .map((n) => n.id)
      .sort(cmp)
      .join(','),
    edges
      .map((e) => `${e.from}>${e.to}`)
      .sort(cmp)
      .join(',')
  ].join('|');
}

/** Height an edge label needs (two lines); labels of one gap are kept at least this far apart. */
export const LABEL_H = 42;
/** Width an edge label needs at most (".graph-edge-label": two lines of 11px text, e.g. "59.4 ms / 123 ms"). */
export const LABEL_W = 112;
/** Space kept between a label and the node beside it. */
const LABEL_MARGIN = 4;
/** Handles sit on the node's border, half outside (React Flow measures the edge from the handle's outer side). */
const HANDLE_HALF = 3;

export interface LabelPos {
  x: number;
  y: number;
}

/** x and y of React Flow's bezier (source Right, target Left, target to the right) at t. */
function bezierAt(sx: number, sy: number, tx: number, ty: number, t: number): LabelPos {
  const d = tx - sx;
  return { x: sx + d * (1.5 * t - 1.5 * t * t + t * t * t), y: sy + (ty - sy) * (3 * t * t - 2 * t * t * t) };
}

/**
 * Where each edge's label goes. React Flow puts it at the middle of the curve, so the labels of edges fanning out of
 * (or into) one node pile up. Here the labels of the edges between the same two columns are spread vertically (at
 * least LABEL_H apart, centred where they were) and each slides along its own curve to its new height, as far as its
 * box (LABEL_W) stays clear of the nodes on either side. Edges that go backwards (cycles) and calls of a node to
 * itself keep React Flow's choice (absent from the map).
 */
/** x moved so that a label centred there keeps LABEL_MARGIN from the node sides at sx and tx (centred if it cannot). */
function clearOfNodes(x: number, sx: number, tx: number): number {
  const lo = sx + LABEL_W / 2 + LABEL_MARGIN;
  const hi = tx - LABEL_W / 2 - LABEL_MARGIN;
  return lo > hi ? (sx + tx) / 2 : Math.min(hi, Math.max(lo, x));
}

export function edgeLabelPositions(layout: GraphLayout): Map<string, LabelPos> {
  const at = new Map(layout.nodes.map((n) => [n.id, n]));
  const gaps = new Map<string, { id: string; sx: number; sy: number; tx: number; ty: number; mid: LabelPos }[]>();
  for (const e of layout.edges) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b || a.id === b.id || b.column <= a.column) continue;
    const sx = a.x + NODE_W + HANDLE_HALF;
    const sy = a.y + NODE_H / 2;
    const tx = b.x - HANDLE_HALF;
    const ty = b.y + NODE_H / 2;
    const key = `${a.column}>${b.column}`;
    let list = gaps.get(key);
    if (!list) gaps.set(key, (list = []));
    list.push({ id: e.id, sx, sy, tx, ty, mid: bezierAt(sx, sy, tx, ty, 0.5) });
  }
  const out = new Map<string, LabelPos>();
  for (const list of gaps.values()) {
    list.sort((p, q) => p.mid.y - q.mid.y || cmp(p.id, q.id));
    const ys: number[] = [];
    list.forEach((p, i) => ys.push(i === 0 ? p.mid.y : Math.max(p.mid.y, ys[i - 1]! + LABEL_H)));
    const shift = list.reduce((s, p, i) => s + (ys[i]! - p.mid.y), 0) / list.length;
    list.forEach((p, i) => {
      const y = ys[i]! - shift;
      const lo = Math.min(p.sy, p.ty);
      const hi = Math.max(p.sy, p.ty);
      if (p.sy === p.ty || y <= lo || y >= hi) {
        out.set(p.id, { x: p.mid.x, y });
        return;
      }
      // y(t) rises monotonically from sy to ty: bisect for the t at this height, away from the nodes' sides.
      const u = (y - p.sy) / (p.ty - p.sy);
      let t0 = 0;
      let t1 = 1;
      for (let k = 0; k < 40; k++) {
        const m = (t0 + t1) / 2;
        if (3 * m * m - 2 * m * m * m < u) t0 = m;
        else t1 = m;
      }
      const t = Math.min(0.8, Math.max(0.2, (t0 + t1) / 2));
      out.set(p.id, { x: clearOfNodes(bezierAt(p.sx, p.sy, p.tx, p.ty, t).x, p.sx, p.tx), y });
    });
  }
  return out;
}
