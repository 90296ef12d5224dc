/** DestinationRule merging and lookup (istio-semantics §1.3), and the hash cookie on a one-endpoint pool. */
import { describe, expect, it } from 'vitest';
import type { DestinationRuleSpec, IstioResource } from '../../contract/istio-schema.js';
import { createRandom } from '../util/random.js';
import { pickEndpoint } from '../sidecar/lb.js';
import { circuitPolicies } from '../sidecar/circuit.js';
import { effectiveConnectTimeoutMs, findDestinationRule, mergeDestinationRules, policyComponent } from './compile.js';

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

describe('traffic policy precedence (Istio MergeTrafficPolicy)', () => {
  const [rule] = mergeDestinationRules([
    dr('api', {
      host: 'api',
      trafficPolicy: {
        loadBalancer: { simple: 'RANDOM' },
        connectionPool: { tcp: { connectTimeout: '2s' }, http: { http2MaxRequests: 1 } },
        outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '30s' },
        tls: { mode: 'DISABLE' },
        portLevelSettings: [{ port: { number: 8000 }, loadBalancer: { simple: 'ROUND_ROBIN' } }]
      },
      subsets: [
        { name: 'pooled', labels: { version: 'v1' }, trafficPolicy: { connectionPool: { http: { maxRetries: 3 } } } },
        {
          name: 'ported',
          labels: { version: 'v2' },
          trafficPolicy: {
            connectionPool: { http: { http2MaxRequests: 7 } },
            portLevelSettings: [{ port: { number: 9000 }, tls: { mode: 'ISTIO_MUTUAL' } }]
          }
        }
      ]
    })
  ]);
  it('a port-level entry replaces all four components; the ones it omits are the defaults, not the top level', () => {
    expect(policyComponent(rule, undefined, 8000, 'loadBalancer')).toEqual({ simple: 'ROUND_ROBIN' });
    expect(policyComponent(rule, undefined, 8000, 'connectionPool')).toBeUndefined();
    expect(policyComponent(rule, undefined, 8000, 'outlierDetection')).toBeUndefined();
    expect(policyComponent(rule, undefined, 8000, 'tls')).toBeUndefined();
    expect(circuitPolicies(rule, undefined, 8000)).toMatchObject({
      limits: undefined,
      outlier: undefined,
      connectTimeoutMs: undefined
    });
    // another port keeps the top level
    expect(policyComponent(rule, undefined, 9080, 'loadBalancer')).toEqual({ simple: 'RANDOM' });
    expect(circuitPolicies(rule, undefined, 9080).limits?.maxRequests).toBe(1);
    expect(circuitPolicies(rule, undefined, 9080).outlier).toBeDefined();
    expect(effectiveConnectTimeoutMs(rule, undefined, 9080)).toBe(2000);
  });
  it("a subset's component replaces the top level's wholesale (no field merging); the others come from the top level", () => {
    const limits = circuitPolicies(rule, 'pooled', 9080).limits;
    expect([limits?.maxRetries, limits?.maxRequests]).toEqual([3, 2 ** 32 - 1]); // unlimited: Envoy's default
    expect(effectiveConnectTimeoutMs(rule, 'pooled', 9080)).toBeUndefined();
    expect(policyComponent(rule, 'pooled', 9080, 'tls')).toEqual({ mode: 'DISABLE' });
    // on the port with a top-level port entry, the subset's own component still applies over the port-merged top
    expect(policyComponent(rule, 'pooled', 8000, 'connectionPool')).toEqual({ http: { maxRetries: 3 } });
    expect(policyComponent(rule, 'pooled', 8000, 'loadBalancer')).toEqual({ simple: 'ROUND_ROBIN' });
  });
  it("a subset's port-level entry replaces all four of its components for that port", () => {
    expect(policyComponent(rule, 'ported', 9000, 'tls')).toEqual({ mode: 'ISTIO_MUTUAL' });
    expect(policyComponent(rule, 'ported', 9000, 'connectionPool')).toBeUndefined();
    expect(policyComponent(rule, 'ported', 9000, 'loadBalancer')).toBeUndefined();
    expect(policyComponent(rule, 'ported', 9080, 'connectionPool')).toEqual({ http: { http2MaxRequests: 7 } });
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
