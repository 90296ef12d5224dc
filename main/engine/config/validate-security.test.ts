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
    - {key: request.bogus, values: [x]}
    - {key: "request.headers[]", values: [x]}
`)
    );
    const errs = p.issues.filter((i) => i.severity === 'error');
    expect(errs.map((e) => `${e.code}@${e.where.line}`)).toEqual(['IST0106@13', 'IST0106@14']);
    expect(errs[0]!.message).toMatch(/unknown attribute "request.bogus"/);
  });
});
