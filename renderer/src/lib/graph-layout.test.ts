import { describe, expect, it } from 'vitest';
import type { GraphEdge, GraphNode, MetricsSeries } from '../../../main/contract/api.js';
import {
  COL_GAP,
  GROUP_HEAD,
  GROUP_PAD,
  NODE_GAP,
  NODE_H,
  NODE_W,
  LABEL_H,
  LABEL_W,
  boxesOverlap,
  clusterDepths,
  clusterKey,
  edgeLabelPositions,
  labelBox,
  layoutBoxes,
  layoutGraph,
  topologyKey,
  type Box,
  type GraphLayout,
  type LabelPos
} from './graph-layout.js';
import { chartColumns, isolated, stepFor, summarize, windowText, withAlpha } from './metrics.js';

const node = (id: string, over: Partial<GraphNode> = {}): GraphNode => ({
  id,
  kind: 'workload',
  label: id,
  service: `${id.replace(/-v\d+$/, '')}.default.svc.cluster.local`,
  namespace: 'default',
  requests: 1,
  errorRate: 0,
  health: 'healthy',
  ...over
});

const edge = (from: string, to: string): GraphEdge => ({
  id: `${from}>${to}`,
  from,
  to,
  service: null,
  requests: 1,
  rps: 1,
  errorRate: 0,
  p50Ms: 1,
  p99Ms: 2,
  mtls: 'mutual_tls'
});

const NODES: GraphNode[] = [
  node('unknown', { kind: 'unknown', service: null, namespace: null }),
  node('productpage-v1'),
  node('details-v1'),
  node('reviews-v1'),
  node('reviews-v2'),
  node('reviews-v3'),
  node('ratings-v1'),
  node('api.example.com', { kind: 'external', service: 'api.example.com', namespace: null })
];
const EDGES: GraphEdge[] = [
  edge('unknown', 'productpage-v1'),
  edge('productpage-v1', 'details-v1'),
  edge('productpage-v1', 'reviews-v1'),
  edge('productpage-v1', 'reviews-v3'),
  edge('reviews-v2', 'ratings-v1'),
  edge('reviews-v3', 'ratings-v1'),
  edge('details-v1', 'api.example.com')
];

const COL = NODE_W + 2 * GROUP_PAD + COL_GAP;

describe('layoutGraph', () => {
  it('puts callers left of what they call, one column per call depth, workloads boxed by service', () => {
    const l = layoutGraph(NODES, EDGES);
    const col = Object.fromEntries(l.nodes.map((n) => [n.id, n.column]));
    expect(col).toEqual({
      unknown: 0,
      'productpage-v1': 1,
      'details-v1': 2,
      'reviews-v1': 2,
      'reviews-v2': 2,
      'reviews-v3': 2,
      'ratings-v1': 3,
      'api.example.com': 3
    });
    expect(l.columns).toBe(4);
    expect(l.groups.map((g) => [g.service, g.nodeIds])).toEqual(
      expect.arrayContaining([
        ['productpage', ['productpage-v1']],
        ['details', ['details-v1']],
        ['reviews', ['reviews-v1', 'reviews-v2', 'reviews-v3']],
        ['ratings', ['ratings-v1']]
      ])
    );
    expect(l.groups).toHaveLength(4);
    // unknown and external hosts stand alone
    for (const id of ['unknown', 'api.example.com']) expect(l.nodes.find((n) => n.id === id)?.groupId).toBeNull();
    // x follows the column
    for (const n of l.nodes) expect(n.x).toBe(n.column * COL + GROUP_PAD);
  });

  it('stacks a service’s workloads inside its box, in name order', () => {
    const l = layoutGraph(NODES, EDGES);
    const reviews = l.groups.find((g) => g.service === 'reviews')!;
    expect(reviews.height).toBe(GROUP_HEAD + 3 * NODE_H + 2 * NODE_GAP + GROUP_PAD);
    const inside = reviews.nodeIds.map((id) => l.nodes.find((n) => n.id === id)!);
    expect(inside.map((n) => [n.relX, n.relY])).toEqual([
      [GROUP_PAD, GROUP_HEAD],
      [GROUP_PAD, GROUP_HEAD + NODE_H + NODE_GAP],
      [GROUP_PAD, GROUP_HEAD + 2 * (NODE_H + NODE_GAP)]
    ]);
    for (const n of inside) {
      expect(n.groupId).toBe(reviews.id);
      expect(n.x).toBe(reviews.x + n.relX);
      expect(n.y).toBe(reviews.y + n.relY);
    }
  });

  it('does not overlap clusters of one column', () => {
    const l = layoutGraph(NODES, EDGES);
    const boxes = [
      ...l.groups.map((g) => ({ col: g.column, y: g.y, h: g.height })),
      ...l.nodes.filter((n) => n.groupId === null).map((n) => ({ col: n.column, y: n.y, h: NODE_H }))
    ];
    for (const a of boxes)
      for (const b of boxes) if (a !== b && a.col === b.col) expect(a.y + a.h <= b.y || b.y + b.h <= a.y).toBe(true);
    for (const b of boxes) expect(b.y + b.h).toBeLessThanOrEqual(l.height + 1e-9);
  });

  it('is deterministic: the input order does not matter', () => {
    const a = layoutGraph(NODES, EDGES);
    const b = layoutGraph([...NODES].reverse(), [...EDGES].reverse());
    const pos = (l: typeof a) => Object.fromEntries(l.nodes.map((n) => [n.id, [n.x, n.y]]));
    expect(pos(b)).toEqual(pos(a));
    expect(b.groups.map((g) => [g.id, g.x, g.y]).sort()).toEqual(a.groups.map((g) => [g.id, g.x, g.y]).sort());
  });

  it('orders a column by where its callers are', () => {
    // a calls x, b calls y: x and y keep the order of their callers, whatever their names
    const nodes = ['a-v1', 'b-v1', 'zz-v1', 'yy-v1'].map((id) => node(id));
    const l = layoutGraph(nodes, [edge('a-v1', 'zz-v1'), edge('b-v1', 'yy-v1')]);
    const y = (id: string) => l.nodes.find((n) => n.id === id)!.y;
    expect(y('a-v1')).toBeLessThan(y('b-v1'));
    expect(y('zz-v1')).toBeLessThan(y('yy-v1'));
  });

  it('breaks cycles and ignores calls inside one service', () => {
    const nodes = ['a-v1', 'b-v1', 'b-v2'].map((id) => node(id));
    const l = layoutGraph(nodes, [
      edge('a-v1', 'b-v1'),
      edge('b-v1', 'a-v1'),
      edge('b-v1', 'b-v2'),
      edge('b-v2', 'b-v2')
    ]);
    const col = Object.fromEntries(l.nodes.map((n) => [n.id, n.column]));
    expect(col).toEqual({ 'a-v1': 0, 'b-v1': 1, 'b-v2': 1 });
    expect(l.edges).toHaveLength(4);
  });

  it('drops edges whose ends are not nodes, and handles an empty graph', () => {
    const l = layoutGraph([node('a-v1')], [edge('a-v1', 'ghost')]);
    expect(l.edges).toEqual([]);
    expect(l.nodes).toHaveLength(1);
    expect(layoutGraph([], [])).toMatchObject({ nodes: [], groups: [], edges: [], columns: 0, width: 0, height: 0 });
  });

  it('clusters by service and namespace', () => {
    expect(clusterKey(node('reviews-v1'))).toBe('group:default/reviews');
    expect(clusterKey(node('reviews-v1', { namespace: 'shop' }))).toBe('group:shop/reviews');
    expect(clusterKey(node('unknown', { kind: 'unknown', service: null }))).toBe('node:unknown');
    expect(clusterKey(node('x.com', { kind: 'external', service: 'x.com' }))).toBe('node:x.com');
  });

  it('clusterDepths: longest path from the roots', () => {
    const d = clusterDepths(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
        ['d', 'd']
      ]
    );
    expect(Object.fromEntries(d)).toEqual({ a: 0, b: 1, c: 2, d: 0 });
  });
});

describe('edgeLabelPositions', () => {
  it('spreads the labels of a fan-out at least LABEL_H apart, each on its own curve between the columns', () => {
    const l = layoutGraph(NODES, EDGES);
    const pos = edgeLabelPositions(l);
    const fan = ['productpage-v1>details-v1', 'productpage-v1>reviews-v1', 'productpage-v1>reviews-v3'].map((id) =>
      pos.get(id)!
    );
    const ys = fan.map((p) => p.y).sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) expect(ys[i]! - ys[i - 1]!).toBeGreaterThanOrEqual(LABEL_H - 1e-9);
    // between the caller's right side and the callees' left side
    const pp = l.nodes.find((n) => n.id === 'productpage-v1')!;
    const details = l.nodes.find((n) => n.id === 'details-v1')!;
    for (const p of fan) {
      // the whole label box lies in the gap, clear of the caller and the callees
      expect(p.x - LABEL_W / 2).toBeGreaterThan(pp.x + NODE_W);
      expect(p.x + LABEL_W / 2).toBeLessThan(details.x);
    }
    // a lone edge keeps the middle of its curve
    const unknown = l.nodes.find((n) => n.id === 'unknown')!;
    expect(pos.get('unknown>productpage-v1')!.y).toBeCloseTo((unknown.y + pp.y) / 2 + NODE_H / 2, 6);
  });

  it('keeps every label box clear of the two nodes its edge joins (the bookinfo graph the screenshots show)', () => {
    const nodes = [
      'unknown',
      'productpage-v1',
      'details-v1',
      'reviews-v1',
      'reviews-v2',
      'reviews-v3',
      'ratings-v1'
    ].map((id) => (id === 'unknown' ? node(id, { kind: 'unknown', service: null, namespace: null }) : node(id)));
    const edges = [
      edge('unknown', 'productpage-v1'),
      edge('productpage-v1', 'details-v1'),
      edge('productpage-v1', 'reviews-v1'),
      edge('productpage-v1', 'reviews-v2'),
      edge('reviews-v2', 'ratings-v1')
    ];
    const l = layoutGraph(nodes, edges);
    const pos = edgeLabelPositions(l);
    expect(pos.size).toBe(edges.length);
    for (const e of edges) {
      const a = l.nodes.find((n) => n.id === e.from)!;
      const b = l.nodes.find((n) => n.id === e.to)!;
      const p = pos.get(e.id)!;
      expect(p.x - LABEL_W / 2, e.id).toBeGreaterThan(a.x + NODE_W);
      expect(p.x + LABEL_W / 2, e.id).toBeLessThan(b.x);
    }
  });

  it('places backward edges and self-calls too: a loop’s label above its node, a cycle’s near its middle', () => {
    const nodes = ['a-v1', 'b-v1'].map((id) => node(id));
    const l = layoutGraph(nodes, [edge('a-v1', 'b-v1'), edge('b-v1', 'a-v1'), edge('a-v1', 'a-v1')]);
    const pos = edgeLabelPositions(l);
    expect([...pos.keys()].sort()).toEqual(['a-v1>a-v1', 'a-v1>b-v1', 'b-v1>a-v1']);
    const a = l.nodes.find((n) => n.id === 'a-v1')!;
    expect(pos.get('a-v1>a-v1')!.x).toBeCloseTo(a.x + NODE_W / 2, 6);
    expect(pos.get('a-v1>a-v1')!.y + LABEL_H / 2).toBeLessThanOrEqual(l.groups.find((g) => g.id === a.groupId)!.y);
    expectNoOverlaps(l, pos);
  });
});

/** Every node box (a workload with its label) apart from the others, every edge label apart from every box. */
function expectNoOverlaps(l: GraphLayout, pos: Map<string, LabelPos>): void {
  const named = (id: string, b: Box) => ({ id, b });
  // service boxes and lone nodes never overlap; workloads only overlap their own service box
  const outer = [
    ...l.groups.map((g) => named(g.id, g)),
    ...l.nodes
      .filter((n) => n.groupId === null)
      .map((n) => named(n.id, { x: n.x, y: n.y, width: NODE_W, height: NODE_H }))
  ];
  const workloads = l.nodes.map((n) => ({ ...named(n.id, { x: n.x, y: n.y, width: NODE_W, height: NODE_H }), n }));
  const clash: string[] = [];
  outer.forEach((p, i) => outer.slice(i + 1).forEach((q) => boxesOverlap(p.b, q.b) && clash.push(`${p.id} / ${q.id}`)));
  workloads.forEach((p, i) =>
    workloads.slice(i + 1).forEach((q) => boxesOverlap(p.b, q.b) && clash.push(`${p.id} / ${q.id}`))
  );
  for (const w of workloads) {
    for (const o of outer) {
      if (o.id === w.n.groupId || o.id === w.id) continue;
      if (boxesOverlap(w.b, o.b)) clash.push(`${w.id} / ${o.id}`);
    }
  }
  // every drawn edge has a label, and it sits on no box and no other label
  expect([...pos.keys()].sort()).toEqual(l.edges.map((e) => e.id).sort());
  const labels = [...pos].map(([id, p]) => named(`label ${id}`, labelBox(p)));
  labels.forEach((p, i) =>
    labels.slice(i + 1).forEach((q) => boxesOverlap(p.b, q.b) && clash.push(`${p.id} / ${q.id}`))
  );
  for (const lb of labels)
    for (const b of [...outer, ...workloads]) if (boxesOverlap(lb.b, b.b)) clash.push(`${lb.id} / ${b.id}`);
  expect(clash).toEqual([]);
  expect(layoutBoxes(l)).toHaveLength(outer.length);
}

describe('no overlaps', () => {
  const unknown = node('unknown', { kind: 'unknown', service: null, namespace: null });

  it('bookinfo: productpage → details and reviews v1/v2/v3, each reviews → ratings', () => {
    const nodes = [
      unknown,
      ...['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'].map((id) => node(id))
    ];
    const edges = [
      edge('unknown', 'productpage-v1'),
      edge('productpage-v1', 'details-v1'),
      edge('productpage-v1', 'reviews-v1'),
      edge('productpage-v1', 'reviews-v2'),
      edge('productpage-v1', 'reviews-v3'),
      edge('reviews-v1', 'ratings-v1'),
      edge('reviews-v2', 'ratings-v1'),
      edge('reviews-v3', 'ratings-v1')
    ];
    const l = layoutGraph(nodes, edges);
    expectNoOverlaps(l, edgeLabelPositions(l));
  });

  it('bookinfo with a call that skips a column, a self-call, a cycle and an external host', () => {
    const nodes = [
      unknown,
      ...['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'].map((id) => node(id)),
      node('api.example.com', { kind: 'external', service: 'api.example.com', namespace: null })
    ];
    const edges = [
      edge('unknown', 'productpage-v1'),
      edge('unknown', 'reviews-v2'), // curl straight at reviews: across productpage's column
      edge('productpage-v1', 'details-v1'),
      edge('productpage-v1', 'reviews-v1'),
      edge('productpage-v1', 'reviews-v2'),
      edge('productpage-v1', 'reviews-v3'),
      edge('productpage-v1', 'ratings-v1'), // across reviews' column
      edge('reviews-v2', 'ratings-v1'),
      edge('reviews-v3', 'ratings-v1'),
      edge('reviews-v2', 'reviews-v2'),
      edge('productpage-v1', 'productpage-v1'),
      edge('ratings-v1', 'reviews-v1'), // a cycle
      edge('details-v1', 'api.example.com')
    ];
    const l = layoutGraph(nodes, edges);
    const pos = edgeLabelPositions(l);
    expectNoOverlaps(l, pos);
    // a label of a call across columns sits in the gap right of its caller, not over the column it skips
    const pp = l.nodes.find((n) => n.id === 'productpage-v1')!;
    const across = pos.get('unknown>reviews-v2')!;
    expect(across.x + LABEL_W / 2).toBeLessThanOrEqual(pp.x - GROUP_PAD);
  });

  it('a wide fan-out and fan-in: a gateway calling twelve services, each calling one database', () => {
    const services = Array.from({ length: 12 }, (_, i) => `svc${String(i).padStart(2, '0')}-v1`);
    const nodes = [node('gateway-v1'), ...services.map((id) => node(id)), node('db-v1'), node('db-v2')];
    const edges = [
      ...services.map((s) => edge('gateway-v1', s)),
      ...services.map((s, i) => edge(s, i % 2 === 0 ? 'db-v1' : 'db-v2')),
      edge('gateway-v1', 'db-v1')
    ];
    const l = layoutGraph(nodes, edges);
    const pos = edgeLabelPositions(l);
    expectNoOverlaps(l, pos);
    const ys = services.map((s) => pos.get(`gateway-v1>${s}`)!.y).sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) expect(ys[i]! - ys[i - 1]!).toBeGreaterThanOrEqual(LABEL_H - 1e-9);
  });

  it('boxesOverlap: sharing an edge is not overlapping', () => {
    const a = { x: 0, y: 0, width: 10, height: 10 };
    expect(boxesOverlap(a, { x: 10, y: 0, width: 5, height: 5 })).toBe(false);
    expect(boxesOverlap(a, { x: 9, y: 9, width: 5, height: 5 })).toBe(true);
    expect(boxesOverlap(a, { x: 2, y: 2, width: 2, height: 2 })).toBe(true);
  });
});

describe('topologyKey', () => {
  it('changes with the nodes and edges, not with their numbers or order', () => {
    const k = topologyKey(NODES, EDGES);
    expect(
      topologyKey(
        [...NODES].reverse(),
        EDGES.map((e) => ({ ...e, rps: 99 }))
      )
    ).toBe(k);
    expect(topologyKey(NODES, EDGES.slice(1))).not.toBe(k);
  });
});

describe('metrics helpers', () => {
  const s: MetricsSeries = {
    service: 'reviews',
    windowSec: 60,
    stepSec: 10,
    points: [
      { t: '2025-01-01T00:00:10.000Z', requests: 0, rps: 0, errorRate: 0, p50Ms: null, p90Ms: null, p99Ms: null },
      { t: '2025-01-01T00:00:00.000Z', requests: 10, rps: 1, errorRate: 0.1, p50Ms: 5, p90Ms: 8, p99Ms: 20 },
      { t: '2025-01-01T00:00:20.000Z', requests: 30, rps: 3, errorRate: 0.5, p50Ms: 6, p90Ms: 9, p99Ms: 40 }
    ]
  };

  it('chartColumns: sorted by time, seconds since the epoch, errors in percent and none in empty buckets', () => {
    const c = chartColumns(s);
    const t0 = Date.parse('2025-01-01T00:00:00.000Z') / 1000;
    expect(c.t).toEqual([t0, t0 + 10, t0 + 20]);
    expect(c.rps).toEqual([1, 0, 3]);
    expect(c.errors).toEqual([10, null, 50]);
    expect(c.p50).toEqual([5, null, 6]);
    expect(c.p99).toEqual([20, null, 40]);
  });

  it('summarize: totals over the window', () => {
    expect(summarize(s)).toEqual({ requests: 40, rps: 40 / 30, errorRate: 16 / 40, maxP99Ms: 40, busyPoints: 2 });
    expect(summarize({ ...s, points: [] })).toEqual({
      requests: 0,
      rps: 0,
      errorRate: 0,
      maxP99Ms: null,
      busyPoints: 0
    });
  });

  it('isolated: values between two gaps (a line cannot draw them); withAlpha washes a hex colour', () => {
    expect(isolated([null, 3, null, 4, 5, null, 6])).toEqual([1, 6]);
    expect(isolated([1, 2, 3])).toEqual([]);
    expect(isolated([7])).toEqual([0]);
    expect(withAlpha('#2563d9', 0.14)).toBe('rgba(37, 99, 217, 0.14)');
    expect(withAlpha('rgb(1 2 3)', 0.5)).toBeUndefined();
  });

  it('stepFor gives about 60 points; windowText says the window', () => {
    expect([60, 300, 900, 3600].map(stepFor)).toEqual([2, 5, 15, 60]);
    expect(windowText(300)).toBe('the last 5 minutes');
    expect(windowText(60)).toBe('the last minute');
    expect(windowText(7200)).toBe('the last 2 hours');
  });
});
