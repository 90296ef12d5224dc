import { expect, test, type Mesh } from '../fixtures.js';
import { GraphPage, MetricsPage } from '../pages/graph-page.js';

/**
 * Bookinfo traffic the graph can show deterministically:
 *  - the product page, requested straight at productpage's inbound sidecar (a caller without a sidecar, as a
 *    browser): productpage calls details and reviews (v1 or v3, 50/50, by the example's VirtualService);
 *  - signed in as jason (?user=jason → end-user: jason): reviews always goes to v2, which calls ratings;
 *  - reviews-v3 → ratings directly, so that edge is there whatever the 50/50 split chose.
 */
async function bookinfoTraffic(mesh: Mesh): Promise<void> {
  for (const target of ['/productpage', '/productpage', '/productpage?user=jason', '/productpage?user=jason']) {
    expect(await mesh.plainRequest('productpage-v1', target)).toMatchObject({ refused: false, status: 200 });
  }
  expect((await mesh.send('reviews-v3', 'http://ratings:9080/ratings/0')).status).toBe(200);
}

test.describe('Graph', () => {
  test('shows the bookinfo calls as edges; an edge opens its panel, the fault form, and Traffic filtered to it', async ({
    page,
    mesh,
    dialog,
    traffic
  }) => {
    const graph = new GraphPage(page);
    await bookinfoTraffic(mesh);
    await graph.open();

    // callers left, services right: every observed call is an edge
    await graph.expectEdge('unknown', 'productpage-v1', { mtls: 'none' });
    await graph.expectEdge('productpage-v1', 'details-v1', { mtls: 'mutual_tls' });
    await graph.expectEdge('productpage-v1', { prefix: 'reviews-v' });
    await graph.expectEdge('productpage-v1', 'reviews-v2');
    await graph.expectEdge('reviews-v2', 'ratings-v1', { mtls: 'mutual_tls' });
    await graph.expectEdge('reviews-v3', 'ratings-v1');
    await graph.expectNoEdge('reviews-v1', 'ratings-v1');
    await graph.expectNodeHealth('productpage-v1', 'healthy');
    await graph.expectNodeHealth('details-v1', 'healthy');
    await expect(graph.service('reviews')).toBeVisible();

    // a node opens its panel too
    await graph.openNode('ratings-v1');
    await expect(graph.panel).toContainText('reviews-v2');
    await expect(graph.panel).toContainText('reviews-v3');

    // keyboard: Enter on an edge opens its panel; Escape closes it and gives the focus back
    await graph.openEdgeWithKeyboard('productpage-v1', 'details-v1');
    await expect(graph.panel).toContainText('productpage-v1');
    await expect(graph.panel).toContainText('details-v1');
    await graph.closePanelWithEscape('productpage-v1', 'details-v1');

    // "Inject a fault on this edge" opens the fault quick action for the destination service
    await graph.openEdge('productpage-v1', 'details-v1');
    await expect(graph.faultNote).toContainText('sourceLabels match on productpage-v1');
    await graph.injectFault();
    await dialog.expectOpen();
    await expect(dialog.kind).toHaveValue('fault');
    await dialog.expectService('details');
    await expect(dialog.from).toHaveValue('productpage-v1');
    await dialog.cancel();

    // an edge → Traffic, filtered to its caller and its destination service
    await graph.openEdge('reviews-v2', 'ratings-v1');
    await expect.poll(async () => Number(await graph.edgeRequests.textContent())).toBeGreaterThanOrEqual(2);
    await graph.showInTraffic();
    await expect(traffic.filterService).toHaveValue('ratings');
    await graph.expectTrafficOnlyFrom('reviews-v2');
  });

  test('keyboard: a focused edge keeps the focus when a new call redraws the graph', async ({ page, mesh }) => {
    const graph = new GraphPage(page);
    await bookinfoTraffic(mesh);
    await graph.open();
    await graph.openEdgeWithKeyboard('productpage-v1', 'details-v1');
    await graph.closePanelWithEscape('productpage-v1', 'details-v1');

    // a call that adds an edge redraws the canvas for the new topology; the focused edge keeps the focus
    expect((await mesh.send('details-v1', 'http://ratings:9080/ratings/0')).status).toBe(200);
    await graph.expectEdge('details-v1', 'ratings-v1');
    await expect(graph.edge('productpage-v1', 'details-v1').first()).toBeFocused();
    // and Enter still opens its panel
    await page.keyboard.press('Enter');
    await expect(graph.panel).toHaveAttribute('data-id', 'productpage-v1->details-v1');
  });

  test('re-fits the graph when the window narrows; a view the user moved stays where it is', async ({ page, mesh }) => {
    const graph = new GraphPage(page);
    await bookinfoTraffic(mesh);
    await graph.open();
    // the whole topology first (a new edge draws a fresh canvas, fitted anew)
    await graph.expectEdge('reviews-v2', 'ratings-v1');
    await graph.expectEdge('reviews-v3', 'ratings-v1');
    await graph.expectEdge('productpage-v1', 'details-v1');
    await expect.poll(() => graph.boxesOutsideCanvas()).toEqual([]);

    // loaded at 1280, then 1024 wide: the ratings group on the right used to be cut off
    await page.setViewportSize({ width: 1024, height: 800 });
    await expect.poll(() => graph.boxesOutsideCanvas()).toEqual([]);
    await expect(graph.canvas).toHaveAttribute('data-view', 'fitted');

    // the user pans by hand: a resize keeps their view
    await graph.panBy(60, 40);
    const moved = await graph.viewTransform();
    await page.setViewportSize({ width: 1180, height: 800 });
    await graph.expectResizeHandled();
    expect(await graph.viewTransform()).toBe(moved);

    // "fit view" in the controls follows the size again
    await graph.fitView();
    await page.setViewportSize({ width: 1024, height: 700 });
    await graph.expectResizeHandled();
    await expect.poll(() => graph.boxesOutsideCanvas()).toEqual([]);
  });

  test('Metrics: the rate axis of a quiet service tells its ticks apart', async ({ page, mesh }) => {
    const metrics = new MetricsPage(page);
    // one call in the 15 minute window: a bucket of 1/15 req/s at most
    expect(await mesh.plainRequest('details-v1', '/details/0')).toMatchObject({ refused: false, status: 200 });
    await metrics.open('details');
    await metrics.expectChartsWithData('details');
    // every tick read "<0.1" (the summary's format), so the axis told nothing
    await expect
      .poll(async () => (await metrics.yTicks(metrics.rateChart)).join(' | '))
      .toMatch(/^0( \| \d+(\.\d+)?){2,}$/);
    const ticks = await metrics.yTicks(metrics.rateChart);
    expect(new Set(ticks).size, ticks.join(' | ')).toBe(ticks.length);
  });

  test('Metrics: the time axis reads the time of day; the date is under the pointer, not under the first tick', async ({
    page,
    mesh
  }) => {
    const metrics = new MetricsPage(page);
    await metrics.watchChartText();
    expect(await mesh.plainRequest('details-v1', '/details/0')).toMatchObject({ refused: false, status: 200 });
    await metrics.open('details');
    await metrics.expectChartsWithData('details');

    await expect.poll(async () => (await metrics.chartText(metrics.rateChart)).length).toBeGreaterThan(0);
    // the default 15 minute window: a date belongs on the axis only when it crosses midnight
    const crossesMidnight = await page.evaluate(
      () => new Date(Date.now() - 16 * 60_000).toDateString() !== new Date().toDateString()
    );
    if (!crossesMidnight) {
      // uPlot drew the date ("11/25/26") under the first tick
      const text = await metrics.chartText(metrics.rateChart);
      expect(text.filter((t) => /\d\/\d|\d{4}-\d\d-\d\d/.test(t))).toEqual([]);
    }
    // times of day as the Traffic list has them (24 h), not "2:20pm"
    const times = (await metrics.chartText(metrics.rateChart)).filter((t) => /^\d\d:\d\d(:\d\d)?$/.test(t));
    expect(times.length).toBeGreaterThan(1);
    await metrics.hover(metrics.rateChart);
    await expect(metrics.legendTime(metrics.rateChart)).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  test('Metrics: productpage’s rate, errors and latency are charted', async ({ page, mesh }) => {
    const metrics = new MetricsPage(page);
    await bookinfoTraffic(mesh);
    await metrics.open('productpage');
    await metrics.expectChartsWithData('productpage');

    // the same charts are one click away from the service's box in the graph
    const graph = new GraphPage(page);
    await graph.open();
    await graph.expectEdge('productpage-v1', 'details-v1');
    await graph.openServiceMetrics('details');
    await metrics.expectChartsWithData('details');
  });
});
