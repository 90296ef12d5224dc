/**
 * Integration: AuthorizationPolicy at the server sidecar over real mTLS (istio-semantics §1.5): evaluation order,
 * allow-nothing / allow-all, principals needing mTLS, not* fields, path templates, when conditions, dry-run,
 * root-namespace policies, and targetRefs policies left to waypoints. Denied replies are byte-exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshYaml, request, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

let pp: Stub, other: Stub, books: Stub, vault: Stub, nothing: Stub, audit: Stub;
let hosts: Stub, sa: Stub, td: Stub, ips: Stub;
let m: Running;

const ISTIO = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: books-viewer}
spec:
  selector: {matchLabels: {app: books}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/productpage]}}]
    to: [{operation: {methods: [GET], paths: ["/books/{*}", "/public/{**}"]}}]
  - to: [{operation: {paths: [/health]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: books-no-delete}
spec:
  selector: {matchLabels: {app: books}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/books/secret"]}}]
  - when: [{key: "request.headers[x-block]", values: ["yes"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: vault-mtls-only}
spec:
  selector: {matchLabels: {app: vault}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["*"], notNamespaces: [blocked]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: waypoint-only}
spec:
  targetRefs: [{kind: Service, group: "", name: audit}]
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing}
spec:
  selector: {matchLabels: {app: nothing}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: would-deny
  annotations: {istio.io/dry-run: "true"}
spec:
  selector: {matchLabels: {app: audit}}
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-deny-trace, namespace: istio-system}
spec:
  action: DENY
  rules:
  - to: [{operation: {methods: [TRACE]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: hosts-as-sent}
spec:
  selector: {matchLabels: {app: hosts}}
  rules:
  - to: [{operation: {hosts: [hosts], paths: [/bare]}}]
  - to: [{operation: {hosts: ["hosts:9080"], paths: ["/port*"]}}]
  - to: [{operation: {hosts: ["HOSTS*"], paths: [/prefix]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz}
spec:
  selector: {matchLabels: {app: hosts}}
  action: CUSTOM
  provider: {name: my-ext-authz}
  rules: [{to: [{operation: {paths: ["/port/admin*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: short-sa}
spec:
  selector: {matchLabels: {app: sa}}
  rules: [{from: [{source: {serviceAccounts: [productpage]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: trust-domain}
spec:
  selector: {matchLabels: {app: td}}
  rules: [{from: [{source: {trustDomains: [cluster.local]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: remote-ip}
spec:
  selector: {matchLabels: {app: ips}}
  rules: [{from: [{source: {remoteIpBlocks: [10.2.2.2/32]}}]}]
`;

beforeAll(async () => {
  [pp, other, books, vault, nothing, audit] = await Promise.all(
    ['pp', 'other', 'books', 'vault', 'nothing', 'audit'].map((n) => stub(n))
  );
  [hosts, sa, td, ips] = await Promise.all(['hosts', 'sa', 'td', 'ips'].map((n) => stub(n)));
  m = await startMesh({
    meshYaml: meshYaml({
      productpage: { workloads: [{ name: 'productpage-v1', serviceAccount: 'productpage', instances: [pp.address] }] },
      other: { workloads: [{ name: 'other-v1', serviceAccount: 'other', instances: [other.address] }] },
      books: { workloads: [{ name: 'books-v1', instances: [books.address] }] },
      vault: { workloads: [{ name: 'vault-v1', instances: [vault.address] }] },
      nothing: { workloads: [{ name: 'nothing-v1', instances: [nothing.address] }] },
      audit: { workloads: [{ name: 'audit-v1', instances: [audit.address] }] },
      hosts: { workloads: [{ name: 'hosts-v1', instances: [hosts.address] }] },
      sa: { workloads: [{ name: 'sa-v1', instances: [sa.address] }] },
      td: { workloads: [{ name: 'td-v1', instances: [td.address] }] },
      ips: { workloads: [{ name: 'ips-v1', instances: [ips.address] }] }
    }),
    istio: { 'authz.yaml': ISTIO }
  });
});
afterAll(async () => {
  await m.close();
  await Promise.all([pp, other, books, vault, nothing, audit, hosts, sa, td, ips].map((s) => s.close()));
});

const from = (w: string, authority: string, p: string, opts: Parameters<typeof viaProxy>[3] = {}) =>
  viaProxy(m.outbound(w), authority, p, opts);

function expectDenied(r: { status: number; body: string; headers: Record<string, unknown> }) {
  expect(r.status).toBe(403);
  expect(r.body).toBe('RBAC: access denied');
  expect(r.headers['content-type']).toBe('text/plain');
}

describe('ALLOW and DENY', () => {
  it('ALLOW by principal + method + path template', async () => {
    expect((await from('productpage-v1', 'books:9080', '/books/1')).status).toBe(200);
    expect((await from('productpage-v1', 'books:9080', '/public/a/b/c?x=1')).status).toBe(200);
    expectDenied(await from('productpage-v1', 'books:9080', '/books/1/extra')); // {*} is one segment
    expectDenied(await from('productpage-v1', 'books:9080', '/books/1', { method: 'POST' }));
    expectDenied(await from('other-v1', 'books:9080', '/books/1'));
  });
  it('a rule without from: anyone, even plaintext, for /health', async () => {
    expect((await request(m.inbound('books-v1'), '/health', { headers: { host: 'books:9080' } })).status).toBe(200);
  });
  it('DENY wins over ALLOW; when conditions on request headers', async () => {
    expectDenied(await from('productpage-v1', 'books:9080', '/books/secret'));
    expectDenied(await from('productpage-v1', 'books:9080', '/books/2', { headers: { 'x-block': 'yes' } }));
  });
  it('paths are compared normalized: dot segments, escaped letters and fragments do not slip past a DENY', async () => {
    const before = books.seen.length;
    for (const p of [
      '/books/./secret',
      '/books/x/../secret',
      '/books/%73ecret',
      '/books/secret#f',
      '/x/../books/secret'
    ])
      expectDenied(await from('productpage-v1', 'books:9080', p));
    // straight to the inbound sidecar, origin-form and absolute-form
    const direct = { headers: { host: 'books:9080' } };
    expectDenied(await request(m.inbound('books-v1'), '/public/../books/secret', direct));
    expectDenied(await request(m.inbound('books-v1'), 'http://books:9080/books/secret', direct));
    expect(books.seen.length).toBe(before);
    // an allowed request reaches the app with the normalized path, as Envoy forwards it
    expect((await from('productpage-v1', 'books:9080', '/books/x/./../7')).status).toBe(200);
    expect(books.seen.at(-1)!.url).toBe('/books/7');
  });
  it('a denied call is 403 at both sidecars with response flag "-"; the app never sees it', async () => {
    const before = books.seen.length;
    await from('other-v1', 'books:9080', '/books/9', { headers: { 'x-request-id': 'authz-1' } });
    expect(books.seen.length).toBe(before);
    const fl = (await m.mesh.listFlows({ limit: 50 })).filter((f) => f.requestId === 'authz-1');
    expect(fl.map((f) => `${f.reporter}:${f.status}:${f.flags}`).sort()).toEqual(['destination:403:-', 'source:403:-']);
    expect(
      fl
        .find((f) => f.reporter === 'destination')!
        .trace.some((t) => t.step === 'authz' && /no ALLOW policy matched/.test(t.detail))
    ).toBe(true);
  });
});

describe('shapes and scoping', () => {
  it('principals ["*"] needs mTLS: plaintext callers are denied, sidecar callers allowed', async () => {
    expect((await from('other-v1', 'vault:9080', '/v')).status).toBe(200);
    expectDenied(await request(m.inbound('vault-v1'), '/v', { headers: { host: 'vault:9080' } }));
  });
  it('an ALLOW policy with no rules allows nothing', async () => {
    expectDenied(await from('productpage-v1', 'nothing:9080', '/'));
  });
  it('dry-run policies are evaluated and noted, not enforced', async () => {
    expect((await from('productpage-v1', 'audit:9080', '/a', { headers: { 'x-request-id': 'authz-2' } })).status).toBe(
      200
    );
    const dst = (await m.mesh.listFlows({ limit: 20 })).find(
      (f) => f.requestId === 'authz-2' && f.reporter === 'destination'
    )!;
    expect(
      dst.trace.some((t) => /dry-run DENY policy default\/would-deny matched \(not enforced\)/.test(t.detail))
    ).toBe(true);
  });
  it('a policy with targetRefs attaches to waypoints and gateways only: the sidecar ignores it', async () => {
    expect((await from('productpage-v1', 'audit:9080', '/w')).status).toBe(200);
  });
  it('root-namespace policies apply mesh-wide', async () => {
    expectDenied(await from('productpage-v1', 'audit:9080', '/t', { method: 'TRACE' }));
  });
});

describe('fields as Istio builds them', () => {
  it('hosts match the Host header as sent, port included, case-insensitively', async () => {
    // through the caller's sidecar the Host is hosts:9080
    expectDenied(await from('productpage-v1', 'hosts:9080', '/bare'));
    expect((await from('productpage-v1', 'hosts:9080', '/port')).status).toBe(200);
    expect((await from('productpage-v1', 'hosts:9080', '/prefix')).status).toBe(200);
  });
  it('CUSTOM with a provider localmesh does not have: the requests its rules match are denied, as istiod does', async () => {
    expect((await from('productpage-v1', 'hosts:9080', '/port/public')).status).toBe(200);
    const r = await from('productpage-v1', 'hosts:9080', '/port/admin/x', {
      headers: { 'x-request-id': 'authz-custom' }
    });
    expectDenied(r);
    const dst = (await m.mesh.listFlows({ limit: 50 })).find(
      (f) => f.requestId === 'authz-custom' && f.reporter === 'destination'
    )!;
    expect([dst.status, dst.flags]).toEqual([403, '-']);
    expect(dst.trace.some((t) => /CUSTOM policy default\/ext-authz matched/.test(t.detail))).toBe(true);
  });
  it("serviceAccounts without a namespace name the policy's namespace", async () => {
    expect((await from('productpage-v1', 'sa:9080', '/')).status).toBe(200);
    expectDenied(await from('other-v1', 'sa:9080', '/'));
  });
  it("trustDomains match the trust domain of the peer's principal (plaintext callers have none)", async () => {
    expect((await from('productpage-v1', 'td:9080', '/')).status).toBe(200);
    expectDenied(await request(m.inbound('td-v1'), '/', { headers: { host: 'td:9080' } }));
  });
  it('remoteIpBlocks read the rightmost X-Forwarded-For address (Envoy, no trusted hops)', async () => {
    const direct = (xff: string) =>
      request(m.inbound('ips-v1'), '/', { headers: { host: 'ips:9080', 'x-forwarded-for': xff } });
    expect((await direct('10.1.1.1, 10.2.2.2')).status).toBe(200);
    expectDenied(await direct('10.2.2.2, 10.1.1.1'));
  });
});

describe('security view', () => {
  it('reports the CA, each workload certificate and mTLS mode, and who may call whom', async () => {
    const sec = await m.mesh.getSecurity();
    expect(sec.ca.keyAlgorithm).toBe('ec');
    const books = sec.workloads.find((w) => w.workload === 'books-v1')!;
    expect(books.cert?.spiffeId).toBe('spiffe://cluster.local/ns/default/sa/default');
    expect(books.mtls[0]!.mode).toBe('PERMISSIVE');
    expect(books.policies.map((p) => p.name)).toEqual([
      'default/books-viewer',
      'default/books-no-delete',
      'istio-system/mesh-deny-trace'
    ]);
    const cell = (f: string, t: string) => sec.matrix.find((c) => c.from === f && c.to === t)!;
    expect(cell('other-v1', 'nothing-v1').allowed).toBe(false);
    expect(cell('other-v1', 'vault-v1').allowed).toBe(true);
    expect(cell('unknown', 'vault-v1').allowed).toBe(false);
    expect(cell('unknown', 'audit-v1').allowed).toBe(true);
  });
  it('the STRICT quick action writes a PeerAuthentication for the workload', async () => {
    const plan = await m.mesh.planQuickAction({ type: 'mtls-strict', scope: 'workload', workload: 'books-v1' });
    expect(plan.before).toBe('');
    expect(plan.after).toContain('kind: PeerAuthentication');
    expect(plan.after).toContain('mode: STRICT');
    expect(plan.after).toContain('matchLabels:\n      app: books');
    expect(plan.summary).toMatch(/STRICT/);
  });
});
