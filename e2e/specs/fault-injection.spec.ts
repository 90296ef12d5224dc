import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from '../fixtures.js';

const RATINGS_VS = 'istio/virtual-service-ratings.yaml';

test.describe('Fault injection from the Services view', () => {
  test('a 100% abort 503 on ratings shows up as FI rows, and clearing it brings 200s back', async ({
    services,
    traffic,
    mesh
  }) => {
    await services.open();

    // fault toggle → dialog (abort 503 at 100%) → preview diff → save
    const dialog = await services.openFaultDialog('ratings');
    await dialog.expectService('ratings');
    await dialog.fillFault({ abortStatus: 503, percentage: 100 });
    await dialog.preview();
    await dialog.expectDiffContains('fault', 'abort', 'httpStatus: 503');
    await dialog.save();
    await services.expectFault('ratings', 'on');
    // the change is real Istio YAML in the project, not UI state
    expect(fs.readFileSync(path.join(mesh.meshDir, RATINGS_VS), 'utf8')).toMatch(/httpStatus: 503/);

    // reviews-v2 → ratings now gets the injected 503
    for (let i = 0; i < 3; i++) {
      const r = await mesh.send('reviews-v2', 'http://ratings:9080/ratings/0');
      expect(r.status, r.body).toBe(503);
    }
    await traffic.open();
    await traffic.expectRows({ path: '/ratings/0', status: 503, flagsInclude: 'FI' }, 3);

    // remove the fault from the Services view → 200 again
    await services.open();
    const clear = await services.openClearFaultDialog('ratings');
    await clear.save();
    await services.expectFault('ratings', 'off');
    expect(fs.readFileSync(path.join(mesh.meshDir, RATINGS_VS), 'utf8')).not.toMatch(/^\s*httpStatus: 503/m);

    const ok = await mesh.send('reviews-v2', 'http://ratings:9080/ratings/1');
    expect(ok.status, ok.body).toBe(200);
    await traffic.open();
    await traffic.expectRows({ path: '/ratings/1', status: 200, reporter: 'source' });
    await traffic.expectNoRows({ path: '/ratings/1', status: 503 });
  });
});
