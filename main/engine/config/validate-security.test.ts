import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProject } from './load-project.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function project(istio: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-sec-'));
  dirs.push(dir);
  fs.mkdirSync(path.join(dir, 'istio'));
  fs.writeFileSync(
    path.join(dir, 'localmesh.yaml'),
    'apiVersion: localmesh.dev/v1alpha1\nkind: Mesh\nspec:\n  istio: [./istio]\n  services:\n  - name: web\n    port: 9080\n    workloads:\n    - {name: web-v1, labels: {app: web}, instances: ["127.0.0.1:19999"]}\n'
  );
  fs.writeFileSync(path.join(dir, 'istio', 'sec.yaml'), istio);
  return path.join(dir, 'localmesh.yaml');
}

describe('security resources are validated with codes and places', () => {
  it("a Gateway's selector is a label map, not a workload selector: the bookinfo gateway as it is gets no warning", () => {
    const gateway = fs.readFileSync(
      path.resolve(import.meta.dirname, '../../../../shared/fixtures/istio-bookinfo/networking/bookinfo-gateway.yaml'),
      'utf8'
    );
    const p = loadProject(project(gateway));
    expect(p.issues.filter((i) => i.code === 'IST0106')).toEqual([]);
    // a security kind's selector without labels still is one
    const pa = loadProject(
      project(
        'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec:\n  selector: {}\n'
      )
    );
    expect(pa.issues.map((i) => [i.code, i.severity, i.path])).toContainEqual(['IST0106', 'warning', 'spec.selector']);
  });

  it('schema: an unknown field and a bad mode are IST0106 errors at their line', () => {
    const p = loadProject(
      project(
        'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec:\n  mtls:\n    mode: STRICTT\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: b}\nspec:\n  rules:\n  - from:\n    - source:\n        principal: [x]\n'
      )
    );
    const errs = p.issues.filter((i) => i.severity === 'error');
    expect(errs.map((e) => `${e.code}@${e.where.line}`)).toEqual(['IST0106@6', 'IST0106@15']);
    expect(p.mesh).toBeUndefined();
  });
  it('semantics: CUSTOM unsupported (warning), portLevelMtls without selector (error), bad path template (error), remote jwksUri (warning)', () => {
    const p = loadProject(
      project(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext}
spec:
  action: CUSTOM
  provider: {name: opa}
  rules:
  - to: [{operation: {paths: ["/a{*}b"]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ports}
spec:
  portLevelMtls:
    "8080": {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules:
  - issuer: me
    jwksUri: https://example.com/jwks.json
`)
    );
    const got = p.issues.filter((i) => i.code !== 'IST0012').map((i) => `${i.severity} ${i.code}@${i.where.line}`);
    expect(got).toEqual(
      expect.arrayContaining(['warning IST0022@5', 'error IST0106@8', 'error IST0106@15', 'warning IST0023@23'])
    );
  });
  it("path templates as Istio's CheckValidPathTemplate: literals may follow {**}, no operator may", () => {
    const p = loadProject(
      project(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tmpl}
spec:
  rules:
  - to: [{operation: {paths: ["/store/{**}/cart", "/foo/{*}/bar/{**}"]}}]
  - to: [{operation: {paths: ["/a/{**}/{*}"]}}]
  - to: [{operation: {notPaths: ["/a/{**}/b/{**}"]}}]
`)
    );
    const errs = p.issues.filter((i) => i.severity === 'error');
    expect(errs.map((e) => `${e.code}@${e.where.line} ${e.message}`)).toEqual([
      'IST0106@7 path template "/a/{**}/{*}": {**} must be the last operator',
      'IST0106@8 path template "/a/{**}/b/{**}": {**} must be the last operator'
    ]);
  });
  it("when keys: Istio's attributes pass; an unknown one is an IST0106 error at its line", () => {
    const p = loadProject(
      project(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: conds}
spec:
  action: DENY
  rules:
  - when:
    - {key: "request.headers[x-a]", values: [x]}
    - {key: "request.auth.claims[groups][0]", values: [x]}
    - {key: source.ip, values: [10.0.0.1]}
    - {key: connection.sni, values: [x]}
    - {key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: [x]}
    - {key: source.serviceAccount, values: [default/productpage]}
    - {key: "request.experimental.inline.headers[x-a]", values: [x]}
    - {key: request.bogus, values: [x]}
    - {key: "request.headers[]", values: [x]}
`)
    );
    const errs = p.issues.filter((i) => i.severity === 'error');
    expect(errs.map((e) => `${e.code}@${e.where.line}`)).toEqual(['IST0106@15', 'IST0106@16']);
    expect(errs[0]!.message).toMatch(/unknown attribute "request.bogus"/);
  });

  /** The issues of loading `istio` (IST0012 left out) as "severity code path@line:column". */
  const issuesOf = (istio: string) =>
    loadProject(project(istio))
      .issues.filter((i) => i.code !== 'IST0012')
      .map((i) => `${i.severity} ${i.code} ${i.path}@${i.where.line}:${i.where.column}`);
  const ap = (name: string, spec: string) =>
    `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}}\nspec:\n${spec}`;

  it("AuthorizationPolicy shapes Istio's webhook rejects: DENY without rules, empty source/operation/condition (a typo is reported once)", () => {
    const text =
      ap('deny-nothing', '  action: DENY\n') +
      ap('audit-nothing', '  action: AUDIT\n') +
      ap('custom-nothing', '  action: CUSTOM\n  provider: {name: ext}\n') +
      ap('empty', '  rules:\n  - from: [{source: {}}]\n') +
      ap('empty-op', '  rules:\n  - to: [{operation: {}}]\n') +
      ap('no-values', '  rules:\n  - when: [{key: "request.headers[x]"}]\n') +
      ap('no-source', '  rules:\n  - from: [{}]\n') +
      ap('typo', '  rules:\n  - from: [{source: {principal: [x]}}]\n') +
      ap('provider', '  action: DENY\n  provider: {name: ext}\n  rules: [{}]\n');
    const p = loadProject(project(text));
    const got = p.issues
      .filter((i) => i.code !== 'IST0012')
      .map((i) => `${i.severity} ${i.code} ${i.path}@${i.where.line}:${i.where.column}`);
    expect(got).toEqual([
      'error IST0106 spec.action@6:11',
      'error IST0106 spec.action@18:11',
      'error IST0106 spec.rules[0].from[0].source@26:21',
      'error IST0106 spec.rules[0].to[0].operation@33:22',
      'error IST0106 spec.rules[0].when[0]@40:12',
      'error IST0106 spec.rules[0].from[0]@47:12',
      'error IST0106 spec.rules[0].from[0].source.principal@54:22',
      'error IST0106 spec.provider@61:13'
    ]);
    const msg = (path: string, line: number) => p.issues.find((i) => i.path === path && i.where.line === line)!.message;
    expect(msg('spec.action', 6)).toBe(
      'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request (rules: [{}])'
    );
    expect(msg('spec.action', 18)).toMatch(/^CUSTOM action without `rules` is meaningless/);
    expect(msg('spec.rules[0].from[0].source', 26)).toMatch(/^`from.source` must not be empty/);
    expect(msg('spec.rules[0].to[0].operation', 33)).toMatch(/^`to.operation` must not be empty/);
    expect(msg('spec.rules[0].when[0]', 40)).toBe(
      'at least one of `values` or `notValues` must be set for key request.headers[x]'
    );
    expect(msg('spec.rules[0].from[0]', 47)).toMatch(/^`from.source` must not be nil/);
    expect(msg('spec.rules[0].from[0].source.principal', 54)).toMatch(/did you mean "principals"\?/);
    expect(msg('spec.provider', 61)).toMatch(/^`provider` must not be with non CUSTOM action, found DENY/);
  });

  it('AuthorizationPolicy values: IPs and CIDRs, ports, serviceAccounts apart from namespaces and principals', () => {
    const text = ap(
      'values',
      `  rules:
  - from:
    - source: {namespaces: [default], serviceAccounts: [default/productpage]}
    - source: {ipBlocks: ["10.0.0.0/33", "10.1.0.0/16", "::1", "fe80::/10"], notRemoteIpBlocks: [nope]}
    - source: {serviceAccounts: [productpage], requestPrincipals: ["*"]}
    to:
    - operation: {ports: ["http", "8080", "0"], notPorts: ["65536"], methods: [""]}
    when:
    - {key: source.ip, values: ["not-an-ip"]}
    - {key: destination.ip, notValues: ["10.0.0.1/24"]}
    - {key: destination.port, values: ["99999", "9080"]}
    - {key: remote.ip, values: ["2001:db8::/129"]}
`
    );
    expect(issuesOf(text)).toEqual([
      'error IST0106 spec.rules[0].from[0].source.serviceAccounts@8:56',
      'error IST0106 spec.rules[0].from[1].source.ipBlocks[0]@9:27',
      'error IST0106 spec.rules[0].from[1].source.notRemoteIpBlocks[0]@9:98',
      'error IST0106 spec.rules[0].to[0].operation.ports[0]@12:27',
      'error IST0106 spec.rules[0].to[0].operation.notPorts[0]@12:60',
      'error IST0106 spec.rules[0].to[0].operation.methods[0]@12:80',
      'error IST0106 spec.rules[0].when[0].values[0]@14:33',
      'error IST0106 spec.rules[0].when[2].values[0]@16:40',
      'error IST0106 spec.rules[0].when[3].values[0]@17:33'
    ]);
    const p = loadProject(project(text));
    const messages = p.issues.filter((i) => i.code === 'IST0106').map((i) => i.message);
    expect(messages[0]).toMatch(/^Cannot set serviceAccounts with namespaces or principals/);
    expect(messages[1]).toMatch(/^bad CIDR range \(10\.0\.0\.0\/33\)/);
    expect(messages[2]).toMatch(/^bad IP address \(nope\)/);
    expect(messages[3]).toMatch(/^bad port \(http\)/);
    expect(messages[5]).toMatch(/^empty value not allowed/);
    expect(messages[7]).toMatch(/^invalid value for key destination\.port: bad port \(99999\)/);
  });

  it("PeerAuthentication port keys are 1..65535; a jwksUri scheme other than http(s) (or localmesh's file) is an error", () => {
    const text = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ports}
spec:
  selector: {matchLabels: {app: web}}
  portLevelMtls:
    "9080": {mode: STRICT}
    "70000": {mode: DISABLE}
    "0": {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules:
  - issuer: a
    jwksUri: ftp://example.com/jwks
  - issuer: b
    jwksUri: file:///etc/jwks.json
  - issuer: c
    jwksUri: ./jwks.json
`;
    expect(issuesOf(text)).toEqual([
      'error IST0106 spec.portLevelMtls["70000"]@8:14',
      'error IST0106 spec.portLevelMtls["0"]@9:10',
      'error IST0106 spec.jwtRules[0].jwksUri@17:14'
    ]);
    const p = loadProject(project(text));
    expect(p.issues.find((i) => i.where.line === 8)!.message).toBe('port must be in range 1..65535, found 70000');
    expect(p.issues.find((i) => i.where.line === 17)!.message).toMatch(/^jwksUri scheme "ftp" is not supported/);
  });

  it("RequestAuthentication fields Istio's validateJwtRule rejects: empty audience, query, cookie or claim; a claim header that is no header name; a bad timeout; an empty portLevelMtls", () => {
    const text = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  jwtRules:
  - issuer: a
    audiences: [web, ""]
    fromParams: [""]
    fromCookies: [""]
    spaceDelimitedClaims: [""]
    outputClaimToHeaders:
    - {claim: sub, header: x-sub}
    - {claim: sub, header: ":authority"}
    timeout: apple
  - issuer: b
    timeout: 1500ms
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: pa}
spec:
  selector: {matchLabels: {app: web}}
  portLevelMtls: {}
`;
    expect(issuesOf(text)).toEqual([
      'error IST0106 spec.jwtRules[0].audiences[1]@7:22',
      'error IST0106 spec.jwtRules[0].fromParams[0]@8:18',
      'error IST0106 spec.jwtRules[0].fromCookies[0]@9:19',
      'error IST0106 spec.jwtRules[0].spaceDelimitedClaims[0]@10:28',
      'error IST0106 spec.jwtRules[0].outputClaimToHeaders[1].header@13:28',
      'error IST0106 spec.jwtRules[0].timeout@14:14',
      'error IST0106 spec.portLevelMtls@23:18'
    ]);
    const p = loadProject(project(text));
    expect(p.issues.find((i) => i.where.line === 14)!.message).toMatch(/^timeout must be a valid duration/);
  });

  it("selectors as Istio's validateWorkloadSelector: '*' in a key or value and an empty key are errors, no labels a warning", () => {
    const text = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  selector: {matchLabels: {app: "web-*"}}
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: pa}
spec:
  selector: {}
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra}
spec:
  selector: {matchLabels: {"": web}}
`;
    expect(issuesOf(text)).toEqual([
      'error IST0106 spec.selector.matchLabels.app@5:33',
      'error IST0106 spec.selector.matchLabels[""]@19:32',
      'warning IST0106 spec.selector@12:13'
    ]);
  });

  it("AuthorizationPolicy as Istio's webhook: empty from/to lists, identities in a CUSTOM rule (errors), a DENY rule of HTTP attributes only (warning)", () => {
    const text =
      ap('empty-lists', '  rules:\n  - from: []\n  - to: []\n') +
      ap(
        'custom',
        "  action: CUSTOM\n  provider: {name: ext}\n  rules:\n  - from: [{source: {namespaces: [a]}}]\n    when: [{key: 'request.auth.claims[iss]', values: [x]}]\n"
      ) +
      ap('deny-http', "  action: DENY\n  rules:\n  - to: [{operation: {paths: ['/admin']}}]\n") +
      ap('deny-port', "  action: DENY\n  rules:\n  - to: [{operation: {paths: ['/admin'], ports: ['9080']}}]\n");
    expect(issuesOf(text)).toEqual([
      'error IST0106 spec.rules[0].from@7:11',
      'error IST0106 spec.rules[1].to@8:9',
      'error IST0106 spec.rules[0].from[0].source.namespaces@17:34',
      'error IST0106 spec.rules[0].when[0].key@18:18',
      'warning IST0022 spec.action@14:11',
      'warning IST0106 spec.rules[0]@26:5'
    ]);
  });

  it("targetRef(s) as Istio's validateOneOfSelectorType and validatePolicyTargetReference: not with a selector, not both, no namespace", () => {
    const text = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: both}
spec:
  selector: {matchLabels: {app: web}}
  targetRef: {kind: Service, group: "", name: web}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: cross}
spec:
  targetRefs: [{kind: Service, group: "", name: web, namespace: other}]
  rules: [{}]
`;
    expect(issuesOf(text)).toEqual([
      'error IST0106 spec.selector@5:13',
      'error IST0106 spec.targetRefs[0].namespace@12:65',
      'warning IST0024 spec.targetRef@6:14',
      'warning IST0024 spec.targetRefs@12:15'
    ]);
  });
});
