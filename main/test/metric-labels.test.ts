import { describe, expect, it } from 'vitest';
import type { Registry as MeshRegistry } from '../engine/registry.js';
import { flow } from './helpers/flow.js';
import { labelsFor, MeshMetrics } from '../engine/telemetry/metrics.js';

/** A registry with no workloads or services: labelsFor falls back to what the flow says. */
const empty = { workloadByName: new Map(), serviceByFqdn: new Map() } as unknown as MeshRegistry;

describe('metric labels (istio_stats rules)', () => {
  it('request_protocol is grpc for application/grpc and application/grpc+<codec> only (gRPC-Web is http)', () => {
    const proto = (ct: string) =>
      labelsFor(flow(1, { requestHeaders: { 'content-type': ct } }), empty).request_protocol;
    expect(proto('application/grpc')).toBe('grpc');
    expect(proto('application/grpc+proto')).toBe('grpc');
    expect(proto('application/grpc-web+proto')).toBe('http');
    expect(proto('application/grpc-web-text')).toBe('http');
    expect(proto('application/json')).toBe('http');
  });
  it('a client-side reply without a cluster names the service by the Host header; without a peer the namespace is unknown', () => {
    const base = {
      reporter: 'source' as const,
      destination: null,
      destinationService: 'reviews.default.svc.cluster.local',
      authority: 'reviews:9080'
    };
    const nr = labelsFor(flow(1, { ...base, status: 404, flags: 'NR', localReply: 'no route matched' }), empty);
    expect([nr.destination_service, nr.destination_service_name, nr.destination_service_namespace]).toEqual([
      'reviews:9080',
      'reviews:9080',
      'unknown'
    ]);
    const direct = labelsFor(flow(2, { ...base, status: 418, flags: '-', localReply: 'direct response' }), empty);
    expect(direct.destination_service).toBe('reviews:9080');
    const fi = labelsFor(flow(3, { ...base, status: 500, flags: 'FI', localReply: 'fault abort 500' }), empty);
    expect([fi.destination_service, fi.destination_service_name, fi.destination_service_namespace]).toEqual([
      'reviews.default.svc.cluster.local',
      'reviews',
      'unknown'
    ]);
  });
  it('the Host fallback is per request: each Host of NR or passthrough traffic is a series of its own', async () => {
    const metrics = new MeshMetrics();
    const sizes = { request: 100, response: 0 };
    const nr = { reporter: 'source' as const, destination: null, status: 404, flags: 'NR', localReply: 'no route' };
    for (const [i, authority] of ['echo.default:8080', 'ECHO:8080', 'echo.default:8080'].entries())
      metrics.record(flow(i, { ...nr, authority }), empty, sizes);
    for (const [i, authority] of ['first.example', 'other.example'].entries())
      metrics.record(
        flow(10 + i, { destination: null, destinationService: 'BlackHoleCluster', status: 502, authority }),
        empty,
        sizes
      );
    const text = await metrics.text();
    const count = (service: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith('istio_requests_total{') && l.includes(`destination_service="${service}"`))
          ?.split(' ')
          .at(-1)
      );
    expect(count('echo.default:8080')).toBe(2);
    expect(count('ECHO:8080')).toBe(1);
    expect(count('first.example')).toBe(1);
    expect(count('other.example')).toBe(1);
  });
  it("a callee without a sidecar is labelled from its endpoint's metadata: no app or version", () => {
    const legacy = {
      name: 'legacy-v1',
      namespace: 'default',
      labels: { app: 'legacy', version: 'v1' },
      sidecar: false
    };
    const withSidecar = { ...legacy, name: 'modern-v1', labels: { app: 'modern', version: 'v2' }, sidecar: true };
    const reg = {
      workloadByName: new Map([
        [legacy.name, legacy],
        [withSidecar.name, withSidecar]
      ]),
      serviceByFqdn: new Map()
    } as unknown as MeshRegistry;
    const l = labelsFor(flow(1, { destination: 'legacy-v1' }), reg);
    expect([l.destination_workload, l.destination_app, l.destination_version]).toEqual([
      'legacy-v1',
      'unknown',
      'unknown'
    ]);
    expect([l.destination_canonical_service, l.destination_canonical_revision]).toEqual(['legacy', 'v1']);
    const m = labelsFor(flow(2, { destination: 'modern-v1' }), reg);
    expect([m.destination_app, m.destination_version]).toEqual(['modern', 'v2']);
  });

  it("a reply the caller's sidecar made after picking a callee (UC, UT) has no peer metadata: the endpoint's labels", async () => {
    const modern = { name: 'modern-v1', namespace: 'default', labels: { app: 'modern', version: 'v2' }, sidecar: true };
    const reg = {
      workloadByName: new Map([[modern.name, modern]]),
      serviceByFqdn: new Map()
    } as unknown as MeshRegistry;
    const reset = flow(1, {
      reporter: 'source',
      destination: 'modern-v1',
      status: 503,
      flags: 'UC',
      localReply: 'upstream reset: connection-termination'
    });
    const l = labelsFor(reset, reg);
    expect([
      l.destination_workload,
      l.destination_workload_namespace,
      l.destination_app,
      l.destination_version
    ]).toEqual(['modern-v1', 'default', 'unknown', 'unknown']);
    expect([l.destination_canonical_service, l.destination_canonical_revision]).toEqual(['modern', 'v2']);
    // the callee's sidecar answered (its 503 passed through): its peer metadata names app and version; the server's
    // own sample always knows itself
    const answered = flow(2, { reporter: 'source', destination: 'modern-v1', status: 503, flags: '-' });
    expect([labelsFor(answered, reg).destination_app, labelsFor(answered, reg).destination_version]).toEqual([
      'modern',
      'v2'
    ]);
    const server = flow(3, {
      reporter: 'destination',
      destination: 'modern-v1',
      status: 503,
      flags: 'UF',
      localReply: 'x'
    });
    expect(labelsFor(server, reg).destination_app).toBe('modern');
    // the two client-side samples are series of their own
    const metrics = new MeshMetrics();
    metrics.record(reset, reg, { request: 1, response: 1 });
    metrics.record({ ...reset, id: 'again', flags: 'UC', localReply: null }, reg, { request: 1, response: 1 });
    const text = await metrics.text();
    expect(text).toMatch(/istio_requests_total\{[^}]*destination_app="unknown"[^}]*response_flags="UC"[^}]*\} 1/);
    expect(text).toMatch(/istio_requests_total\{[^}]*destination_app="modern"[^}]*response_flags="UC"[^}]*\} 1/);
  });
});
