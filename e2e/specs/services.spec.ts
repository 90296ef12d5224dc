import { BOOKINFO_WORKLOADS, expect, test } from '../fixtures.js';

test.describe('Services', () => {
  test('lists the six bookinfo workloads with their outbound ports and running processes', async ({
    app,
    services,
    mesh
  }) => {
    await services.open();

    await services.expectWorkloadCount(BOOKINFO_WORKLOADS.length);
    for (const name of BOOKINFO_WORKLOADS) {
      await services.expectWorkload(name, { outboundPort: await mesh.outbound(name), state: 'running' });
    }
    await app.expectConfigVersion(1);
    await app.expectNoError();
    expect(BOOKINFO_WORKLOADS).toHaveLength(6);
  });
});
