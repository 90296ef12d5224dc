import { describe, expect, it } from 'vitest';
import type { Registry as MeshRegistry } from '../engine/registry.js';
import { flow } from './helpers/flow.js';
import { labelsFor } from '../engine/telemetry/metrics.js';

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
});
