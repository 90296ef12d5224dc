/**
 * Integration: what Envoy's filters report and write that Istio's own translation decides, checked on real sockets
 * (mTLS between sidecars): the RBAC policy the access log's details name (a CUSTOM policy whose provider is unknown,
 * several matching DENY policies in Envoy's order of name, a TCP connection's termination details), the remote
 * address behind an X-Forwarded-For that is not an IP, and the values jwt_authn writes for `outputClaimToHeaders`.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { meshYaml, request, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, guarded: Stub, ips: Stub, claims: Stub;
let echo: net.Server;
let m: Running;
let token: string;
const lines: string[] = [];

beforeAll(async () => {
  [caller, guarded, ips, claims] = await Promise.all(['caller', 'guarded', 'ips', 'claims'].map((n) => stub(n)));
  echo = net.createServer((c) => {
    c.on('data', (d: Buffer) => c.write(d));
    c.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const key = await generateKeyPair('RS256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  token = await new SignJWT({
    sub: 'alice',
    ratio: 1.5,
    delta: -2,
    count: 7,
    admin: true,
    blank: '',
    groups: ['dev', 'ops'],
    org: { team: 'mesh', id: 3 },
    'https://example.com/claims': { role: 'owner' }
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('issuer@localmesh.test')
    .setExpirationTime('1h')
    .sign(key.privateKey);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        guarded: { workloads: [{ name: 'guarded-v1', instances: [guarded.address] }] },
        ips: { workloads: [{ name: 'ips-v1', instances: [ips.address] }] },
        claims: { workloads: [{ name: 'claims-v1', instances: [claims.address] }] },
        db: {
          protocol: 'tcp',
          workloads: [{ name: 'db-v1', instances: [`127.0.0.1:${(echo.address() as net.AddressInfo).port}`] }]
        }
      }),
      istio: {
        'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz}
spec:
  selector: {matchLabels: {app: guarded}}
  action: CUSTOM
  provider: {name: my-authz}
  rules: [{to: [{operation: {paths: ["/custom*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: zz-written-first}
spec:
  selector: {matchLabels: {app: guarded}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/deny*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: aa-written-second}
spec:
  selector: {matchLabels: {app: guarded}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/deny*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: local-only}
spec:
  selector: {matchLabels: {app: ips}}
  action: DENY
  rules: [{from: [{source: {remoteIpBlocks: [127.0.0.1/32]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: db-deny}
spec:
  selector: {matchLabels: {app: db}}
  action: DENY
  rules:
  - from: [{source: {namespaces: [elsewhere]}}]
  - to: [{operation: {methods: [GET]}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: claims}
spec:
  selector: {matchLabels: {app: claims}}
  jwtRules:
  - issuer: issuer@localmesh.test
    jwks: '${jwks}'
    outputClaimToHeaders:
    - {header: x-ratio, claim: ratio}
    - {header: x-delta, claim: delta}
    - {header: x-count, claim: count}
    - {header: x-admin, claim: admin}
    - {header: x-blank, claim: blank}
    - {header: x-groups, claim: groups}
    - {header: x-org, claim: org}
    - {header: x-team, claim: org.team}
    - {header: x-role, claim: https://example.com/claims.role}
    - {header: x-missing, claim: org.nothing}
`
      }
    },
    { accessLog: (l) => lines.push(l) }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, guarded, ips, claims].map((s) => s.close()));
  await new Promise((r) => echo.close(r));
});

const inboundLine = (id: string) =>
  until(() => lines.find((l) => l.includes(`"${id}"`) && l.includes(' inbound|')), `access log line of ${id}`);

describe('the RBAC policy the access log names', () => {
  it("a CUSTOM policy of an unknown provider: istiod's deny policy, named after the provider", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'guarded:9080', '/custom/x', {
      headers: { 'x-request-id': 'custom-1' }
    });
    expect([r.status, r.body]).toEqual([403, 'RBAC: access denied']);
    expect(await inboundLine('custom-1')).toContain(
      ' 403 - rbac_access_denied_matched_policy[istio-ext-authz-my-authz-ns[default]-policy[ext-authz]-rule[0]-deny-due-to-bad-CUSTOM-action] - '
    );
  });
  it("two DENY policies match: Envoy tries a filter's policies in order of name, not of the files", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'guarded:9080', '/deny', {
      headers: { 'x-request-id': 'deny-2' }
    });
    expect(r.status).toBe(403);
    expect(await inboundLine('deny-2')).toContain(
      ' 403 - rbac_access_denied_matched_policy[ns[default]-policy[aa-written-second]-rule[0]] - '
    );
  });
  it("a denied TCP connection is closed with the policy in the connection's termination details", async () => {
    const s = net.connect(m.upstream('caller-v1', 'db'), '127.0.0.1');
    const got = await new Promise<string>((resolve) => {
      let t = '';
      s.on('data', (c: Buffer) => (t += c.toString()));
      s.on('close', () => resolve(t));
      s.on('error', () => s.destroy());
      s.write('hello');
    });
    expect(got).toBe('');
    const line = await until(() => lines.find((l) => l.includes('"- - -" 0') && l.includes(' inbound|')), 'tcp line');
    // rule 1 is the DENY rule of HTTP fields alone: without them it matches every connection
    expect(line).toContain(
      ' "- - -" 0 - - rbac_access_denied_matched_policy[ns[default]-policy[db-deny]-rule[1]] "-" 0 0 '
    );
  });
});

describe('remote.ip', () => {
  const direct = (headers: Record<string, string>) =>
    request(m.inbound('ips-v1'), '/', { headers: { host: 'ips:9080', ...headers } });
  it('is the rightmost X-Forwarded-For address, else the peer: an entry that is not an IP does not hide the peer', async () => {
    expect((await direct({ 'x-forwarded-for': '127.0.0.1, 10.0.0.1' })).status).toBe(200);
    expect((await direct({ 'x-forwarded-for': '10.0.0.1, 127.0.0.1' })).status).toBe(403);
    expect((await direct({})).status).toBe(403);
    expect((await direct({ 'x-forwarded-for': 'unknown' })).status).toBe(403);
    expect((await direct({ 'x-forwarded-for': '10.0.0.1, ' })).status).toBe(403);
  });
});

describe('outputClaimToHeaders writes what Envoy writes', () => {
  it('nested claims by dots, numbers as C++ prints them, objects and lists as base64 JSON, no empty value', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'claims:9080', '/', {
      headers: { authorization: `Bearer ${token}` }
    });
    expect(r.status).toBe(200);
    const h = claims.seen.at(-1)!.headers;
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    expect({
      ratio: h['x-ratio'],
      delta: h['x-delta'],
      count: h['x-count'],
      admin: h['x-admin'],
      blank: h['x-blank'],
      groups: h['x-groups'],
      org: h['x-org'],
      team: h['x-team'],
      role: h['x-role'],
      missing: h['x-missing']
    }).toEqual({
      ratio: '1.500000',
      delta: '-2.000000',
      count: '7',
      admin: 'true',
      blank: undefined,
      groups: b64('["dev","ops"]'),
      org: b64('{"id":3,"team":"mesh"}'),
      team: 'mesh',
      role: 'owner',
      missing: undefined
    });
  });
});
