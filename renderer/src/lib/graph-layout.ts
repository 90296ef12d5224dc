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
/** Space kept between a label and the boxes beside it. */
const LABEL_MARGIN = 4;
/** Handles sit on the node's border, half outside (React Flow measures the edge from the handle's outer side). */
const HANDLE_HALF = 3;
/** How far above its node a call to itself puts its label (GraphCanvas's loop: the label sits over the loop). */
export const LOOP_LABEL_RISE = 104;

export interface LabelPos {
  x: number;
  y: number;
}

/** An axis-aligned box (top left, size) in flow coordinates. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** True when the two boxes share some area (touching edges do not count). */
export function boxesOverlap(a: Box, b: Box): boolean {
  const eps = 1e-6;
  return (
    a.x + a.width > b.x + eps && b.x + b.width > a.x + eps && a.y + a.height > b.y + eps && b.y + b.height > a.y + eps
  );
}

/** The box an edge label centred at p takes (LABEL_W × LABEL_H: the height keeps a little air between labels). */
export function labelBox(p: LabelPos): Box {
  return { x: p.x - LABEL_W / 2, y: p.y - LABEL_H / 2, width: LABEL_W, height: LABEL_H };
}

/** What edge labels must not sit on: every service box, and every node that stands alone. */
export function layoutBoxes(layout: GraphLayout): Box[] {
  return [
    ...layout.groups.map((g) => ({ x: g.x, y: g.y, width: g.width, height: g.height })),
    ...layout.nodes.filter((n) => n.groupId === null).map((n) => ({ x: n.x, y: n.y, width: NODE_W, height: NODE_H }))
  ];
}

/** x and y of React Flow's bezier (source Right, target Left, target to the right) at t. */
function bezierAt(sx: number, sy: number, tx: number, ty: number, t: number): LabelPos {
  const d = tx - sx;
  return { x: sx + d * (1.5 * t - 1.5 * t * t + t * t * t), y: sy + (ty - sy) * (3 * t * t - 2 * t * t * t) };
}

/** The t in [0, 1] where a monotonic f(t) (f(0) = 0, f(1) = 1) reaches u. */
function solveT(f: (t: number) => number, u: number): number {
  let t0 = 0;
  let t1 = 1;
  for (let k = 0; k < 40; k++) {
    const m = (t0 + t1) / 2;
    if (f(m) < u) t0 = m;
    else t1 = m;
  }
  return (t0 + t1) / 2;
}

/** x moved so that a label centred there keeps LABEL_MARGIN from the sides lo and hi (centred if it cannot). */
function clearOf(x: number, lo: number, hi: number): number {
  const a = lo + LABEL_W / 2 + LABEL_MARGIN;
  const b = hi - LABEL_W / 2 - LABEL_MARGIN;
  return a > b ? (lo + hi) / 2 : Math.min(b, Math.max(a, x));
}

interface Pending {
  id: string;
  sx: number;
  sy: number;
  tx: number;
  ty: number;
  /** The gap between two columns the label goes in (its left and right sides). */
  gapLo: number;
  gapHi: number;
  /** The edge joins two neighbouring columns (its label may slide along the whole curve). */
  adjacent: boolean;
  mid: LabelPos;
}

/**
 * Where each edge's label goes (centre, flow coordinates), for every edge of the layout.
 *
 * A forward call's label goes in a gap between two columns, never over a box: the gap right of its caller (for a
 * call that skips columns too, so it does not sit on the services in between). React Flow would put it at the middle
 * of the curve, so the labels of edges fanning out of (or into) one node would pile up: the labels of one gap are
 * spread vertically (at least LABEL_H apart, centred where they were), and each slides along its own curve to its new
 * height, as far as its box (LABEL_W) stays inside the gap. Calls backwards (cycles) keep the middle of their curve,
 * and a call of a node to itself sits above its loop; both then move up or down, the least they can, off any box and
 * any other label. No two labels share any area, and no label covers a service box or a node.
 */
export function edgeLabelPositions(layout: GraphLayout): Map<string, LabelPos> {
  const at = new Map(layout.nodes.map((n) => [n.id, n]));
  const colWidth = NODE_W + 2 * GROUP_PAD;
  const colLeft = (c: number): number => c * (colWidth + COL_GAP);
  const gaps = new Map<number, Pending[]>();
  const others: { id: string; pos: LabelPos; up: boolean }[] = [];
  for (const e of layout.edges) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b) continue;
    const sx = a.x + NODE_W + HANDLE_HALF;
    const sy = a.y + NODE_H / 2;
    const tx = b.x - HANDLE_HALF;
    const ty = b.y + NODE_H / 2;
    if (a.id === b.id) {
      // GraphCanvas draws the loop from the right handle to the left one, its label LOOP_LABEL_RISE above them
      others.push({ id: e.id, pos: { x: (sx + a.x - HANDLE_HALF) / 2, y: sy - LOOP_LABEL_RISE }, up: true });
      continue;
    }
    if (b.column <= a.column) {
      others.push({ id: e.id, pos: { x: (sx + tx) / 2, y: (sy + ty) / 2 }, up: false });
      continue;
    }
    const gapLo = colLeft(a.column) + colWidth;
    const gapHi = colLeft(a.column + 1);
    const adjacent = b.column === a.column + 1;
    // the curve where it crosses the middle of its gap (the middle of the curve for neighbouring columns)
    const d = tx - sx;
    const t = adjacent ? 0.5 : solveT((m) => 1.5 * m - 1.5 * m * m + m * m * m, ((gapLo + gapHi) / 2 - sx) / d);
    let list = gaps.get(a.column);
    if (!list) gaps.set(a.column, (list = []));
    list.push({ id: e.id, sx, sy, tx, ty, gapLo, gapHi, adjacent, mid: bezierAt(sx, sy, tx, ty, t) });
  }

  const out = new Map<string, LabelPos>();
  for (const column of [...gaps.keys()].sort((p, q) => p - q)) {
    const list = gaps.get(column)!;
    list.sort((p, q) => p.mid.y - q.mid.y || cmp(p.id, q.id));
    const ys: number[] = [];
    list.forEach((p, i) => ys.push(i === 0 ? p.mid.y : Math.max(p.mid.y, ys[i - 1]! + LABEL_H)));
    const shift = list.reduce((s, p, i) => s + (ys[i]! - p.mid.y), 0) / list.length;
    list.forEach((p, i) => {
      const y = ys[i]! - shift;
      const lo = Math.min(p.sy, p.ty);
      const hi = Math.max(p.sy, p.ty);
      let x = p.mid.x;
      if (p.sy !== p.ty && y > lo && y < hi) {
        // y(t) rises monotonically from sy to ty: the t at this height, away from the nodes' sides
        const u = solveT((m) => 3 * m * m - 2 * m * m * m, (y - p.sy) / (p.ty - p.sy));
        x = bezierAt(p.sx, p.sy, p.tx, p.ty, p.adjacent ? Math.min(0.8, Math.max(0.2, u)) : u).x;
      }
      out.set(p.id, { x: clearOf(x, p.gapLo, p.gapHi), y });
    });
  }

  // The rest move off the boxes and the labels already placed: the nearest free height, loops upwards first.
  const taken: Box[] = [...layoutBoxes(layout), ...[...out.values()].map(labelBox)];
  others.sort((p, q) => Number(p.up) - Number(q.up) || cmp(p.id, q.id));
  const step = LABEL_H / 3;
  for (const o of others) {
    const free = (y: number): boolean => !taken.some((b) => boxesOverlap(labelBox({ x: o.pos.x, y }), b));
    let y = o.pos.y;
    // a loop's label only goes further up (over its loop); others try up, then down, a step further each time
    for (let k = 1; !free(y); k++) y = o.pos.y + (o.up ? -k * step : (k % 2 === 1 ? -1 : 1) * Math.ceil(k / 2) * step);
    const pos = { x: o.pos.x, y };
    out.set(o.id, pos);
    taken.push(labelBox(pos));
  }
  return out;
}
