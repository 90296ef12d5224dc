/**
 * Integration: `@request.auth.claims.<name>` in VirtualService header matches (istio-semantics §1.2). Istio evaluates
 * them only where the proxy itself validated the JWT (RequestAuthentication selecting that proxy's workload, as on an
 * ingress gateway): localmesh's outbound sidecar does the same for the RequestAuthentications selecting the caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, other: Stub, v1: Stub, v2: Stub;
let m: Running;
let sign: (claims: Record<string, unknown>, key?: 'good' | 'bad') => Promise<string>;

beforeAll(async () => {
  const good = await generateKeyPair('ES256');
  const bad = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  sign = (claims, key = 'good') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('issuer@localmesh.test')
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key === 'good' ? good.privateKey : bad.privateKey);
  [caller, other, v1, v2] = await Promise.all([stub('caller'), stub('other'), stub('v1'), stub('v2')]);
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      other: { workloads: [{ name: 'other-v1', instances: [other.address] }] },
      api: {
        workloads: [
          { name: 'api-v1', labels: { app: 'api', version: 'v1' }, instances: [v1.address] },
          { name: 'api-v2', labels: { app: 'api', version: 'v2' }, instances: [v2.address] }
        ]
      }
    }),
    istio: {
      'routing.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: caller-jwt}
spec:
  selector: {matchLabels: {app: caller}}
  jwtRules:
  - issuer: issuer@localmesh.test
    jwks: '${JSON.stringify({ keys: [jwk] })}'
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api]
  http:
  - name: beta-group
    match:
    - headers:
        "@request.auth.claims.groups": {exact: beta}
    route: [{destination: {host: api, subset: v2}}]
  - name: nested-plan
    match:
    - headers:
        "@request.auth.claims.plan.tier": {prefix: gold}
    route: [{destination: {host: api, subset: v2}}]
  - name: level-three
    match:
    - headers:
        "@request.auth.claims.level": {exact: "3"}
    route: [{destination: {host: api, subset: v2}}]
  - name: bracket-nested
    match:
    - headers:
        "@request.auth.claims[org][team]": {exact: mesh}
    route: [{destination: {host: api, subset: v2}}]
  - name: bracket-dotted-name
    match:
    - headers:
        "@request.auth.claims[issuer@localmesh.test/role]": {exact: admin}
    route: [{destination: {host: api, subset: v2}}]
  - name: camel-case
    match:
    - headers:
        "@Request.Auth.Claims.userTier": {exact: gold}
    route: [{destination: {host: api, subset: v2}}]
  - name: read-scope
    match:
    - headers:
        "@request.auth.claims.scope": {exact: read}
    route: [{destination: {host: api, subset: v2}}]
  - name: default
    route: [{destination: {host: api, subset: v1}}]
`
    }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, other, v1, v2].map((s) => s.close()));
});

/** Which api version answered. */
const call = async (from: string, token?: string) => {
  const r = await viaProxy(m.outbound(from), 'api:9080', '/x', {
    headers: token ? { authorization: `Bearer ${token}` } : {}
  });
  return { ...r, body: (JSON.parse(r.body) as { stub: string }).stub };
};

describe('VirtualService header matches on JWT claims', () => {
  it('a valid token whose list claim holds the value takes the claim route', async () => {
    const r = await call('caller-v1', await sign({ groups: ['alpha', 'beta'] }));
    expect(r.body).toBe('v2');
    const flow = (await m.mesh.listFlows({ limit: 1, reporter: 'source' }))[0]!;
    expect(flow.rule).toBe('api.default:beta-group');
    expect(flow.trace.some((t) => t.step === 'jwt' && t.detail.includes('issuer@localmesh.test/alice'))).toBe(true);
  });
  it('nested claims are addressed with dots', async () => {
    expect((await call('caller-v1', await sign({ plan: { tier: 'gold-2026' } }))).body).toBe('v2');
    expect((await call('caller-v1', await sign({ plan: { tier: 'silver' } }))).body).toBe('v1');
  });
  it('claims in brackets (Istio usage 2): nested, and a collision-resistant name holding dots', async () => {
    expect((await call('caller-v1', await sign({ org: { team: 'mesh' } }))).body).toBe('v2');
    expect((await call('caller-v1', await sign({ org: { team: 'web' } }))).body).toBe('v1');
    expect((await call('caller-v1', await sign({ 'issuer@localmesh.test/role': 'admin' }))).body).toBe('v2');
    // the dotted form would read it as the nested claim issuer@localmesh -> test/role
    expect((await call('caller-v1', await sign({ 'issuer@localmesh': { 'test/role': 'admin' } }))).body).toBe('v1');
  });
  it('the prefix in any case, and the claim name as written (claim names are case-sensitive)', async () => {
    expect((await call('caller-v1', await sign({ userTier: 'gold' }))).body).toBe('v2');
    expect((await call('caller-v1', await sign({ usertier: 'gold' }))).body).toBe('v1');
  });
  it('no token, a token without the claim, or a token that fails verification: the claim match fails', async () => {
    expect((await call('caller-v1')).body).toBe('v1');
    expect((await call('caller-v1', await sign({ groups: ['alpha'] }))).body).toBe('v1');
    expect((await call('caller-v1', await sign({ groups: ['beta'] }, 'bad'))).body).toBe('v1');
  });
  it('a claim matches as a string only: a number or a boolean claim matches no string (a StringMatcher on the payload)', async () => {
    expect((await call('caller-v1', await sign({ level: '3' }))).body).toBe('v2');
    expect((await call('caller-v1', await sign({ level: 3 }))).body).toBe('v1');
    expect((await call('caller-v1', await sign({ level: true }))).body).toBe('v1');
  });
  it('scope and permission claims are split at spaces (Istio sets space_delimited_claims): one word matches', async () => {
    expect((await call('caller-v1', await sign({ scope: 'write read' }))).body).toBe('v2');
    expect((await call('caller-v1', await sign({ scope: 'readwrite' }))).body).toBe('v1');
  });
  it('a caller no RequestAuthentication selects never has claims (Istio: only the validating proxy sees them)', async () => {
    expect((await call('other-v1', await sign({ groups: ['beta'] }))).body).toBe('v1');
  });
});
