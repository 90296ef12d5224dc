/** DestinationRule merging and lookup (istio-semantics §1.3), and the hash cookie on a one-endpoint pool. */
import { describe, expect, it } from 'vitest';
import type { DestinationRuleSpec, IstioResource } from '../../contract/istio-schema.js';
import { createRandom } from '../util/random.js';
import { pickEndpoint } from '../sidecar/lb.js';
import { findDestinationRule, mergeDestinationRules } from './compile.js';

let order = 0;
function dr(name: string, spec: DestinationRuleSpec, namespace = 'default'): IstioResource<DestinationRuleSpec> {
  return {
    kind: 'DestinationRule',
    apiVersion: 'networking.istio.io/v1',
    name,
    namespace,
    annotations: {},
    labels: {},
    spec,
    where: { file: 'dr.yaml', line: 1, column: 1 },
    order: order++
  } as IstioResource<DestinationRuleSpec>;
}

const API = 'api.default.svc.cluster.local';

describe('DestinationRule merge and lookup', () => {
  it('several rules for one host: subsets merged, the first top-level policy wins, a later one fills a gap', () => {
    const merged = mergeDestinationRules([
      dr('subsets-only', { host: 'api', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
      dr('policy', {
        host: 'api',
        trafficPolicy: { tls: { mode: 'DISABLE' } },
        subsets: [{ name: 'v2', labels: { version: 'v2' } }]
      }),
      dr('late', { host: 'api', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } })
    ]);
    expect(merged).toHaveLength(1);
    expect([...merged[0]!.subsets.keys()]).toEqual(['v1', 'v2']);
    expect(merged[0]!.trafficPolicy?.tls?.mode).toBe('DISABLE');
  });
  it('the most specific host wins over a wildcard created before it', () => {
    const merged = mergeDestinationRules([
      dr('wild', { host: '*.default.svc.cluster.local', trafficPolicy: { tls: { mode: 'DISABLE' } } }),
      dr('exact', { host: 'api', subsets: [{ name: 'v1', labels: { version: 'v1' } }] })
    ]);
    expect(findDestinationRule(merged, API, 'default', undefined)?.key).toBe('default/exact');
    expect(findDestinationRule(merged, 'web.default.svc.cluster.local', 'default', undefined)?.key).toBe(
      'default/wild'
    );
  });
  it('among wildcards the longer one wins', () => {
    const merged = mergeDestinationRules([
      dr('all', { host: '*.cluster.local' }),
      dr('ns', { host: '*.default.svc.cluster.local' })
    ]);
    expect(findDestinationRule(merged, API, 'default', undefined)?.key).toBe('default/ns');
  });
});

describe('consistent hash cookie', () => {
  const req = { header: () => undefined, cookie: () => undefined, query: () => undefined, sourceIp: '127.0.0.1' };
  it('is generated when absent even with a single endpoint', () => {
    const one = [{ host: '127.0.0.1', port: 1, labels: {} }];
    const lb = { consistentHash: { httpCookie: { name: 'sticky', path: '/', ttl: '60s' } } };
    const r = pickEndpoint(one, lb, 'k', { active: new Map(), rr: new Map() }, createRandom(1), req, new Set());
    expect(r.endpoint).toBe(one[0]);
    expect(r.setCookie).toMatch(/^sticky="[0-9a-f]{16}"; Max-Age=60; Path=\/; HttpOnly$/);
  });
});
