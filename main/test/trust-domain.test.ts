/**
 * Integration: trust domain migration (istio.io "Trust Domain Migration"). Workload certificates carry the mesh's
 * `trustDomain`; in AuthorizationPolicy principals (and `source.principal` conditions) the trust domain
 * `cluster.local` stands for the local trust domain and its aliases, and a principal in the trust domain or one of
 * `trustDomainAliases` matches the same identity in any of them, as istiod rewrites them (trustdomain.Bundle).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, local: Stub, alias: Stub, foreign: Stub, when: Stub, other: Stub, wild: Stub;
let m: Running;

const allow = (app: string, principal: string, extra = '') => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${app}}
spec:
  selector: {matchLabels: {app: ${app}}}
  rules:
  - from: [{source: {principals: ["${principal}"]}}]
${extra}`;

beforeAll(async () => {
  [caller, local, alias, foreign, when, other, wild] = await Promise.all(
    ['caller', 'local', 'alias', 'foreign', 'when', 'other', 'wild'].map((n) => stub(n))
  );
  const svc = (s: Stub) => ({ workloads: [{ name: `${s.name}-v1`, instances: [s.address] }] });
  m = await startMesh({
    meshYaml: meshYaml(
      {
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address], serviceAccount: 'sleep' }] },
        local: svc(local),
        alias: svc(alias),
        foreign: svc(foreign),
        wild: svc(wild),
        when: svc(when),
        other: { workloads: [{ name: 'other-v1', instances: [other.address], serviceAccount: 'nobody' }] }
      },
      '  trustDomain: new-td\n  trustDomainAliases: [old-td]'
    ),
    istio: {
      'authz.yaml': [
        allow('local', 'cluster.local/ns/default/sa/sleep'),
        allow('alias', 'old-td/ns/default/sa/sleep'),
        allow('foreign', 'other-td/ns/default/sa/sleep'),
        allow('wild', 'old*/ns/default/sa/sleep'),
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: when}
spec:
  selector: {matchLabels: {app: when}}
  action: DENY
  rules:
  - when: [{key: source.principal, notValues: ["old-td/ns/default/sa/sleep"]}]
`
      ].join('---\n')
    }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, local, alias, foreign, when, other, wild].map((s) => s.close()));
});

const from = (w: string, svc: string) => viaProxy(m.outbound(w), `${svc}:9080`, '/ip');

describe('trust domain and aliases in AuthorizationPolicy', () => {
  it('the certificates carry the trust domain', async () => {
    await from('caller-v1', 'other');
    expect(String(other.seen.at(-1)!.headers['x-forwarded-client-cert'])).toContain(
      'URI=spiffe://new-td/ns/default/sa/sleep'
    );
  });
  it('cluster.local in a principal means the local trust domain', async () => {
    expect((await from('caller-v1', 'local')).status).toBe(200);
    expect((await from('other-v1', 'local')).status).toBe(403);
  });
  it('a principal in an alias trust domain matches the identity in the trust domain', async () => {
    expect((await from('caller-v1', 'alias')).status).toBe(200);
  });
  it('a principal in a trust domain that is neither is kept as written: no match', async () => {
    expect((await from('caller-v1', 'foreign')).status).toBe(403);
  });
  it('a wildcard trust domain that matches an alias (old*) is that alias: the principal holds in each trust domain', async () => {
    // builder_test trust-domain-wildcard-in-principal, bundle_test: trustdomain.stringMatch has the wildcard on either side
    expect((await from('caller-v1', 'wild')).status).toBe(200);
    expect((await from('other-v1', 'wild')).status).toBe(403);
  });
  it('source.principal conditions are rewritten the same way', async () => {
    expect((await from('caller-v1', 'when')).status).toBe(200);
    expect((await from('other-v1', 'when')).status).toBe(403);
  });
});
