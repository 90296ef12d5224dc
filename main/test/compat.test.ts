/**
 * spec.compatibilityVersion (istio-semantics §1.9): the same project run as the newest Istio and as Istio 1.14,
 * whose defaults differ in the default retry policy (503 retried), the inbound retry policy (none), B3 headers (a
 * Zipkin tracer by default), the mirror's Host (-shadow), outlier ejection under maxEjectionPercent and whether a
 * verified JWT leaves the query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import type { FlowRecord } from '../contract/api.js';
import {
  deadPort,
  meshYaml,
  request,
  startMesh,
  stub,
  until,
  viaProxy,
  type Running,
  type Stub
} from './helpers/harness.js';

const ISTIO = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web}}]
    mirror: {host: shadow}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 60s, baseEjectionTime: 60s}
`;

interface Setup {
  m: Running;
  stubs: Stub[];
  flaky: Stub;
  good: Stub;
  bad: Stub;
  shadow: Stub;
  api: Stub;
}

// a RequestAuthentication reading a token from a query parameter
const jwtKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWT_ISTIO = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  jwtRules:
  - issuer: me
    fromParams: [token]
    jwks: '${JSON.stringify({ keys: [{ ...jwtKey.publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256' }] })}'
`;
function jwt(): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${part({ alg: 'ES256', kid: 'k' })}.${part({ iss: 'me', sub: 'alice' })}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: jwtKey.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

async function setup(version?: string): Promise<Setup> {
  const caller = await stub('caller');
  // answers 503 to every other request, starting with the first
  const flaky = await stub('flaky', (_req, res, _s, n) => {
    res.writeHead(n % 2 === 1 ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(n % 2 === 1 ? 'unavailable' : 'ok');
  });
  const good = await stub('good');
  const bad = await stub('bad', (_req, res) => {
    res.writeHead(500);
    res.end('broken');
  });
  const shadow = await stub('shadow');
  const api = await stub('api');
  const dead = await deadPort();
  const m = await startMesh(
    {
      meshYaml: meshYaml(
        {
          caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
          flaky: { workloads: [{ name: 'flaky-v1', instances: [flaky.address], sidecar: false }] },
          down: { workloads: [{ name: 'down-v1', instances: [`127.0.0.1:${dead}`] }] },
          web: {
            workloads: [
              { name: 'web-good', labels: { app: 'web', version: 'good' }, instances: [good.address] },
              { name: 'web-bad', labels: { app: 'web', version: 'bad' }, instances: [bad.address] }
            ]
          },
          shadow: { workloads: [{ name: 'shadow-v1', instances: [shadow.address], sidecar: false }] },
          api: { workloads: [{ name: 'api-v1', instances: [api.address] }] }
        },
        version ? `  compatibilityVersion: "${version}"` : ''
      ),
      istio: { 'web.yaml': ISTIO, 'jwt.yaml': JWT_ISTIO }
    },
    { store: 'memory' }
  );
  return { m, stubs: [caller, flaky, good, bad, shadow, api], flaky, good, bad, shadow, api };
}

let newest: Setup;
let old: Setup;
beforeAll(async () => {
  newest = await setup();
  old = await setup('1.14');
});
afterAll(async () => {
  for (const s of [newest, old]) {
    await s?.m.close();
    await Promise.all(s?.stubs.map((x) => x.close()) ?? []);
  }
});

const flowFor = (s: Setup, reporter: FlowRecord['reporter'], p: string) =>
  until(
    async () => (await s.m.mesh.listFlows({ limit: 200 })).find((f) => f.reporter === reporter && f.path === p),
    `a ${reporter} flow for ${p}`
  );

describe('compatibilityVersion', () => {
  it('is in the config view (null: the newest behaviour)', async () => {
    expect((await newest.m.mesh.getConfig()).compatibilityVersion).toBeNull();
    expect((await old.m.mesh.getConfig()).compatibilityVersion).toBe('1.14');
  });
});

describe('compatibilityVersion: the default retry policy', () => {
  it('newest: an upstream 503 is not retried (Istio 1.24 took 503 out of the default policy)', async () => {
    const before = newest.flaky.seen.length;
    const r = await viaProxy(newest.m.outbound('caller-v1'), 'flaky:9080', '/retry-503');
    expect([r.status, r.body]).toEqual([503, 'unavailable']);
    expect(newest.flaky.seen.length - before).toBe(1);
    const f = await flowFor(newest, 'source', '/retry-503');
    expect([f!.attempts, f!.flags]).toEqual([1, '-']);
  });
  it('1.14: the default policy retries the 503 and the caller gets the retry answer', async () => {
    const before = old.flaky.seen.length;
    const r = await viaProxy(old.m.outbound('caller-v1'), 'flaky:9080', '/retry-503');
    expect([r.status, r.body]).toEqual([200, 'ok']);
    expect(old.flaky.seen.length - before).toBe(2);
    const f = await flowFor(old, 'source', '/retry-503');
    expect(f!.attempts).toBe(2);
    expect(f!.attemptLog.map((a) => a.status)).toEqual([503, 200]);
  });
});

describe('compatibilityVersion: the inbound retry policy', () => {
  const call = (s: Setup) => request(s.m.inbound('down-v1'), '/inbound', { headers: { host: 'down:9080' } });
  it('newest: the server sidecar retries a refused connection twice (Istio 1.24)', async () => {
    const r = await call(newest);
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/^upstream connect error or disconnect\/reset before headers\. retried and the latest/);
    const f = await flowFor(newest, 'destination', '/inbound');
    expect([f!.attempts, f!.flags]).toEqual([3, 'UF,URX']);
  });
  it('1.14: no inbound retry: one try, UF alone', async () => {
    const r = await call(old);
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: remote/);
    const f = await flowFor(old, 'destination', '/inbound');
    expect([f!.attempts, f!.flags]).toEqual([1, 'UF']);
  });
});

describe('compatibilityVersion: outlier ejection, tracing and mirroring', () => {
  it('maxEjectionPercent 10 % of 2 endpoints: none is ejected now; before Istio 1.20 the failing one was', async () => {
    const statuses = async (s: Setup) => {
      const out: number[] = [];
      for (let i = 0; i < 6; i++) out.push((await viaProxy(s.m.outbound('caller-v1'), 'web:9080', '/eject')).status);
      return out;
    };
    // ROUND_ROBIN: the bad endpoint keeps its turn when it cannot be ejected
    expect((await statuses(newest)).filter((x) => x === 500)).toHaveLength(3);
    // ejected after its first 500: every later call goes to the good one
    expect((await statuses(old)).filter((x) => x === 500)).toHaveLength(1);
    const ejected = async (s: Setup) => {
      const failed = (await s.m.mesh.listFlows({ limit: 200 })).filter(
        (f) => f.reporter === 'source' && f.status === 500
      );
      const full = await Promise.all(failed.map((f) => s.m.mesh.getFlow({ id: f.id })));
      return full.some((f) => f.trace.some((t) => t.step === 'outlier' && /ejected/.test(t.detail)));
    };
    expect(await ejected(newest)).toBe(false);
    expect(await ejected(old)).toBe(true);
  });
  it('B3 headers: off by default since Istio 1.22; 1.14 had a Zipkin tracer by default', async () => {
    const headersAt = async (s: Setup) => {
      await viaProxy(s.m.outbound('caller-v1'), 'web:9080', '/b3');
      const got = [...s.good.seen, ...s.bad.seen].find((x) => x.url === '/b3');
      return [typeof got?.headers['x-b3-traceid'], typeof got?.headers.traceparent];
    };
    expect(await headersAt(newest)).toEqual(['undefined', 'string']);
    expect(await headersAt(old)).toEqual(['string', 'string']);
  });
  it("the mirrored copy's Host: web:9080 now; web-shadow:9080 before Istio 1.28", async () => {
    const hostAt = async (s: Setup) => {
      await viaProxy(s.m.outbound('caller-v1'), 'web:9080', '/mirrored');
      const copy = await until(() => s.shadow.seen.find((x) => x.url === '/mirrored'), 'the mirrored copy');
      return copy!.headers.host;
    };
    expect(await hostAt(newest)).toBe('web:9080');
    expect(await hostAt(old)).toBe('web-shadow:9080');
  });
});

describe('compatibilityVersion: a JWT in a query parameter', () => {
  it('newest: removed from the path the app gets (Envoy 1.31, Istio 1.23); 1.14 left it there', async () => {
    const t = jwt();
    for (const s of [newest, old]) {
      const r = await viaProxy(s.m.outbound('caller-v1'), 'api:9080', `/q?token=${t}&x=1`);
      expect(r.status).toBe(200);
    }
    expect(newest.api.seen.at(-1)!.url).toBe('/q?x=1');
    expect(old.api.seen.at(-1)!.url).toBe(`/q?token=${t}&x=1`);
  });
});
