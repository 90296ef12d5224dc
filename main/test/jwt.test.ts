/** Integration: RequestAuthentication (JWT) at the server sidecar, and requestPrincipals / claims in AuthorizationPolicy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, api: Stub, open: Stub;
let m: Running;
let sign: (
  claims: Record<string, unknown>,
  opts?: { exp?: string; key?: 'good' | 'other'; iss?: string }
) => Promise<string>;

beforeAll(async () => {
  const good = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  sign = (claims, opts = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(opts.iss ?? 'testing@secure.istio.io')
      .setSubject(String(claims.sub ?? 'alice'))
      .setAudience('bookinfo')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '1h')
      .sign(opts.key === 'other' ? other.privateKey : good.privateKey);
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
  it('an invalid token (other key, expired, wrong issuer) gets 401 "Jwt verification fails"', async () => {
    for (const t of [
      await sign({ groups: ['admins'] }, { key: 'other' }),
      await sign({ groups: ['admins'] }, { exp: '-1m' }),
      await sign({}, { iss: 'someone@else' }),
      'not-a-jwt'
    ]) {
      const r = await call('/admin', t);
      expect(r.status).toBe(401);
      expect(r.body).toBe('Jwt verification fails');
      expect(r.headers['www-authenticate']).toMatch(/^Bearer realm=".*", error="invalid_token"$/);
    }
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
