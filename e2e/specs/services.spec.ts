import { randomUUID } from 'node:crypto';
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

  test('the Logs panel shows what a workload printed before the page opened, and still after a reload', async ({
    services,
    mesh
  }) => {
    await services.open();
    await services.toggleLogs('details-v1');
    // printed when the engine started the app, before this page was opened: it comes from the engine's history
    const startup = /^details v1 listening on \d+$/;
    await expect(services.logLines('details-v1', startup)).toHaveCount(1);

    // a line printed while the panel is open arrives live
    const mark = `/details/logs-${randomUUID()}`;
    expect((await mesh.send('productpage-v1', `http://details:9080${mark}`)).status).toBe(400);
    await expect(services.logLines('details-v1', `GET ${mark} 400`)).toHaveCount(1);

    await services.reload();
    await services.toggleLogs('details-v1');
    await expect(services.logLines('details-v1', startup)).toHaveCount(1);
    await expect(services.logLines('details-v1', `GET ${mark} 400`)).toHaveCount(1);
  });

  test('Stop and Restart from the keyboard leave the focus on the row’s Restart, not on the page', async ({
    services,
    page
  }) => {
    await services.open();
    await services.expectWorkload('details-v1', { state: 'running' });

    // the button is disabled while the action runs, which dropped the focus to the page
    await services.stopButton('details-v1').focus();
    await page.keyboard.press('Enter');
    await services.expectWorkload('details-v1', { state: 'stopped' });
    await expect(services.stopButton('details-v1')).toBeDisabled();
    await expect(services.restartButton('details-v1')).toBeFocused();

    await page.keyboard.press('Enter');
    await services.expectWorkload('details-v1', { state: 'running' });
    await expect(services.restartButton('details-v1')).toBeFocused();
  });
});
