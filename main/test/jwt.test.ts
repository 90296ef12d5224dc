/** Integration: RequestAuthentication (JWT) at the server sidecar, and requestPrincipals / claims in AuthorizationPolicy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, api: Stub, open: Stub;
let m: Running;
let sign: (
  claims: Record<string, unknown>,
  opts?: { exp?: string; key?: 'good' | 'other'; iss?: string; aud?: string; nbf?: string }
) => Promise<string>;

beforeAll(async () => {
  const good = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  sign = (claims, opts = {}) => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(opts.iss ?? 'testing@secure.istio.io')
      .setSubject(String(claims.sub ?? 'alice'))
      .setAudience(opts.aud ?? 'bookinfo')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '1h');
    if (opts.nbf) jwt.setNotBefore(opts.nbf);
    return jwt.sign(opts.key === 'other' ? other.privateKey : good.privateKey);
  };
  [caller, api, open] = await Promise.all([stub('caller'), stub('api'), stub('open')]);
  const jwks = JSON.stringify({ keys: [jwk] });
  m = await startMesh({
    meshYaml: meshYaml({
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
      api: { workloads: [{ name: 'api-v1', instances: [api.address] }] },
      open: { workloads: [{ name: 'open-v1', instances: [open.address] }] }
    }),
    istio: {
      'jwks.json': jwks,
      'auth.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  selector: {matchLabels: {app: api}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: ./jwks.json
    audiences: [bookinfo]
    outputPayloadToHeader: x-jwt-payload
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: need-jwt}
spec:
  selector: {matchLabels: {app: api}}
  rules:
  - from: [{source: {requestPrincipals: ["testing@secure.istio.io/*"]}}]
    when: [{key: "request.auth.claims[groups]", values: [admins]}]
  - to: [{operation: {paths: [/public]}}]
`
    }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, api, open].map((s) => s.close()));
});

const call = (p: string, token?: string) =>
  viaProxy(m.outbound('caller-v1'), 'api:9080', p, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('RequestAuthentication', () => {
  it('a valid token with the right claim passes; the app gets the payload header and not the token', async () => {
    const r = await call('/admin', await sign({ sub: 'alice', groups: ['admins'] }));
    expect(r.status).toBe(200);
    const seen = api.seen.at(-1)!;
    expect(seen.headers.authorization).toBeUndefined();
    const payload = JSON.parse(Buffer.from(String(seen.headers['x-jwt-payload']), 'base64url').toString());
    expect(payload.sub).toBe('alice');
  });
  it("an invalid token gets 401 (403 for its audience) with Envoy's reason, checked in Envoy's order", async () => {
    const cases: [string, string][] = [
      [await sign({ groups: ['admins'] }, { key: 'other' }), 'Jwt verification fails'],
      [await sign({ groups: ['admins'] }, { exp: '-5m' }), 'Jwt is expired'],
      [await sign({}, { iss: 'someone@else' }), 'Jwt issuer is not configured'],
      [await sign({ groups: ['admins'] }, { aud: 'elsewhere' }), 'Audiences in Jwt are not allowed'],
      [await sign({ groups: ['admins'] }, { nbf: '10m' }), 'Jwt not yet valid'],
      ['not-a-jwt', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
      // (a header token ends at the first character that is not base64url or a dot, as Envoy extracts it)
      ['e30.%%%.x', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
      ['e30.e30.x', 'Jwt header [alg] field is required and must be a string'],
      ['eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.x', 'Jwt payload is an invalid JSON']
    ];
    for (const [t, body] of cases) {
      const r = await call('/admin?q=1', t);
      // Envoy's jwt_authn answers a token for another audience with 403, every other failure with 401
      expect([r.status, r.body], body).toEqual([body === 'Audiences in Jwt are not allowed' ? 403 : 401, body]);
      // the realm is the original URI, query included
      expect(r.headers['www-authenticate']).toBe('Bearer realm="http://api:9080/admin?q=1", error="invalid_token"');
    }
  });
  it('an expiry within the 60 s clock skew is still valid (Envoy clock_skew_seconds)', async () => {
    expect((await call('/admin', await sign({ sub: 'alice', groups: ['admins'] }, { exp: '-20s' }))).status).toBe(200);
  });
  it('no token: unauthenticated, so AuthorizationPolicy decides (403 here, 200 on the open path)', async () => {
    const denied = await call('/admin');
    expect(denied.status).toBe(403);
    expect(denied.body).toBe('RBAC: access denied');
    expect((await call('/public')).status).toBe(200);
  });
  it('a valid token without the required claim is denied by the policy', async () => {
    expect((await call('/admin', await sign({ sub: 'bob', groups: ['users'] }))).status).toBe(403);
  });
  it('workloads without RequestAuthentication ignore tokens', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'open:9080', '/x', {
      headers: { authorization: 'Bearer garbage' }
    });
    expect(r.status).toBe(200);
    expect(open.seen.at(-1)!.headers.authorization).toBe('Bearer garbage');
  });
});
