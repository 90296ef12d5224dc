import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { expect, test } from '../fixtures.js';

const RATINGS_VS = 'istio/virtual-service-ratings.yaml';

/** ratings with the example's delay fault on for end-user jason, long enough to outlast the test. */
const DELAYED = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - name: jason
    match:
    - headers:
        end-user:
          exact: jason
    fault:
      delay:
        percentage:
          value: 100.0
        fixedDelay: 300s
    route:
    - destination:
        host: ratings
        subset: v1
  - name: everyone-else
    route:
    - destination:
        host: ratings
        subset: v1
`;

test.describe('Requests in flight', () => {
  test('a request held by a fault delay is listed at once as pending, then replaced in place by its flow', async ({
    traffic,
    mesh
  }) => {
    const before = (await mesh.json<{ version: number }>('/api/v1/health')).version;
    fs.writeFileSync(path.join(mesh.meshDir, RATINGS_VS), DELAYED);
    await expect
      .poll(async () => (await mesh.json<{ version: number }>('/api/v1/health')).version, {
        message: 'the engine to load the delay'
      })
      .toBeGreaterThan(before);
    await traffic.open();

    // reviews-v2 → ratings as jason: the caller's sidecar holds it in the fault delay
    const req = http.request({
      host: '127.0.0.1',
      port: await mesh.outbound('reviews-v2'),
      path: 'http://ratings:9080/ratings/42',
      headers: { 'end-user': 'jason' },
      agent: false
    });
    req.on('error', () => undefined);
    req.end();

    const pending = traffic.rowsWhere({ path: '/ratings/42', reporter: 'source', pending: true });
    await expect(pending).toHaveCount(1);
    await expect(pending.getByTestId('flow-pending-status')).toBeVisible();
    await expect(pending).toHaveAttribute('data-status', 'pending');
    const id = await pending.getAttribute('data-id');
    expect(id).toBeTruthy();

    // its detail: what the start told, waiting for the response
    await traffic.openFlow(pending);
    await expect(traffic.detail).toHaveAttribute('data-pending', 'true');
    await expect(traffic.detail.getByTestId('flow-pending')).toContainText('Waiting for the response');
    // its spinner is round and inside the pane's padding (it used to be squeezed and sit on the pane's left edge)
    const spinner = await traffic.pendingNoteSpinner();
    expect(Math.abs(spinner.width - spinner.height), JSON.stringify(spinner)).toBeLessThan(1);
    expect(spinner.left - spinner.paneLeft, JSON.stringify(spinner)).toBeGreaterThanOrEqual(8);
    await expect(traffic.detail).toContainText('/ratings/42');
    await expect(traffic.requestHeaders).toContainText('end-user');
    // the head is a finished flow's: who called whom, the reporting sidecar, when it started (no end yet)
    await expect(traffic.detail.getByTestId('flow-detail-started')).toContainText('started');
    await expect(traffic.detail.getByTestId('flow-detail-started')).not.toContainText('ended');

    // Copy as cURL: the request as sent so far (no body), through the caller's outbound sidecar
    await traffic.page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    const copyButton = traffic.detail.getByTestId('flow-copy-curl');
    await expect(copyButton).toHaveAttribute('title', /as it was sent so far.*without a body/);
    await copyButton.click();
    await expect(copyButton).toHaveAttribute('data-state', 'copied');
    const copied = await traffic.page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(
      `curl -x http://127.0.0.1:${await mesh.outbound('reviews-v2')} -H 'end-user: jason' http://ratings:9080/ratings/42`
    );
    await expect(traffic.detail).toHaveAttribute('data-pending', 'true');

    // the caller gives up: the request ends (DC) and its flow takes the pending row's place
    req.destroy();
    const finished = traffic.page.locator(`[data-testid="flow-row"][data-id="${id}"]:not([data-pending])`);
    await expect(finished).toHaveCount(1);
    await expect(finished).toHaveAttribute('data-flags', /(^|,)DC(,|$)/);
    await expect(traffic.rowsWhere({ path: '/ratings/42', pending: true })).toHaveCount(0);
    // the open detail now shows the whole flow
    await expect(traffic.detail).toHaveAttribute('data-id', id!);
    await expect(traffic.detail).not.toHaveAttribute('data-pending', 'true');
    await expect(traffic.detail.getByTestId('flow-detail-started')).toContainText('ended');
  });
});
