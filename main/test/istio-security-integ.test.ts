/**
 * Integration: cases of Istio's own security integration suite (tests/integration/security/authz_test.go and its
 * testdata/authz templates) replayed against real sidecars: callers in two namespaces with the same service account
 * name, policies on the workload port, query strings, deny-global in the root namespace, notX forms, plaintext
 * from a DestinationRule in the caller's namespace, when conditions, path precedence and templates.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

const TARGETS = ['prin', 'dprin', 'ns', 'notns', 'notm', 'plain', 'cond', 'prec', 'tmpl', 'norm', 'jwt'] as const;
type Target = (typeof TARGETS)[number];

let callerA: Stub, callerB: Stub;
const apps = {} as Record<Target, Stub>;
/** TCP echo apps: `tcp` (app: prin), and tcpc, tcpd, tcpe for v1beta1-tcp.yaml.tmpl's policies. */
const TCP_APPS = ['tcp', 'tcpc', 'tcpd', 'tcpe'] as const;
const tcpApps = {} as Record<(typeof TCP_APPS)[number], net.Server>;
let tcpPort = 0;
let m: Running;
let jwks = '';
let token: (claims: Record<string, unknown>) => Promise<string>;

const port = (t: Target) => String(apps[t].port);

function policies(): string {
  const tcpcPort = (tcpApps.tcpc.address() as net.AddressInfo).port;
  const mtls = (t: Target) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${t}, namespace: ns1}
spec:
  selector: {matchLabels: {app: ${t}}}
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${t}, namespace: ns1}
spec:
  host: ${t}.ns1.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
`;
  return `${mtls('prin')}${mtls('dprin')}${mtls('ns')}${mtls('notns')}${mtls('cond')}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: prin, namespace: ns1}
spec:
  selector: {matchLabels: {app: prin}}
  action: ALLOW
  rules:
  - to: [{operation: {ports: ["${port('prin')}"], paths: [/allow], methods: [GET]}}]
    from: [{source: {principals: [cluster.local/ns/ns1/sa/a]}}]
  - to: [{operation: {ports: ["${tcpPort}"]}}]
    from: [{source: {principals: [cluster.local/ns/ns1/sa/a]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-deny-system, namespace: istio-system}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        ports: ["${port('dprin')}"]
        paths: ["/global-deny*"]
        notPaths: ["/global-deny/allow"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: dprin, namespace: ns1}
spec:
  selector: {matchLabels: {app: dprin}}
  action: DENY
  rules:
  - to: [{operation: {ports: ["${port('dprin')}"], paths: ["/deny*"], notPaths: [/deny/allow], methods: [GET]}}]
    from: [{source: {principals: [cluster.local/ns/ns2/sa/a]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ns, namespace: ns1}
spec:
  selector: {matchLabels: {app: ns}}
  action: ALLOW
  rules:
  - to: [{operation: {ports: ["${port('ns')}"], paths: [/allow], methods: [GET]}}]
    from: [{source: {namespaces: [ns1]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: notns-deny, namespace: ns1}
spec:
  selector: {matchLabels: {app: notns}}
  action: DENY
  rules:
  - from: [{source: {notNamespaces: [ns1]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: notm-allow, namespace: ns1}
spec:
  selector: {matchLabels: {app: notm}}
  action: ALLOW
  rules:
  - to: [{operation: {notMethods: [PUT]}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: default, namespace: ns1}
spec:
  host: "*.ns1.svc.cluster.local"
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: plain, namespace: ns1}
spec:
  selector: {matchLabels: {app: plain}}
  action: DENY
  rules:
  - from: [{source: {notPrincipals: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: plain, namespace: ns2}
spec:
  host: plain.ns1.svc.cluster.local
  trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cond-request-headers, namespace: ns1}
spec:
  selector: {matchLabels: {app: cond}}
  rules:
  - to: [{operation: {paths: [/request-headers]}}]
    when: [{key: "request.headers[x-foo]", values: [foo]}]
  - to: [{operation: {paths: [/request-headers-notValues]}}]
    when: [{key: "request.headers[x-foo]", notValues: [bar]}]
  - to: [{operation: {paths: [/source-ip]}}]
    when: [{key: source.ip, values: [127.0.0.1]}]
  - to: [{operation: {paths: [/source-ip-notValues]}}]
    when: [{key: source.ip, notValues: [127.0.0.1]}]
  - to: [{operation: {paths: [/source-namespace]}}]
    when: [{key: source.namespace, values: [ns1]}]
  - to: [{operation: {paths: [/source-namespace-notValues]}}]
    when: [{key: source.namespace, notValues: [ns2]}]
  - to: [{operation: {paths: [/source-principal]}}]
    when: [{key: source.principal, values: [cluster.local/ns/ns1/sa/a]}]
  - to: [{operation: {paths: [/source-principal-notValues]}}]
    when: [{key: source.principal, notValues: [cluster.local/ns/ns2/sa/a]}]
  - to: [{operation: {paths: [/destination-ip-good]}}]
    when: [{key: destination.ip, values: [127.0.0.1]}]
  - to: [{operation: {paths: [/destination-ip-bad]}}]
    when: [{key: destination.ip, values: [1.2.3.4]}]
  - to: [{operation: {paths: [/destination-ip-notValues]}}]
    when: [{key: destination.ip, notValues: [127.0.0.1]}]
  - to: [{operation: {paths: [/destination-port-good]}}]
    when: [{key: destination.port, values: ["${port('cond')}"]}]
  - to: [{operation: {paths: [/destination-port-bad]}}]
    when: [{key: destination.port, values: ["1"]}]
  - to: [{operation: {paths: [/destination-port-notValues]}}]
    when: [{key: destination.port, notValues: ["${port('cond')}"]}]
  - to: [{operation: {paths: [/connection-sni-good]}}]
    when: [{key: connection.sni, values: ["*.cond.ns1.svc.cluster.local"]}]
  - to: [{operation: {paths: [/connection-sni-bad]}}]
    when: [{key: connection.sni, values: [never-matched]}]
  - to: [{operation: {paths: [/connection-sni-notValues]}}]
    when: [{key: connection.sni, notValues: ["*.cond.ns1.svc.cluster.local"]}]
  - to: [{operation: {paths: [/source-serviceaccount]}}]
    when: [{key: source.serviceAccount, values: [a]}]
  - to: [{operation: {paths: [/source-serviceaccount-notValues]}}]
    when: [{key: source.serviceAccount, notValues: [ns2/a]}]
  - to: [{operation: {paths: [/namespace-glob]}}]
    from: [{source: {namespaces: ["n*1"]}}]
    when: [{key: source.namespace, values: ["*s*"]}]
  - to: [{operation: {paths: [/request-headers-valueContains]}}]
    when: [{key: "request.headers[Cookie]", values: ["*foo=*"]}]
  - to: [{operation: {paths: [/header-present]}}]
    when: [{key: "request.headers[x-present]", values: ["*"]}]
  - to: [{operation: {paths: [/inline-headers]}}]
    when: [{key: "request.experimental.inline.headers[x-foo]", values: [foo]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-prec-deny, namespace: ns1}
spec:
  selector: {matchLabels: {app: prec}}
  action: DENY
  rules: [{to: [{operation: {paths: [/allow/admin]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-prec-allow, namespace: ns1}
spec:
  selector: {matchLabels: {app: prec}}
  action: ALLOW
  rules: [{to: [{operation: {paths: ["/allow*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tmpl, namespace: ns1}
spec:
  selector: {matchLabels: {app: tmpl}}
  action: ALLOW
  rules:
  - to: [{operation: {paths: ["/allow/admin/{**}", "/foo/{*}/bar/{**}", "/store/{**}/cart"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: norm, namespace: ns1}
spec:
  selector: {matchLabels: {app: norm}}
  rules: [{to: [{operation: {paths: ["/public*"], methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-c-deny, namespace: ns1}
spec:
  selector: {matchLabels: {app: tcpc}}
  action: DENY
  rules:
  - to: [{operation: {ports: ["1"]}}]
  - to: [{operation: {ports: ["${tcpcPort}"]}}]
    from: [{source: {principals: ["*/ns/ns2/sa/a"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-d-deny, namespace: ns1}
spec:
  selector: {matchLabels: {app: tcpd}}
  action: DENY
  rules:
  - from:
    - source: {principals: [cluster.local/ns/ns1/sa/nobody]}
    - source: {namespaces: ["*s2"]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: policy-e-deny, namespace: ns1}
spec:
  selector: {matchLabels: {app: tcpe}}
  action: DENY
  rules: [{to: [{operation: {paths: [/other]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: default, namespace: ns1}
spec:
  selector: {matchLabels: {app: jwt}}
  jwtRules:
  - issuer: test-issuer-1@istio.io
    jwks: '${jwks}'
  - issuer: test-issuer-2@istio.io
    jwks: '${jwks}'
    spaceDelimitedClaims: [roles]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: jwt, namespace: ns1}
spec:
  selector: {matchLabels: {app: jwt}}
  rules:
  - to: [{operation: {paths: [/token1], methods: [GET]}}]
    from: [{source: {requestPrincipals: [test-issuer-1@istio.io/sub-1]}}]
  - to: [{operation: {paths: [/token2], methods: [GET]}}]
    when: [{key: "request.auth.claims[groups]", values: [group-2]}]
  - to: [{operation: {paths: [/tokenAny], methods: [GET]}}]
    from: [{source: {requestPrincipals: ["*"]}}]
  - to: [{operation: {paths: [/permission], methods: [GET]}}]
    when: [{key: "request.auth.claims[permission]", values: [write, append]}]
  - to: [{operation: {paths: [/nested-key1], methods: [GET]}}]
    when: [{key: "request.auth.claims[nested][key1]", values: [valueB]}]
  - to: [{operation: {paths: [/nested-non-exist], methods: [GET]}}]
    when: [{key: "request.auth.claims[nested][non-exist]", values: [valueC]}]
  - to: [{operation: {paths: [/nested-key2], methods: [GET]}}]
    when: [{key: "request.auth.claims[nested][key2]", values: [valueC]}]
  - to: [{operation: {paths: [/nested-2-key1], methods: [GET]}}]
    when: [{key: "request.auth.claims[nested][nested-2][key1]", values: [valueA]}]
  - to: [{operation: {paths: [/valid-jwt]}}]
    when: [{key: request.auth.principal, values: ["*"]}]
  - to: [{operation: {paths: ["*/presenter"]}}]
    when: [{key: request.auth.presenter, values: [bar]}]
  - to: [{operation: {paths: ["*/audiences"]}}]
    when: [{key: request.auth.audiences, values: [foo]}]
  - to: [{operation: {paths: [/roles]}}]
    when: [{key: "request.auth.claims[roles]", values: [admin]}]
  - to: [{operation: {paths: [/token3], methods: [GET]}}]
    from: [{source: {notRequestPrincipals: [test-issuer-1@istio.io/sub-1]}}]
`;
}

beforeAll(async () => {
  const key = await generateKeyPair('RS256');
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256' }] });
  token = (claims) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('1h').sign(key.privateKey);
  [callerA, callerB] = await Promise.all([stub('a'), stub('a2')]);
  for (const t of TARGETS) apps[t] = await stub(t);
  for (const t of TCP_APPS) {
    const server = net.createServer((s) => {
      s.on('data', (c: Buffer) => s.write(Buffer.concat([Buffer.from('tcp:'), c])));
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    tcpApps[t] = server;
  }
  const tcpAddress = (t: (typeof TCP_APPS)[number]) => `127.0.0.1:${(tcpApps[t].address() as net.AddressInfo).port}`;
  tcpPort = (tcpApps.tcp.address() as net.AddressInfo).port;
  const services: Parameters<typeof meshYaml>[0] = {
    a: { namespace: 'ns1', workloads: [{ name: 'a-v1', serviceAccount: 'a', instances: [callerA.address] }] },
    a2: { namespace: 'ns2', workloads: [{ name: 'a2-v1', serviceAccount: 'a', instances: [callerB.address] }] },
    tcp: {
      namespace: 'ns1',
      protocol: 'tcp',
      workloads: [{ name: 'tcp-v1', labels: { app: 'prin' }, instances: [tcpAddress('tcp')] }]
    }
  };
  for (const t of ['tcpc', 'tcpd', 'tcpe'] as const)
    services[t] = { namespace: 'ns1', protocol: 'tcp', workloads: [{ name: `${t}-v1`, instances: [tcpAddress(t)] }] };
  for (const t of TARGETS)
    services[t] = {
      namespace: 'ns1',
      workloads: [{ name: `${t}-v1`, serviceAccount: t, instances: [apps[t].address] }]
    };
  m = await startMesh({ meshYaml: meshYaml(services), istio: { 'authz.yaml': policies() } });
});
afterAll(async () => {
  await m.close();
  await Promise.all([callerA, callerB, ...Object.values(apps)].map((s) => s.close()));
  for (const server of Object.values(tcpApps)) await new Promise((r) => server.close(r));
});

const get = (caller: 'a' | 'a2', t: Target, p: string, opts: Parameters<typeof viaProxy>[3] = {}) =>
  viaProxy(m.outbound(`${caller}-v1`), `${t}.ns1:9080`, p, opts);

async function expectCase(caller: 'a' | 'a2', t: Target, p: string, allow: boolean, opts = {}) {
  const r = await get(caller, t, p, opts);
  expect(`${caller} ${t}${p} ${r.status} ${r.status === 403 ? r.body : ''}`).toBe(
    `${caller} ${t}${p} ${allow ? 200 : 403} ${allow ? '' : 'RBAC: access denied'}`
  );
}

describe("Istio's authz_test.go cases", () => {
  it('TestAuthz_Principal: ALLOW a principal on the workload port; the query string is not part of the path', async () => {
    for (const p of ['/allow', '/allow?param=value']) {
      await expectCase('a', 'prin', p, true);
      await expectCase('a2', 'prin', p, false);
    }
    for (const p of ['/deny', '/deny?param=value']) await expectCase('a', 'prin', p, false);
  });
  it('TestAuthz_DenyPrincipal: DENY a principal with notPaths, plus a root-namespace DENY on the port', async () => {
    for (const c of ['a', 'a2'] as const) {
      const allow = c === 'a';
      for (const p of ['/deny', '/deny?param=value']) await expectCase(c, 'dprin', p, allow);
      for (const p of ['/deny/allow', '/deny/allow?param=value', '/allow', '/allow?param=value'])
        await expectCase(c, 'dprin', p, true);
      for (const p of ['/global-deny', '/global-deny?param=value']) await expectCase(c, 'dprin', p, false);
      for (const p of ['/global-deny/allow', '/global-deny/allow?param=value']) await expectCase(c, 'dprin', p, true);
    }
  });
  it('TestAuthz_Namespace: ALLOW a namespace; a caller with the same service account in another one is denied', async () => {
    await expectCase('a', 'ns', '/allow?param=value', true);
    await expectCase('a2', 'ns', '/allow', false);
    await expectCase('a', 'ns', '/deny', false);
  });
  it('TestAuthz_NotNamespace, TestAuthz_NotMethod', async () => {
    await expectCase('a', 'notns', '/', true);
    await expectCase('a2', 'notns', '/', false);
    await expectCase('a', 'notm', '/', true);
    await expectCase('a2', 'notm', '/', true, { method: 'GET' });
    await expectCase('a', 'notm', '/', false, { method: 'PUT' });
  });
  it("TestAuthz_DenyPlaintext: a DestinationRule DISABLE in the caller's namespace wins over a wildcard one; notPrincipals [*] denies plaintext", async () => {
    await expectCase('a', 'plain', '/', true);
    await expectCase('a2', 'plain', '/', false);
  });
  it('TestAuthz_Conditions: request.headers, source.*, destination.ip/port, connection.sni with values and notValues', async () => {
    await expectCase('a', 'cond', '/request-headers', true, { headers: { 'x-foo': 'foo' } });
    await expectCase('a', 'cond', '/request-headers', false, { headers: { 'x-foo': 'bar' } });
    await expectCase('a', 'cond', '/request-headers', false);
    await expectCase('a', 'cond', '/request-headers-notValues', true, { headers: { 'x-foo': 'foo' } });
    await expectCase('a', 'cond', '/request-headers-notValues', false, { headers: { 'x-foo': 'bar' } });
    for (const c of ['a', 'a2'] as const)
      for (const p of [
        '/source-namespace',
        '/source-namespace-notValues',
        '/source-principal',
        '/source-principal-notValues'
      ])
        await expectCase(c, 'cond', p, c === 'a');
    await expectCase('a', 'cond', '/source-ip', true);
    await expectCase('a', 'cond', '/source-ip-notValues', false);
    await expectCase('a', 'cond', '/destination-ip-good', true);
    await expectCase('a', 'cond', '/destination-ip-bad', false);
    await expectCase('a', 'cond', '/destination-ip-notValues', false);
    await expectCase('a', 'cond', '/destination-port-good', true);
    await expectCase('a', 'cond', '/destination-port-bad', false);
    await expectCase('a', 'cond', '/destination-port-notValues', false);
    await expectCase('a', 'cond', '/connection-sni-good', true);
    await expectCase('a', 'cond', '/connection-sni-bad', false);
    await expectCase('a', 'cond', '/connection-sni-notValues', false);
    await expectCase('a', 'cond', '/other', false);
    // newer keys: source.serviceAccount (`<sa>` alone in the policy's namespace) and inline headers (each value of a
    // comma-separated header on its own, where request.headers compares the whole); a `*` anywhere in a namespace
    for (const c of ['a', 'a2'] as const)
      for (const p of ['/source-serviceaccount', '/source-serviceaccount-notValues', '/namespace-glob'])
        await expectCase(c, 'cond', p, c === 'a');
    // conditions.yaml.tmpl's "*foo=*": Istio reads the leading * first, a suffix match on the literal "foo=*"
    await expectCase('a', 'cond', '/request-headers-valueContains', true, { headers: { cookie: 'a=1; foo=*' } });
    await expectCase('a', 'cond', '/request-headers-valueContains', false, { headers: { cookie: 'foo=1; b=2' } });
    // "*" is Envoy's present_match: an empty value is present too
    await expectCase('a', 'cond', '/header-present', true, { headers: { 'x-present': '' } });
    await expectCase('a', 'cond', '/header-present', false);
    await expectCase('a', 'cond', '/inline-headers', true, { headers: { 'x-foo': 'bar,foo' } });
    await expectCase('a', 'cond', '/inline-headers', false, { headers: { 'x-foo': 'bar,foofoo' } });
    await expectCase('a', 'cond', '/request-headers', false, { headers: { 'x-foo': 'bar,foo' } });
  });
  it('TestAuthz_PathPrecedence: DENY /allow/admin over ALLOW /allow*', async () => {
    await expectCase('a', 'prec', '/allow/admin', false);
    await expectCase('a', 'prec', '/allow/admin?param=value', false);
    await expectCase('a', 'prec', '/allow', true);
    await expectCase('a', 'prec', '/allow?param=value', true);
  });
  it('TestAuthz_PathTemplating: {*} is one non-empty segment, {**} any, literal segments may follow {**}', async () => {
    const cases: [string, boolean][] = [
      ['/allow/admin/', true],
      ['/allow/admin', false],
      ['/allow/user/', false],
      ['/allow/admin?param=value', false],
      ['/allow', false],
      ['/allow/admin/temp', true],
      ['/allow/admin/temp.txt', true],
      ['/allow/admin/foo/temp.txt', true],
      ['/foo/buzz/bar/bat.txt', true],
      ['/foo/buzz/bar/bat/fuzz.txt', true],
      ['/foo/bar/bat.txt', false],
      ['/foo//bar/bat.txt', false],
      ['/store//cart', true],
      ['/store/cart', false]
    ];
    for (const [p, allow] of cases) await expectCase('a', 'tmpl', p, allow);
  });
  it('TestAuthz_PathNormalization: dot segments, plain and percent-encoded, are resolved before matching', async () => {
    const cases: [string, boolean][] = [
      ['/public', true],
      ['/public/../public', true],
      ['/private', false],
      ['/public/../private', false],
      ['/public/./../private', false],
      ['/public/.././private', false],
      ['/public/%2E%2E/private', false],
      ['/public/%2e%2e/private', false],
      ['/public/%2E/%2E%2E/private', false],
      ['/public/%2e/%2e%2e/private', false],
      ['/public/%2E%2E/%2E/private', false],
      ['/public/%2e%2e/%2e/private', false]
    ];
    for (const [p, allow] of cases) await expectCase('a', 'norm', p, allow);
  });
  it('TestAuthz_JWT: requestPrincipals, claims (nested, lists, space-delimited), presenter, audiences', async () => {
    const iss1 = { iss: 'test-issuer-1@istio.io', sub: 'sub-1' };
    const iss2 = { iss: 'test-issuer-2@istio.io', sub: 'sub-2' };
    const t1 = await token({ ...iss1, groups: ['group-1'] });
    const t2 = await token({ ...iss2, groups: ['group-2'] });
    const scope = await token({ ...iss2, permission: 'read write' });
    const n1 = await token({
      ...iss1,
      nested: { key1: ['valueA', 'valueB'], 'nested-2': { key1: ['valueA', 'valueB'] } }
    });
    const n2 = await token({ ...iss1, nested: { key2: 'valueC', 'nested-2': { key2: 'valueC' } } });
    const cases: [string, string, boolean][] = [
      ['', '/token1', false],
      ['', '/token2', false],
      [t1, '/token1', true],
      [t1, '/token2', false],
      [t2, '/token1', false],
      [t2, '/token2', true],
      [t1, '/token3', false],
      [t2, '/token3', true],
      [t1, '/tokenAny', true],
      [t2, '/tokenAny', true],
      [t1, '/permission', false],
      [t2, '/permission', false],
      [scope, '/permission', true],
      [n1, '/nested-key1', true],
      [n2, '/nested-key1', false],
      [n1, '/nested-key2', false],
      [n2, '/nested-key2', true],
      [n1, '/nested-2-key1', true],
      [n2, '/nested-2-key1', false],
      [n1, '/nested-non-exist', false],
      [n2, '/nested-non-exist', false],
      ['', '/tokenAny', false],
      [t1, '/valid-jwt', true],
      ['', '/valid-jwt', false],
      [await token({ ...iss1, azp: 'bar' }), '/x/presenter', true],
      [t1, '/x/presenter', false],
      [await token({ ...iss1, aud: 'foo' }), '/x/audiences', true],
      [t1, '/x/audiences', false],
      // a rule's own spaceDelimitedClaims (Istio 1.28) are split too
      [await token({ ...iss2, roles: 'user admin' }), '/roles', true],
      [await token({ ...iss2, roles: 'user,admin' }), '/roles', false]
    ];
    for (const [t, p, allow] of cases)
      await expectCase('a', 'jwt', p, allow, t ? { headers: { authorization: `Bearer ${t}` } } : {});
  });
  const send = (w: string, svc = 'tcp') =>
    new Promise<string>((resolve) => {
      const portNo = m.mesh.listeners().get(`up:${w}:${svc}.ns1`)!;
      const s = net.connect(portNo, '127.0.0.1');
      let got = '';
      const t = setTimeout(() => (s.destroy(), resolve(`timeout ${got}`)), 3000);
      s.on('connect', () => s.write('PING'));
      s.on('data', (c: Buffer) => {
        got += c.toString();
        clearTimeout(t);
        s.destroy();
        resolve(got);
      });
      s.on('close', () => (clearTimeout(t), resolve('closed')));
      s.on('error', () => (clearTimeout(t), resolve('closed')));
    });
  it('TestAuthz_Principal over TCP: the ALLOW rule on the TCP port admits the principal, others are closed', async () => {
    expect(await send('a-v1')).toBe('tcp:PING');
    expect(await send('a2-v1')).toBe('closed');
  });
  it('TestAuthorization_TCP: DENY principals and namespaces with * prefixes; a DENY on paths alone closes every TCP connection', async () => {
    expect({
      'a->tcpc': await send('a-v1', 'tcpc'),
      'a2->tcpc': await send('a2-v1', 'tcpc'),
      'a->tcpd': await send('a-v1', 'tcpd'),
      'a2->tcpd': await send('a2-v1', 'tcpd'),
      'a->tcpe': await send('a-v1', 'tcpe')
    }).toEqual({
      'a->tcpc': 'tcp:PING',
      'a2->tcpc': 'closed',
      'a->tcpd': 'tcp:PING',
      'a2->tcpd': 'closed',
      'a->tcpe': 'closed'
    });
  });
});

describe('TestAuthz_NotPort: ALLOW notPorts names a workload port (two instances of one workload, one port each)', () => {
  let r: Running;
  let p1: Stub, p2: Stub;
  beforeAll(async () => {
    [p1, p2] = await Promise.all([stub('p1'), stub('p2')]);
    r = await startMesh({
      meshYaml: meshYaml({ np: { workloads: [{ name: 'np-v1', instances: [p1.address, p2.address] }] } }),
      istio: {
        'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: np-allow}
spec:
  selector: {matchLabels: {app: np}}
  action: ALLOW
  rules: [{to: [{operation: {notPorts: ["${p2.port}"]}}]}]
`
      }
    });
  });
  afterAll(async () => {
    await r.close();
    await Promise.all([p1.close(), p2.close()]);
  });
  it('the instance on the other port is allowed, the named one denied', async () => {
    const direct = async (i: number) =>
      (await request(r.inbound('np-v1', i), '/', { headers: { host: 'np:9080' } })).status;
    expect([await direct(0), await direct(1)]).toEqual([200, 403]);
  });
});

describe('destination.ip is the address of the app (Istio: the pod IP), here one on 127.0.0.2', () => {
  let r: Running;
  let caller: Stub;
  let app: http.Server;
  beforeAll(async () => {
    caller = await stub('caller');
    app = http.createServer((_req, res) => res.end('app'));
    await new Promise<void>((ok) => app.listen(0, '127.0.0.2', ok));
    const address = `127.0.0.2:${(app.address() as net.AddressInfo).port}`;
    r = await startMesh({
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        pod: { workloads: [{ name: 'pod-v1', instances: [address] }] }
      }),
      istio: {
        'authz.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: pod}
spec:
  selector: {matchLabels: {app: pod}}
  rules:
  - to: [{operation: {paths: [/destination-ip-good]}}]
    when: [{key: destination.ip, values: [127.0.0.2]}]
  - to: [{operation: {paths: [/destination-ip-bad]}}]
    when: [{key: destination.ip, values: [127.0.0.1]}]
`
      }
    });
  });
  afterAll(async () => {
    await r.close();
    await caller.close();
    await new Promise((ok) => app.close(ok));
  });
  it('matches the instance address, not the sidecar listener', async () => {
    const to = async (p: string) => (await viaProxy(r.outbound('caller-v1'), 'pod:9080', p)).status;
    expect([await to('/destination-ip-good'), await to('/destination-ip-bad')]).toEqual([200, 403]);
  });
});

/**
 * tests/integration/security/reachability_test.go: PeerAuthentication modes (mesh-wide, workload, port-level) with
 * DestinationRule `tls` modes (a `host: "*"` rule in istio-system, or none: auto mTLS) between sidecars and apps
 * without one; a workload migrating to the mesh (one subset with a sidecar, one without).
 */
describe("Istio's reachability_test.go cases", () => {
  let r: Running;
  let a: Stub, b: Stub, naked: Stub, vistio: Stub, vlegacy: Stub;
  beforeAll(async () => {
    [a, b, naked, vistio, vlegacy] = await Promise.all(['a', 'b', 'naked', 'vistio', 'vlegacy'].map((n) => stub(n)));
    r = await startMesh({
      meshYaml: meshYaml({
        a: { workloads: [{ name: 'a-v1', instances: [a.address] }] },
        b: { workloads: [{ name: 'b-v1', instances: [b.address] }] },
        naked: { workloads: [{ name: 'naked-v1', instances: [naked.address], sidecar: false }] },
        migration: {
          workloads: [
            { name: 'vistio', labels: { app: 'migration', version: 'vistio' }, instances: [vistio.address] },
            {
              name: 'vlegacy',
              labels: { app: 'migration', version: 'vlegacy' },
              instances: [vlegacy.address],
              sidecar: false
            }
          ]
        }
      }),
      istio: { 'reach.yaml': '' }
    });
  });
  afterAll(async () => {
    await r.close();
    await Promise.all([a, b, naked, vistio, vlegacy].map((s) => s.close()));
  });

  const apply = async (content: string) =>
    expect((await r.mesh.writeIstioFile({ path: 'istio/reach.yaml', content })).ok).toBe(true);
  const pa = (ns: string, mode: string, extra = '') =>
    `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa, namespace: ${ns}}\nspec:\n${extra}  mtls: {mode: ${mode}}\n---\n`;
  const dr = (mode: string) =>
    `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: default, namespace: istio-system}\nspec:\n  host: "*"\n  trafficPolicy: {tls: {mode: ${mode}}}\n---\n`;

  /** ok/mtls/plain for a 200 (mTLS seen by the app as x-forwarded-client-cert), else the status or "reset". */
  async function outcome(call: () => Promise<{ status: number }>, app: Stub): Promise<string> {
    const before = app.seen.length;
    try {
      const res = await call();
      if (res.status !== 200) return String(res.status);
      return app.seen.length > before && app.seen.at(-1)!.headers['x-forwarded-client-cert'] ? 'mtls' : 'plain';
    } catch {
      return 'reset';
    }
  }
  const matrix = async () => ({
    'a->b': await outcome(() => viaProxy(r.outbound('a-v1'), 'b:9080', '/'), b),
    'a->naked': await outcome(() => viaProxy(r.outbound('a-v1'), 'naked:9080', '/'), naked),
    'naked->b': await outcome(() => request(r.inbound('b-v1'), '/', { headers: { host: 'b:9080' } }), b)
  });

  it('global mtls strict / permissive / disabled with a "*" DestinationRule, and plaintext to permissive', async () => {
    await apply(pa('istio-system', 'STRICT') + dr('ISTIO_MUTUAL'));
    expect(await matrix()).toEqual({ 'a->b': 'mtls', 'a->naked': '503', 'naked->b': 'reset' });
    await apply(pa('istio-system', 'PERMISSIVE') + dr('ISTIO_MUTUAL'));
    expect(await matrix()).toEqual({ 'a->b': 'mtls', 'a->naked': '503', 'naked->b': 'plain' });
    await apply(pa('istio-system', 'DISABLE') + dr('DISABLE'));
    expect(await matrix()).toEqual({ 'a->b': 'plain', 'a->naked': 'plain', 'naked->b': 'plain' });
    await apply(pa('istio-system', 'PERMISSIVE') + dr('DISABLE'));
    expect(await matrix()).toEqual({ 'a->b': 'plain', 'a->naked': 'plain', 'naked->b': 'plain' });
    await apply(dr('ISTIO_MUTUAL'));
    expect(await matrix()).toEqual({ 'a->b': 'mtls', 'a->naked': '503', 'naked->b': 'plain' });
  });
  it('global auto mTLS (no DestinationRule): strict and disabled', async () => {
    await apply(pa('istio-system', 'STRICT'));
    expect(await matrix()).toEqual({ 'a->b': 'mtls', 'a->naked': 'plain', 'naked->b': 'reset' });
    await apply(pa('istio-system', 'DISABLE'));
    expect(await matrix()).toEqual({ 'a->b': 'plain', 'a->naked': 'plain', 'naked->b': 'plain' });
  });
  it('mtls port override: STRICT with the port DISABLE, so auto mTLS sends plaintext and plaintext is accepted', async () => {
    await apply(
      pa('default', 'STRICT', `  selector: {matchLabels: {app: b}}\n  portLevelMtls: {${b.port}: {mode: DISABLE}}\n`)
    );
    expect(await matrix()).toEqual({ 'a->b': 'plain', 'a->naked': 'plain', 'naked->b': 'plain' });
  });
  it('TestAuthz_WorkloadSelector: selector, namespace-wide and root-namespace-with-selector scopes; a label change re-selects', async () => {
    const ap = (ns: string, name: string, paths: string, labels?: string) =>
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${labels ? `  selector: {matchLabels: ${labels}}\n` : ''}  rules: [{to: [{operation: {paths: [${paths}]}}]}]\n---\n`;
    await apply(
      ap('default', 'policy-b', '/policy-default-b', '{app: b}') +
        ap('default', 'policy-b-bad', '/policy-default-b-bad', '{app: b, foo: bla}') +
        ap('default', 'policy-default-all', '/policy-default-all') +
        ap('other', 'policy-other-all', '/policy-other-all') +
        ap('istio-system', 'policy-system-b', '/policy-system-b', '{app: b}') +
        ap('istio-system', 'policy-system-naked', '/policy-system-naked', '{app: naked}')
    );
    const to = async (p: string) => (await viaProxy(r.outbound('a-v1'), 'b:9080', p)).status;
    const got: Record<string, number> = {};
    for (const p of [
      '/policy-default-b-bad',
      '/policy-default-all',
      '/policy-other-all',
      '/policy-default-b',
      '/policy-system-b',
      '/policy-default-naked',
      '/policy-system-naked'
    ])
      got[p] = await to(p);
    expect(got).toEqual({
      '/policy-default-b-bad': 403,
      '/policy-default-all': 200,
      '/policy-other-all': 403,
      '/policy-default-b': 200,
      '/policy-system-b': 200,
      '/policy-default-naked': 403,
      '/policy-system-naked': 403
    });
    // the workload gets the label the "bad" selector names: the policy selects it from the next request on
    fs.writeFileSync(r.file, fs.readFileSync(r.file, 'utf8').replace('{"app":"b"}', '{"app":"b","foo":"bla"}'));
    expect((await r.mesh.reload()).ok).toBe(true);
    expect(await to('/policy-default-b-bad')).toBe(200);
  });
  it('TestAuthorization_Audit: AUDIT matches change nothing; with no ALLOW policy beside them everything is allowed', async () => {
    const ap = (app: string, action: string, path: string) =>
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${app}-${action.toLowerCase()}}\nspec:\n  selector: {matchLabels: {app: ${app}}}\n  action: ${action}\n  rules: [{to: [{operation: {paths: [${path}]}}]}]\n---\n`;
    const to = async (svc: string, p: string) => (await viaProxy(r.outbound('a-v1'), `${svc}:9080`, p)).status;
    await apply(
      ap('b', 'AUDIT', '/audit') + ap('b', 'ALLOW', '/allow') + ap('a', 'AUDIT', '/audit') + ap('a', 'DENY', '/deny')
    );
    expect([await to('b', '/allow'), await to('b', '/audit'), await to('a', '/audit'), await to('a', '/deny')]).toEqual(
      [200, 403, 200, 403]
    );
    await apply(ap('b', 'AUDIT', '/audit'));
    expect([await to('b', '/audit'), await to('b', '/other')]).toEqual([200, 200]);
  });
  it('migration: namespace STRICT, subsets with and without a sidecar, DestinationRule tls unset / DISABLE / ISTIO_MUTUAL', async () => {
    const migration = (tls: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: migration}
spec:
  hosts: [migration.default.svc.cluster.local]
  http:
  - name: vistio-route
    match: [{uri: {prefix: /vistio}}]
    route: [{destination: {host: migration.default.svc.cluster.local, subset: vistio}}]
  - name: legacy-by-default
    route: [{destination: {host: migration.default.svc.cluster.local, subset: vlegacy}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: migration}
spec:
  host: migration.default.svc.cluster.local
  subsets:
  - {name: vistio, labels: {version: vistio}${tls ? `, trafficPolicy: {tls: {mode: ${tls}}}` : ''}}
  - {name: vlegacy, labels: {version: vlegacy}${tls ? `, trafficPolicy: {tls: {mode: ${tls}}}` : ''}}
${tls ? `  trafficPolicy: {tls: {mode: ${tls}}}\n` : ''}`;
    const both = async () => ({
      vistio: await outcome(() => viaProxy(r.outbound('a-v1'), 'migration:9080', '/vistio'), vistio),
      vlegacy: await outcome(() => viaProxy(r.outbound('a-v1'), 'migration:9080', '/vlegacy'), vlegacy)
    });
    await apply(pa('default', 'STRICT') + migration(''));
    expect(await both()).toEqual({ vistio: 'mtls', vlegacy: 'plain' });
    await apply(pa('default', 'STRICT') + migration('DISABLE'));
    expect(await both()).toEqual({ vistio: '503', vlegacy: 'plain' });
    await apply(pa('default', 'STRICT') + migration('ISTIO_MUTUAL'));
    expect(await both()).toEqual({ vistio: 'mtls', vlegacy: '503' });
  });
});

/**
 * tests/integration/security/jwt_test.go TestRequestAuthentication and its testdata/requestauthn templates: payload
 * output, token removal and forwarding, expiry, CORS preflights, audiences across two RequestAuthentications of
 * one issuer, custom header and parameter locations.
 */
describe("Istio's jwt_test.go cases", () => {
  let r: Running;
  let caller: Stub;
  const apps2 = {} as Record<'authn' | 'authz' | 'fwd' | 'aud' | 'hp' | 'inv', Stub>;
  let sign: (claims: Record<string, unknown>, exp?: number) => Promise<string>;
  beforeAll(async () => {
    const key = await generateKeyPair('RS256');
    const keys = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256' }] });
    sign = (claims, exp = Math.floor(Date.now() / 1000) + 3600) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime(exp).sign(key.privateKey);
    caller = await stub('caller');
    for (const n of ['authn', 'authz', 'fwd', 'aud', 'hp', 'inv'] as const) apps2[n] = await stub(n);
    const rule = (iss: string, extra = '') => `  - issuer: ${iss}\n    jwks: '${keys}'\n${extra}`;
    const ra = (name: string, app: string, rules: string) =>
      `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ${name}}\nspec:\n  selector: {matchLabels: {app: ${app}}}\n  jwtRules:\n${rules}---\n`;
    const needSub1 = (app: string) =>
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${app}}\nspec:\n  selector: {matchLabels: {app: ${app}}}\n  rules: [{to: [{operation: {methods: [GET]}}], from: [{source: {requestPrincipals: [test-issuer-1@istio.io/sub-1]}}]}]\n---\n`;
    const services: Parameters<typeof meshYaml>[0] = {
      caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] }
    };
    for (const [n, s] of Object.entries(apps2))
      services[n] = { workloads: [{ name: `${n}-v1`, instances: [s.address] }] };
    r = await startMesh({
      meshYaml: meshYaml(services),
      istio: {
        'jwt.yaml':
          ra(
            'authn',
            'authn',
            rule('test-issuer-1@istio.io', '    outputPayloadToHeader: x-test-payload\n') +
              rule('test-issuer-2@istio.io', '    outputPayloadToHeader: x-test-payload\n')
          ) +
          ra('authz', 'authz', rule('test-issuer-1@istio.io')) +
          needSub1('authz') +
          ra(
            'fwd',
            'fwd',
            rule(
              'test-issuer-1@istio.io',
              '    outputPayloadToHeader: x-test-payload\n    forwardOriginalToken: true\n'
            )
          ) +
          ra(
            'request-authn-part1',
            'aud',
            rule('test-issuer-1@istio.io', '    audiences: [foo]\n') +
              rule('test-issuer-2@istio.io', '    audiences: [bar]\n')
          ) +
          ra('requst-authn-part2', 'aud', rule('test-issuer-2@istio.io')) +
          ra(
            'hp',
            'hp',
            rule(
              'test-issuer-1@istio.io',
              '    fromHeaders: [{name: x-jwt-token, prefix: "Value "}, {name: auth-token, prefix: "Token "}]\n    fromParams: [token, secondary_token]\n'
            )
          ) +
          needSub1('hp') +
          ra(
            'inv',
            'inv',
            '  - issuer: test-issuer-1@istio.io\n    jwksUri: https://raw.githubusercontent.com/istio/istio/master/tests/common/jwt/jwks-not-exist.json\n'
          )
      }
    });
  });
  afterAll(async () => {
    await r.close();
    await Promise.all([caller, ...Object.values(apps2)].map((s) => s.close()));
  });
  const call = (svc: keyof typeof apps2, p: string, opts: Parameters<typeof viaProxy>[3] = {}) =>
    viaProxy(r.outbound('caller-v1'), `${svc}:9080`, p, opts);
  const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

  it('authn-only: a valid token is removed and its payload written; an expired one is 401; none passes', async () => {
    const t1 = await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' });
    const t2 = await sign({ iss: 'test-issuer-2@istio.io', sub: 'sub-2' });
    for (const t of [t1, t2]) {
      expect((await call('authn', '/valid-token-noauthz', bearer(t))).status).toBe(200);
      const seen = apps2.authn.seen.at(-1)!.headers;
      expect([seen.authorization, seen['x-test-payload']]).toEqual([undefined, t.split('.')[1]]);
    }
    const expired = await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' }, 1562182856);
    const res = await call('authn', '/expired-token-noauthz', bearer(expired));
    expect([res.status, res.body]).toEqual([401, 'Jwt is expired']);
    expect((await call('authn', '/no-token-noauthz')).status).toBe(200);
    // a CORS preflight is not authenticated (bypass_cors_preflight); without Origin it is not a preflight
    const preflight = { 'access-control-request-method': 'POST', authorization: `Bearer ${expired}` };
    const ok = await call('authn', '/p', { method: 'OPTIONS', headers: { ...preflight, origin: 'https://istio.io' } });
    expect(ok.status).toBe(200);
    expect((await call('authn', '/p', { method: 'OPTIONS', headers: preflight })).status).toBe(401);
  });
  it('authn-authz and forward: no token is 403, an expired one 401; forwardOriginalToken keeps the header', async () => {
    const t1 = await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' });
    expect((await call('authz', '/valid-token', bearer(t1))).status).toBe(200);
    expect(apps2.authz.seen.at(-1)!.headers.authorization).toBeUndefined();
    expect(
      (await call('authz', '/expired-token', bearer(await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' }, 1))))
        .status
    ).toBe(401);
    expect((await call('authz', '/no-token')).status).toBe(403);
    expect((await call('fwd', '/valid-token-forward', bearer(t1))).status).toBe(200);
    const seen = apps2.fwd.seen.at(-1)!.headers;
    expect([seen.authorization, seen['x-test-payload']]).toEqual([`Bearer ${t1}`, t1.split('.')[1]]);
  });
  it('aud: an audience mismatch is 403; two RequestAuthentications for one issuer are combined (either accepts)', async () => {
    const noAud = await call('aud', '/valid-aud', bearer(await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' })));
    expect([noAud.status, noAud.body]).toEqual([403, 'Audiences in Jwt are not allowed']);
    expect(
      (await call('aud', '/valid-aud', bearer(await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1', aud: 'foo' }))))
        .status
    ).toBe(200);
    const t2 = await sign({ iss: 'test-issuer-2@istio.io', sub: 'sub-2' });
    expect((await call('aud', '/verify-policies-are-combined', bearer(t2))).status).toBe(200);
  });
  it("invalid-jwks: a jwksUri that cannot be fetched (istiod's fake JWKS): a token is 401, none passes", async () => {
    const t1 = await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' });
    const withKid = await call('inv', '/', bearer(t1));
    // the JWKS istiod hands Envoy has one key without kid or alg, which every token is tried against
    expect([withKid.status, withKid.body]).toEqual([401, 'Jwt verification fails']);
    const noKid = await new SignJWT({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new Uint8Array(32));
    const res = await call('inv', '/', bearer(noKid));
    expect([res.status, res.body]).toEqual([401, 'Jwt verification fails']);
    expect((await call('inv', '/invalid-jwks-no-token-noauthz')).status).toBe(200);
  });
  it('headers-params: custom header prefixes and parameters; every token present must verify', async () => {
    const t1 = await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' });
    const expired = await sign({ iss: 'test-issuer-1@istio.io', sub: 'sub-1' }, 1562182856);
    const got = {
      'valid-params': (await call('hp', `/valid-token?token=${t1}`)).status,
      'valid-params-secondary': (await call('hp', `/valid-token?secondary_token=${t1}`)).status,
      'invalid-params': (await call('hp', `/valid-token?token_value=${t1}`)).status,
      'valid-token-set': (await call('hp', `/valid-token?token=${t1}&secondary_token=${t1}`)).status,
      'invalid-token-set': (await call('hp', `/valid-token?token=${t1}&secondary_token=${expired}`)).status,
      'valid-header': (await call('hp', '/', { headers: { 'x-jwt-token': `Value ${t1}` } })).status,
      'valid-header-secondary': (await call('hp', '/', { headers: { 'auth-token': `Token ${t1}` } })).status,
      'invalid-header': (await call('hp', '/', { headers: { 'auth-header-param': `Bearer ${t1}` } })).status
    };
    expect(got).toEqual({
      'valid-params': 200,
      'valid-params-secondary': 200,
      'invalid-params': 403,
      'valid-token-set': 200,
      'invalid-token-set': 401,
      'valid-header': 200,
      'valid-header-secondary': 200,
      'invalid-header': 403
    });
  });
});
