/**
 * Istio's own bookinfo task YAML, read unchanged from ../shared/fixtures, executed against stub workloads:
 * request routing, traffic shifting and fault injection as the istio.io tasks describe them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { meshYaml, startMesh, stub, viaProxy, type Running, type Stub } from './helpers/harness.js';

const FIX = path.resolve(import.meta.dirname, '../../../shared/fixtures/istio-bookinfo/networking');
const fx = (f: string) => path.join(FIX, f);

let running: Running | undefined;
let stubs: Stub[] = [];
afterEach(async () => {
  await running?.close();
  await Promise.all(stubs.map((s) => s.close()));
  running = undefined;
  stubs = [];
});

async function bookinfo(istio: string[]): Promise<Running> {
  const names = ['productpage-v1', 'details-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings-v1'];
  stubs = await Promise.all(names.map((n) => stub(n)));
  const at = (n: string) => stubs[names.indexOf(n)]!.address;
  const wl = (n: string) => {
    const [app, version] = n.split('-') as [string, string];
    return { name: n, labels: { app, version }, serviceAccount: `bookinfo-${app}`, instances: [at(n)] };
  };
  running = await startMesh({
    meshYaml: meshYaml(
      {
        productpage: { workloads: [wl('productpage-v1')] },
        details: { workloads: [wl('details-v1')] },
        reviews: { workloads: [wl('reviews-v1'), wl('reviews-v2'), wl('reviews-v3')] },
        ratings: { workloads: [wl('ratings-v1')] }
      },
      '',
      istio
    )
  });
  return running;
}

const served = (r: { body: string }) => (JSON.parse(r.body) as { stub: string }).stub;

describe('bookinfo tasks with the unchanged Istio samples', () => {
  it('request routing: virtual-service-all-v1 sends every reviews call to v1', async () => {
    const m = await bookinfo([fx('destination-rule-all.yaml'), fx('virtual-service-all-v1.yaml')]);
    for (let i = 0; i < 10; i++)
      expect(served(await viaProxy(m.outbound('productpage-v1'), 'reviews:9080', '/reviews/0'))).toBe('reviews-v1');
  });
  it("the docs' sequence: all-v1, then virtual-service-reviews-test-v2 applied over it (same name: the later replaces it)", async () => {
    const m = await bookinfo([
      fx('destination-rule-all.yaml'),
      fx('virtual-service-all-v1.yaml'),
      fx('virtual-service-reviews-test-v2.yaml')
    ]);
    const out = m.outbound('productpage-v1');
    expect(served(await viaProxy(out, 'reviews:9080', '/reviews/0', { headers: { 'end-user': 'jason' } }))).toBe(
      'reviews-v2'
    );
    expect(served(await viaProxy(out, 'reviews:9080', '/reviews/0'))).toBe('reviews-v1');
    // the other services keep all-v1's routes
    expect(served(await viaProxy(out, 'ratings:9080', '/ratings/0'))).toBe('ratings-v1');
  });
  it('request routing by user: jason → v2, others → v3 (virtual-service-reviews-jason-v2-v3)', async () => {
    const m = await bookinfo([fx('destination-rule-all.yaml'), fx('virtual-service-reviews-jason-v2-v3.yaml')]);
    const out = m.outbound('productpage-v1');
    expect(served(await viaProxy(out, 'reviews:9080', '/reviews/0', { headers: { 'end-user': 'jason' } }))).toBe(
      'reviews-v2'
    );
    expect(served(await viaProxy(out, 'reviews:9080', '/reviews/0'))).toBe('reviews-v3');
  });
  it('traffic shifting 50/50 (virtual-service-reviews-50-v3): both v1 and v3 within [60, 140] of 200', async () => {
    const m = await bookinfo([fx('destination-rule-all.yaml'), fx('virtual-service-reviews-50-v3.yaml')]);
    const n: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const s = served(await viaProxy(m.outbound('productpage-v1'), 'reviews:9080', '/reviews/0'));
      n[s] = (n[s] ?? 0) + 1;
    }
    expect(Object.keys(n).sort()).toEqual(['reviews-v1', 'reviews-v3']);
    expect(n['reviews-v1']).toBeGreaterThanOrEqual(60);
    expect(n['reviews-v1']).toBeLessThanOrEqual(140);
  });
  it('fault injection: ratings abort 500 for jason only (virtual-service-ratings-test-abort)', async () => {
    const m = await bookinfo([fx('destination-rule-all.yaml'), fx('virtual-service-ratings-test-abort.yaml')]);
    const out = m.outbound('reviews-v2');
    const r = await viaProxy(out, 'ratings:9080', '/ratings/0', { headers: { 'end-user': 'jason' } });
    expect(r.status).toBe(500);
    expect(r.body).toBe('fault filter abort');
    expect(served(await viaProxy(out, 'ratings:9080', '/ratings/0'))).toBe('ratings-v1');
    // the same call from a caller without a sidecar is not faulted
    const direct = await viaProxy(m.inbound('ratings-v1'), 'ratings:9080', '/ratings/0', {
      headers: { 'end-user': 'jason' }
    });
    expect(direct.status).toBe(200);
  });
  it('fault-injection-details-v1: every details call aborts with 555 (the second rule is unreachable)', async () => {
    const m = await bookinfo([fx('fault-injection-details-v1.yaml')]);
    const r = await viaProxy(m.outbound('productpage-v1'), 'details:9080', '/details/0');
    expect(r.status).toBe(555);
    expect(r.body).toBe('fault filter abort');
  });
  it('without any DestinationRule, a subset route gets 503 NC (virtual-service-all-v1 alone)', async () => {
    const m = await bookinfo([fx('virtual-service-all-v1.yaml')]);
    const r = await viaProxy(m.outbound('productpage-v1'), 'reviews:9080', '/reviews/0');
    expect(r.status).toBe(503);
    expect(r.body).toBe('');
    const f = (await m.mesh.listFlows({ limit: 5 })).find((x) => x.reporter === 'source');
    expect(f?.flags).toBe('NC');
  });
});
