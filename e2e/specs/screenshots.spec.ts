import fs from 'node:fs';
import { expect, test } from '../fixtures.js';

test.describe('Screenshots', () => {
  test('each view in light and dark', async ({ app, services, rules, traffic, mesh }, testInfo) => {
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

    expect(shots.map((f) => f.split('/').pop())).toEqual([
      'services-light.png',
      'services-dark.png',
      'rules-light.png',
      'rules-dark.png',
      'traffic-light.png',
      'traffic-dark.png'
    ]);
    for (const f of shots) expect(fs.statSync(f).size, f).toBeGreaterThan(1000);
  });
});
