/**
 * Integration: the sidecars' access log (`localmesh up --access-log`, MeshOptions.accessLog) in Istio's default TEXT
 * format (pilot/pkg/model/telemetry_logging.go EnvoyTextLogFormat), as the Envoy access log tasks show it:
 *
 *   [START] "METHOD ORIGINAL-PATH PROTOCOL" CODE FLAGS DETAILS CONN-TERMINATION "TRANSPORT-FAILURE" BYTES-RECEIVED
 *   BYTES-SENT DURATION UPSTREAM-SERVICE-TIME "X-FORWARDED-FOR" "USER-AGENT" "X-REQUEST-ID" "AUTHORITY"
 *   "UPSTREAM-HOST" UPSTREAM-CLUSTER UPSTREAM-LOCAL DOWNSTREAM-LOCAL DOWNSTREAM-REMOTE SNI ROUTE-NAME
 *
 * One line per request each sidecar finished: an upstream answer (via_upstream, the cluster, the route's name), a
 * rewritten path (the original one), a fault abort (FI, fault_filter_abort), the ALLOW_ANY passthrough
 * (PassthroughCluster, allow_any) and the REGISTRY_ONLY reply (502 direct_response, no cluster, block_all); and
 * tcp_proxy's line for a TCP connection (`"- - -" 0`, the bytes each way, the upstream, the cluster).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, locked: Stub, web: Stub, outside: Stub, guarded: Stub, slow: Stub;
let expiredToken: string;
let m: Running;
let echo: net.Server;
const lines: string[] = [];

/** CONNECT `authority` through `workload`'s outbound port, send `hello\n`, read until the echo or the end. */
function tunnel(workload: string, authority: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(m.outbound(workload), '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (s.destroy(), resolve(`${got}<timeout>`)), 5000);
    s.on('connect', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\nhello\n`));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.endsWith('hello\n')) s.end();
    });
    s.on('close', () => (clearTimeout(timer), resolve(got)));
    s.on('error', () => s.destroy());
  });
}

beforeAll(async () => {
  [caller, locked, web, outside, guarded, slow] = await Promise.all([
    stub('caller'),
    stub('locked'),
    stub('web'),
    stub('outside'),
    stub('guarded'),
    stub('slow', (_req, res) => void setTimeout(() => res.end('late'), 1000))
  ]);
  const key = await generateKeyPair('RS256');
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  expiredToken = await new SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('issuer@localmesh.test')
    .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
    .sign(key.privateKey);
  echo = net.createServer((c) => {
    c.on('data', (d: Buffer) => c.write(Buffer.concat([Buffer.from('echo:'), d])));
    c.on('end', () => c.end());
    c.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', labels: { app: 'caller' }, instances: [caller.address] }] },
        locked: { workloads: [{ name: 'locked-v1', labels: { app: 'locked' }, instances: [locked.address] }] },
        web: { workloads: [{ name: 'web-v1', labels: { app: 'web', version: 'v1' }, instances: [web.address] }] },
        guarded: { workloads: [{ name: 'guarded-v1', labels: { app: 'guarded' }, instances: [guarded.address] }] },
        slow: { workloads: [{ name: 'slow-v1', labels: { app: 'slow' }, instances: [slow.address] }] }
      }),
      istio: {
        'rules.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: teapot-v1
    match: [{uri: {prefix: /teav1}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: v1}}]
  - name: teapot
    match: [{uri: {prefix: /tea}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - name: api-v1
    match: [{uri: {prefix: /v1/}}]
    rewrite: {uri: /}
    route: [{destination: {host: web}}]
  - name: ust-added
    match: [{uri: {prefix: /ust}}]
    headers: {response: {add: {x-envoy-upstream-service-time: "7"}}}
    route: [{destination: {host: web}}]
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: slow}
spec:
  hosts: [slow]
  http:
  - match: [{uri: {prefix: /ptt}}]
    retries: {attempts: 1, perTryTimeout: 0.1s, retryOn: 5xx}
    route: [{destination: {host: slow}}]
  - timeout: 0.3s
    route: [{destination: {host: slow}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.org]
  resolution: STATIC
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 8080, name: http-alt, protocol: HTTP}
  endpoints: [{address: 127.0.0.1, ports: {http: ${outside.port}, http-alt: ${web.port}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.org]
  http:
  - match: [{port: 80}]
    route: [{destination: {host: api.example.org, port: {number: 8080}}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: locked}
spec:
  workloadSelector: {labels: {app: locked}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules:
  - to: [{operation: {paths: [/never]}}]
  - to: [{operation: {paths: [/admin]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-reads}
spec:
  selector: {matchLabels: {app: guarded}}
  rules:
  - to: [{operation: {methods: [GET]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: guarded-strict}
spec:
  selector: {matchLabels: {app: guarded}}
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  selector: {matchLabels: {app: guarded}}
  jwtRules:
  - issuer: issuer@localmesh.test
    jwks: '${jwks}'
`
      }
    },
    { store: 'memory', accessLog: (line) => lines.push(line) }
  );
});
afterAll(async () => {
  await m?.close();
  await Promise.all([caller, locked, web, outside, guarded, slow].map((s) => s?.close()));
  echo?.close();
});

/** The line of the request with this x-request-id that `pick` accepts, once its sidecar has finished it. */
async function lineOf(id: string, pick: (l: string) => boolean = () => true): Promise<string> {
  return (await until(() => lines.find((l) => l.includes(`"${id}"`) && pick(l)), `an access log line of ${id}`))!;
}

const START = String.raw`\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]`;
const ADDR = String.raw`127\.0\.0\.1:\d+`;

describe('access log in Istio default format', () => {
  it("an upstream answer, at the client's sidecar and the server's; a rewritten path is logged as sent", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/v1/items?x=1', {
      headers: { 'x-request-id': 'req-rewrite', 'user-agent': 'curl/8.5.0' }
    });
    expect(r.status).toBe(200);
    const client = await lineOf('req-rewrite', (l) => l.includes(' outbound|'));
    expect(client).toMatch(
      new RegExp(
        String.raw`^${START} "GET /v1/items\?x=1 HTTP/1\.1" 200 - via_upstream - "-" 0 ${r.raw.length} \d+ \d+ "-" "curl/8\.5\.0" "req-rewrite" "web:9080" "${ADDR}" outbound\|9080\|\|web\.default\.svc\.cluster\.local - ${ADDR} ${ADDR} - api-v1$`
      )
    );
    const server = await lineOf('req-rewrite', (l) => l.includes(' inbound|'));
    expect(server).toMatch(
      new RegExp(
        String.raw`^${START} "GET (/v1)?/items\?x=1 HTTP/1\.1" 200 - via_upstream - "-" 0 ${r.raw.length} \d+ \d+ "-" "curl/8\.5\.0" "req-rewrite" "web:9080" "${web.address.replace(/\./g, '\\.')}" inbound\|${web.port}\|\| - ${ADDR} ${ADDR} outbound_\.9080_\._\.web\.default\.svc\.cluster\.local default$`
      )
    );
  });

  it('%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% of a route that adds to it: the one inline entry Envoy holds, joined', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/ust', { headers: { 'x-request-id': 'req-ust' } });
    expect(r.status).toBe(200);
    // Envoy's router set the service time, the route's response_headers_to_add appended to its inline entry (",")
    expect(await lineOf('req-ust', (l) => l.includes(' outbound|'))).toMatch(
      /^\S+ "GET \/ust HTTP\/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ \d+,7 "-" "-" "req-ust" /
    );
  });

  it("a route to another port of a ServiceEntry: the cluster is that port's", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'api.example.org', '/alt', {
      headers: { 'x-request-id': 'req-alt' }
    });
    expect(r.body).toBe(JSON.stringify({ stub: 'web', url: '/alt' }));
    expect(await lineOf('req-alt')).toContain(` "${web.address}" outbound|8080||api.example.org - `);
  });

  it('PROTOCOL is the version the caller spoke (HTTP/1.0)', async () => {
    const got = await new Promise<string>((resolve) => {
      const c = net.connect(m.outbound('caller-v1'), '127.0.0.1');
      let data = '';
      c.on('connect', () => c.write('GET http://web:9080/old HTTP/1.0\r\nx-request-id: req-http10\r\n\r\n'));
      c.on('data', (d: Buffer) => (data += d.toString('latin1')));
      c.on('close', () => resolve(data));
      c.on('error', () => resolve(data));
    });
    expect(got).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(await lineOf('req-http10', (l) => l.includes(' outbound|'))).toContain(
      '"GET /old HTTP/1.0" 200 - via_upstream'
    );
  });

  it('a fault abort: FI, fault_filter_abort, its 18 bytes, no upstream', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/tea', { headers: { 'x-request-id': 'req-fault' } });
    expect(r.status).toBe(418);
    expect(await lineOf('req-fault')).toMatch(
      new RegExp(
        String.raw`^${START} "GET /tea HTTP/1\.1" 418 FI fault_filter_abort - "-" 0 18 \d+ - "-" "-" "req-fault" "web:9080" "-" outbound\|9080\|\|web\.default\.svc\.cluster\.local - ${ADDR} ${ADDR} - teapot$`
      )
    );
  });

  it("RBAC: the details name the denying rule's Envoy policy (none when no ALLOW policy matched); no upstream host", async () => {
    const denied = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/admin', {
      headers: { 'x-request-id': 'req-deny' }
    });
    expect([denied.status, denied.body]).toEqual([403, 'RBAC: access denied']);
    expect(await lineOf('req-deny', (l) => l.includes(' inbound|'))).toMatch(
      new RegExp(
        String.raw`^${START} "GET /admin HTTP/1\.1" 403 - rbac_access_denied_matched_policy\[ns\[default\]-policy\[deny-admin\]-rule\[1\]\] - "-" 0 19 \d+ - "-" "-" "req-deny" "web:9080" "-" inbound\|${web.port}\|\| - ${ADDR} ${ADDR} outbound_\.9080_\._\.web\.default\.svc\.cluster\.local default$`
      )
    );
    const notAllowed = await viaProxy(m.outbound('caller-v1'), 'guarded:9080', '/x', {
      method: 'POST',
      headers: { 'x-request-id': 'req-none' }
    });
    expect(notAllowed.status).toBe(403);
    expect(await lineOf('req-none', (l) => l.includes(' inbound|'))).toContain(
      ' 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 '
    );
  });

  it("jwt_authn: the details carry the failure's message, spaces as underscores; no upstream host", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'guarded:9080', '/x', {
      headers: { 'x-request-id': 'req-jwt', authorization: `Bearer ${expiredToken}` }
    });
    expect([r.status, r.body]).toEqual([401, 'Jwt is expired']);
    expect(await lineOf('req-jwt', (l) => l.includes(' inbound|'))).toMatch(
      new RegExp(
        String.raw`^${START} "GET /x HTTP/1\.1" 401 - jwt_authn_access_denied\{Jwt_is_expired\} - "-" 0 14 \d+ - "-" "-" "req-jwt" "guarded:9080" "-" inbound\|${guarded.port}\|\| `
      )
    );
  });

  it('STRICT: a plaintext connection no filter chain takes is logged NR filter_chain_not_found, no request', async () => {
    const got = await new Promise<string>((resolve) => {
      const c = net.connect(m.inbound('guarded-v1'), '127.0.0.1');
      let data = '';
      c.on('connect', () => c.write('GET /plain HTTP/1.1\r\nHost: guarded\r\n\r\n'));
      c.on('data', (d: Buffer) => (data += d.toString('latin1')));
      c.on('close', () => resolve(data));
      c.on('error', () => undefined);
    });
    expect(got).toBe(''); // closed without an HTTP response
    const line = await until(() => lines.find((l) => l.includes('filter_chain_not_found')), 'the NR line');
    expect(line).toMatch(
      new RegExp(
        String.raw`^${START} "- - -" 0 NR filter_chain_not_found - "-" 0 0 \d+ - "-" "-" "-" "-" "-" - - 127\.0\.0\.1:${m.inbound('guarded-v1')} ${ADDR} - -$`
      )
    );
  });

  it("a caller that gives up: the server's line is 0 DC downstream_remote_disconnect, with the connection's addresses", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'slow:9080', '/late', {
      headers: { 'x-request-id': 'req-late' }
    });
    expect([r.status, r.body]).toEqual([504, 'upstream request timeout']);
    expect(await lineOf('req-late', (l) => l.includes(' outbound|'))).toContain(' 504 UT response_timeout ');
    expect(await lineOf('req-late', (l) => l.includes(' inbound|'))).toMatch(
      new RegExp(
        String.raw`^${START} "GET /late HTTP/1\.1" 0 DC downstream_remote_disconnect - "-" 0 0 \d+ - "-" "-" "req-late" "slow:9080" "${slow.address.replace(/\./g, '\\.')}" inbound\|${slow.port}\|\| - ${ADDR} ${ADDR} outbound_\.9080_\._\.slow\.default\.svc\.cluster\.local default$`
      )
    );
  });

  it("a fault abort on a route to a subset: the cluster is the subset's (Envoy picked it with the route)", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'web:9080', '/teav1', { headers: { 'x-request-id': 'req-fv1' } });
    expect(r.status).toBe(418);
    expect(await lineOf('req-fv1')).toContain(' 418 FI fault_filter_abort - "-" 0 18 ');
    expect(await lineOf('req-fv1')).toContain(' "-" outbound|9080|v1|web.default.svc.cluster.local - ');
  });

  it('per-try timeouts used up: upstream_per_try_timeout (the route timeout is response_timeout)', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'slow:9080', '/ptt', { headers: { 'x-request-id': 'req-ptt' } });
    expect([r.status, r.body]).toEqual([504, 'upstream request timeout']);
    expect(await lineOf('req-ptt', (l) => l.includes(' outbound|'))).toContain(
      ' 504 UT,URX upstream_per_try_timeout - "-" 0 24 '
    );
  });

  it('ALLOW_ANY: an unknown host through the PassthroughCluster (route allow_any)', async () => {
    const r = await viaProxy(m.outbound('caller-v1'), outside.address, '/ext', {
      headers: { 'x-request-id': 'req-pass' }
    });
    expect(r.status).toBe(200);
    expect(await lineOf('req-pass')).toMatch(
      new RegExp(
        String.raw`^${START} "GET /ext HTTP/1\.1" 200 - via_upstream - "-" 0 ${r.raw.length} \d+ \d+ "-" "-" "req-pass" "${outside.address.replace(/\./g, '\\.')}" "${outside.address.replace(/\./g, '\\.')}" PassthroughCluster - ${ADDR} ${ADDR} - allow_any$`
      )
    );
  });

  it('REGISTRY_ONLY: 502 direct_response, no upstream, no cluster, route block_all', async () => {
    const r = await viaProxy(m.outbound('locked-v1'), outside.address, '/ext', {
      headers: { 'x-request-id': 'req-block' }
    });
    expect(r.status).toBe(502);
    expect(await lineOf('req-block')).toMatch(
      new RegExp(
        String.raw`^${START} "GET /ext HTTP/1\.1" 502 - direct_response - "-" 0 0 \d+ - "-" "-" "req-block" "${outside.address.replace(/\./g, '\\.')}" "-" - - ${ADDR} ${ADDR} - block_all$`
      )
    );
  });

  it('TCP (tcp_proxy): an HTTPS tunnel passed through, and one closed at the BlackHoleCluster (UH)', async () => {
    const port = (echo.address() as net.AddressInfo).port;
    const target = `127\\.0\\.0\\.1:${port}`;
    expect(await tunnel('caller-v1', `127.0.0.1:${port}`)).toBe(
      'HTTP/1.1 200 Connection Established\r\n\r\necho:hello\n'
    );
    const passed = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' PassthroughCluster ')),
      'a passthrough line'
    );
    expect(passed).toMatch(
      new RegExp(
        String.raw`^${START} "- - -" 0 - - - "-" 6 11 \d+ - "-" "-" "-" "-" "${target}" PassthroughCluster - ${ADDR} ${ADDR} - -$`
      )
    );
    // the app's connection was taken, then closed: the tunnel opens and ends with nothing through it
    expect(await tunnel('locked-v1', `127.0.0.1:${port}`)).toBe('HTTP/1.1 200 Connection Established\r\n\r\n');
    const blocked = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(' BlackHoleCluster ')),
      'a black hole line'
    );
    expect(blocked).toMatch(
      new RegExp(
        String.raw`^${START} "- - -" 0 UH - - "-" 0 0 \d+ - "-" "-" "-" "-" "-" BlackHoleCluster - ${ADDR} ${ADDR} - -$`
      )
    );
  });
});
