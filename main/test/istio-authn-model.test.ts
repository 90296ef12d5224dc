/**
 * Integration: Istio's unit tests of its authentication model (pilot/pkg/model/authentication_test.go,
 * pilot/pkg/security/authn policy applier) replayed against the sidecars: which PeerAuthentication applies (the
 * oldest of a scope, creation-time ties broken by name as Istio's sortConfigByCreationTime does, UNSET inheriting
 * from the wider scope at mode and port level), and a RequestAuthentication rule without jwks or jwksUri.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, inh: Stub, up: Stub, wu: Stub, tie: Stub, api: Stub, loc: Stub;
let m: Running;
let key: Awaited<ReturnType<typeof generateKeyPair>>;

const pa = (name: string, ns: string, body: string, created = '2020-02-02T02:02:02Z') =>
  `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec:
${body}`;

beforeAll(async () => {
  key = await generateKeyPair('RS256');
  [caller, inh, up, wu, tie, api, loc] = await Promise.all(
    ['caller', 'inh', 'up', 'wu', 'tie', 'api', 'loc'].map((n) => stub(n))
  );
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256' }] });
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        inh: { namespace: 'inh', workloads: [{ name: 'inh-v1', instances: [inh.address] }] },
        up: { namespace: 'open', workloads: [{ name: 'up-v1', instances: [up.address] }] },
        wu: { namespace: 'open', workloads: [{ name: 'wu-v1', instances: [wu.address] }] },
        tie: { namespace: 'tie', workloads: [{ name: 'tie-v1', instances: [tie.address] }] },
        api: { namespace: 'open', workloads: [{ name: 'api-v1', instances: [api.address] }] },
        loc: { namespace: 'open', workloads: [{ name: 'loc-v1', instances: [loc.address] }] }
      }),
      istio: {
        'pa.yaml': [
          // mesh-wide: the oldest counts (STRICT); the newer PERMISSIVE one is ignored
          pa('ignored-newer', 'istio-system', '  mtls: {mode: PERMISSIVE}\n', '2020-02-02T02:02:04Z'),
          pa('default', 'istio-system', '  mtls: {mode: STRICT}\n'),
          // a namespace-wide UNSET inherits the mesh's STRICT
          pa('default', 'inh', '  mtls: {mode: UNSET}\n'),
          pa('default', 'open', '  mtls: {mode: PERMISSIVE}\n'),
          // a port-level UNSET inherits the workload's mode (STRICT), not the namespace's PERMISSIVE
          pa(
            'up',
            'open',
            `  selector: {matchLabels: {app: up}}\n  mtls: {mode: STRICT}\n  portLevelMtls: {"${up.port}": {mode: UNSET}}\n`
          ),
          // a workload-level UNSET inherits the namespace's PERMISSIVE
          pa('wu', 'open', '  selector: {matchLabels: {app: wu}}\n  mtls: {mode: UNSET}\n'),
          // created in the same second: Istio orders them by name, so a-permissive is the oldest whatever the file order
          pa('z-strict', 'tie', '  mtls: {mode: STRICT}\n'),
          pa('a-permissive', 'tie', '  mtls: {mode: PERMISSIVE}\n')
        ].join('---\n'),
        'ra.yaml': `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: global-with-selector, namespace: istio-system}
spec:
  selector: {matchLabels: {app: api}}
  jwtRules:
  - issuer: testing@secure.istio.io
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: loc, namespace: open}
spec:
  selector: {matchLabels: {app: loc}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: '${jwks}'
`
      }
    },
    { store: 'memory' }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, inh, up, wu, tie, api, loc].map((s) => s.close()));
});

/** A plaintext request from a caller without a sidecar, straight to the workload's inbound sidecar. */
const plaintext = async (workload: string): Promise<string> => {
  const sock = net.connect(m.inbound(workload), '127.0.0.1');
  let got = '';
  let error = '';
  sock.on('data', (d) => (got += d.toString()));
  sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET /p HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  await new Promise((r) => sock.once('close', r));
  return got.split('\r\n')[0] || error;
};

describe('PeerAuthentication composition (authentication_test TestGetPoliciesForWorkload, ComposePeerAuthentication)', () => {
  it('a namespace-wide UNSET inherits the oldest mesh-wide policy (STRICT)', async () => {
    expect(await plaintext('inh-v1')).toBe('ECONNRESET');
    expect(inh.seen).toHaveLength(0);
  });
  it("a port-level UNSET inherits the workload policy's mode, not the namespace's", async () => {
    expect(await plaintext('up-v1')).toBe('ECONNRESET');
  });
  it("a workload-level UNSET inherits the namespace's PERMISSIVE", async () => {
    expect(await plaintext('wu-v1')).toBe('HTTP/1.1 200 OK');
  });
  it('two namespace-wide policies created in the same second: the first by name applies', async () => {
    expect(await plaintext('tie-v1')).toBe('HTTP/1.1 200 OK');
  });
});

describe('RequestAuthentication without jwks or jwksUri (policy applier: istiod cannot resolve the keys)', () => {
  const sign = (kid?: string) =>
    new SignJWT({ sub: 'alice' })
      .setProtectedHeader(kid ? { alg: 'RS256', kid } : { alg: 'RS256' })
      .setIssuer('testing@secure.istio.io')
      .setExpirationTime('1h')
      .sign(key.privateKey);
  const call = async (token?: string) =>
    viaProxy(m.outbound('caller-v1'), 'api.open:9080', '/x', {
      headers: token ? { authorization: `Bearer ${token}` } : {}
    });

  it('a root-namespace policy with a selector applies in another namespace; no token passes', async () => {
    expect((await call()).status).toBe(200);
  });
  it('a token, with or without kid, fails the key istiod hands Envoy when it cannot fetch one: 401', async () => {
    for (const kid of ['k1', 'abc', undefined]) {
      const r = await call(await sign(kid));
      expect([r.status, r.body]).toEqual([401, 'Jwt verification fails']);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="http://api.open:9080/x", error="invalid_token"');
    }
    expect(api.seen.filter((s) => s.headers.authorization)).toHaveLength(0);
  });
});

describe('JWT in a header with a prefix (Envoy extractJWT)', () => {
  it('the token is the run of base64url characters after the prefix: what follows it is not part of it', async () => {
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer('testing@secure.istio.io')
      .setExpirationTime('1h')
      .sign(key.privateKey);
    for (const value of [`Bearer ${token}, Basic dXNlcjpwdw==`, `Bearer ${token};v=1`]) {
      const r = await viaProxy(m.outbound('caller-v1'), 'loc.open:9080', '/x', { headers: { authorization: value } });
      expect(r.status).toBe(200);
      // verified, so the header is removed (forwardOriginalToken unset)
      expect(loc.seen.at(-1)!.headers.authorization).toBeUndefined();
    }
    const bad = await viaProxy(m.outbound('caller-v1'), 'loc.open:9080', '/x', {
      headers: { authorization: `Bearer ${token.slice(0, -2)}!!${token.slice(-2)}` }
    });
    expect([bad.status, bad.body]).toEqual([401, 'Jwt verification fails']);
  });
});
