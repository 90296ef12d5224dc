import fs from 'node:fs';
import { expect, test } from '../fixtures.js';
import { GraphPage, MetricsPage } from '../pages/graph-page.js';
import { SecurityPage } from '../pages/security-page.js';

test.describe('Screenshots', () => {
  test('each view in light and dark', async ({ page, app, services, rules, traffic, mesh }, testInfo) => {
    const shots: string[] = [];

    await services.open();
    await services.expectWorkload('ratings-v1', { state: 'running' });
    shots.push(...(await app.screenshots('services', testInfo)));

    await rules.open();
    await rules.openFile('istio/virtual-service-reviews.yaml', 'jason-to-v2');
    shots.push(...(await app.screenshots('rules', testInfo)));

    expect((await mesh.send('productpage-v1', 'http://reviews:9080/reviews/0', { 'end-user': 'jason' })).status).toBe(
      200
    );
    await traffic.open();
    const row = traffic.rowsWhere({ path: '/reviews/0', reporter: 'source', status: 200 }).first();
    await expect(row).toBeVisible();
    await traffic.openFlow(row);
    await traffic.expectTraceSteps('route', 'endpoint');
    shots.push(...(await app.screenshots('traffic', testInfo)));

    // a request through productpage and its hops as a waterfall
    expect((await mesh.send('productpage-v1', 'http://productpage:9080/productpage?user=jason')).status).toBe(200);
    const page1 = traffic.rowsWhere({ path: '/productpage?user=jason', reporter: 'source' }).first();
    await expect(page1).toBeVisible();
    await traffic.expectRows({ path: '/ratings/0', reporter: 'destination' });
    await traffic.openFlow(page1);
    await traffic.openTrace();
    await expect.poll(() => traffic.spans.count()).toBeGreaterThanOrEqual(6);
    shots.push(...(await app.screenshots('trace', testInfo)));

    // the graph and the metrics of what the mesh saw
    for (const target of ['/productpage', '/productpage', '/productpage?user=jason']) {
      expect(await mesh.plainRequest('productpage-v1', target)).toMatchObject({ refused: false, status: 200 });
    }
    const graph = new GraphPage(page);
    await graph.open();
    await graph.expectEdge('productpage-v1', 'details-v1', { mtls: 'mutual_tls' });
    await graph.expectEdge('reviews-v2', 'ratings-v1', { mtls: 'mutual_tls' });
    shots.push(...(await app.screenshots('graph', testInfo)));
    const metrics = new MetricsPage(page);
    await metrics.open('productpage');
    await metrics.expectChartsWithData('productpage');
    shots.push(...(await app.screenshots('metrics', testInfo)));
    const security = new SecurityPage(page);
    await security.open();
    await security.expectCaFingerprint();
    shots.push(...(await app.screenshots('security', testInfo)));

    expect(shots.map((f) => f.split('/').pop())).toEqual([
      'services-light.png',
      'services-dark.png',
      'rules-light.png',
      'rules-dark.png',
      'traffic-light.png',
      'traffic-dark.png',
      'trace-light.png',
      'trace-dark.png',
      'graph-light.png',
      'graph-dark.png',
      'metrics-light.png',
      'metrics-dark.png',
      'security-light.png',
      'security-dark.png'
    ]);
    for (const f of shots) expect(fs.statSync(f).size, f).toBeGreaterThan(1000);
  });
});
