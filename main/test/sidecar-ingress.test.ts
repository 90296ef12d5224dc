/**
 * Integration: a Sidecar resource's `ingress` listeners (istio-semantics §1.6, explicit inbound listeners). The
 * listener for the port the instance receives on sends its traffic to `defaultEndpoint` instead of the instance's
 * address (istiod's inbound cluster `inbound|<port>||` with that endpoint), as HTTP or TCP by `port.protocol`; a
 * workload the Sidecar does not select is unchanged; a reload without the Sidecar restores the default. Real
 * sockets: a caller through its outbound sidecar over mutual TLS, and a caller without a sidecar.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { meshYaml, request, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

let caller: Stub, api: Stub, apiAlt: Stub, raw: Stub, rawAlt: Stub, other: Stub, copied: Stub, copiedAlt: Stub;
let m: Running;
const lines: string[] = [];

const sidecars = () => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: api}
spec:
  workloadSelector: {labels: {app: api}}
  ingress:
  - port: {number: ${api.port}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${apiAlt.port}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: raw}
spec:
  workloadSelector: {labels: {app: raw}}
  ingress:
  - port: {number: ${raw.port}, protocol: TCP, name: tcp}
    defaultEndpoint: 0.0.0.0:${rawAlt.port}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: copied}
spec:
  workloadSelector: {labels: {app: copied}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${copiedAlt.port}
`;

beforeAll(async () => {
  [caller, api, apiAlt, raw, rawAlt, other, copied, copiedAlt] = await Promise.all([
    stub('caller'),
    stub('api-main'),
    stub('api-alt'),
    stub('raw-main'),
    stub('raw-alt'),
    stub('other'),
    stub('copied-main'),
    stub('copied-alt')
  ]);
  m = await startMesh(
    {
      meshYaml: meshYaml({
        caller: { workloads: [{ name: 'caller-v1', instances: [caller.address] }] },
        api: { workloads: [{ name: 'api-v1', labels: { app: 'api' }, instances: [api.address] }] },
        raw: { workloads: [{ name: 'raw-v1', labels: { app: 'raw' }, instances: [raw.address] }] },
        other: { workloads: [{ name: 'other-v1', labels: { app: 'other' }, instances: [other.address] }] },
        copied: { workloads: [{ name: 'copied-v1', labels: { app: 'copied' }, instances: [copied.address] }] }
      }),
      istio: { 'sidecar.yaml': sidecars() }
    },
    { store: 'memory', accessLog: (line) => lines.push(line) }
  );
});
afterAll(async () => {
  await m.close();
  await Promise.all([caller, api, apiAlt, raw, rawAlt, other, copied, copiedAlt].map((s) => s.close()));
});

const destinationFlow = async (p: string) => {
  const flows = await until(
    async () => (await m.mesh.listFlows({ limit: 100 })).filter((f) => f.path === p && f.reporter === 'destination'),
    `the destination flow of ${p}`
  );
  return flows[0]!;
};

describe('Sidecar ingress listeners', () => {
  it("an HTTP listener delivers the service's requests to its defaultEndpoint; flows and the access log show it", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'api:9080', '/ingress-http');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ stub: 'api-alt', url: '/ingress-http' });
    expect(api.seen.some((s) => s.url === '/ingress-http')).toBe(false);
    const flow = await destinationFlow('/ingress-http');
    expect(flow.destination).toBe('api-v1');
    expect(flow.endpoint).toBe(`127.0.0.1:${apiAlt.port}`);
    expect(
      flow.trace.some((s) => s.detail.includes(`app at 127.0.0.1:${apiAlt.port} (Sidecar default/api ingress[0])`))
    ).toBe(true);
    // Envoy's inbound cluster is the listener's port; its upstream host the defaultEndpoint
    const line = await until(
      () => lines.find((l) => l.includes('"GET /ingress-http HTTP/1.1"') && l.includes('inbound|')),
      'the inbound access log line'
    );
    expect(line).toContain(`"127.0.0.1:${apiAlt.port}" inbound|${api.port}|| `);
  });

  it('a TCP listener carries the bytes to its defaultEndpoint (0.0.0.0: the instance address) as tcp_proxy', async () => {
    // a caller without a sidecar: the HTTP request is a byte stream to the inbound sidecar, answered by raw-alt
    const r = await request(m.inbound('raw-v1'), '/ingress-tcp', { headers: { host: 'raw:9080' } });
    expect(JSON.parse(r.body)).toEqual({ stub: 'raw-alt', url: '/ingress-tcp' });
    expect(raw.seen.some((s) => s.url === '/ingress-tcp')).toBe(false);
    // no HTTP flow at the inbound sidecar: a TCP connection is not a flow, its access log line is tcp_proxy's
    const line = await until(
      () => lines.find((l) => l.includes('"- - -"') && l.includes(`inbound|${raw.port}||`)),
      'the TCP access log line'
    );
    expect(line).toContain(`"127.0.0.1:${rawAlt.port}" inbound|${raw.port}|| `);
    expect((await m.mesh.listFlows({ limit: 100 })).some((f) => f.path === '/ingress-tcp')).toBe(false);
  });

  it('a workload the Sidecar does not select keeps its instance address; the selected one is redirected', async () => {
    const selected = await viaProxy(m.outbound('caller-v1'), 'api:9080', '/selected');
    expect(JSON.parse(selected.body)).toEqual({ stub: 'api-alt', url: '/selected' });
    const r = await viaProxy(m.outbound('caller-v1'), 'other:9080', '/not-selected');
    expect(JSON.parse(r.body)).toEqual({ stub: 'other', url: '/not-selected' });
    const flow = await destinationFlow('/not-selected');
    expect(flow.endpoint).toBe(other.address);
  });

  it("a listener on the service's port (a Sidecar written for the cluster: 9080) applies to an app on a local port", async () => {
    const r = await viaProxy(m.outbound('caller-v1'), 'copied:9080', '/copied');
    expect(JSON.parse(r.body)).toEqual({ stub: 'copied-alt', url: '/copied' });
    const flow = await destinationFlow('/copied');
    expect(flow.endpoint).toBe(`127.0.0.1:${copiedAlt.port}`);
  });

  it('a reload that removes the Sidecar restores delivery to the instance', async () => {
    const before = await viaProxy(m.outbound('caller-v1'), 'api:9080', '/before-reload');
    expect(JSON.parse(before.body)).toEqual({ stub: 'api-alt', url: '/before-reload' });
    fs.writeFileSync(path.join(m.dir, 'istio', 'sidecar.yaml'), '');
    expect((await m.mesh.reload()).ok).toBe(true);
    const r = await viaProxy(m.outbound('caller-v1'), 'api:9080', '/after-reload');
    expect(JSON.parse(r.body)).toEqual({ stub: 'api-main', url: '/after-reload' });
    const flow = await destinationFlow('/after-reload');
    expect(flow.endpoint).toBe(api.address);
    const t = await request(m.inbound('raw-v1'), '/after-reload-raw', { headers: { host: 'raw:9080' } });
    expect(JSON.parse(t.body)).toEqual({ stub: 'raw-main', url: '/after-reload-raw' });
  });
});
