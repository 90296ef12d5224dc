import { expect, test } from '../fixtures.js';

test.describe('Traffic', () => {
  test('shows requests sent through the sidecars, filtered by text and by status class', async ({ traffic, mesh }) => {
    await traffic.open();

    // productpage → reviews and reviews-v2 → ratings, through the apps' outbound sidecars
    expect((await mesh.send('productpage-v1', 'http://reviews:9080/reviews/0')).status).toBe(200);
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/0')).status).toBe(200);
    // and one that the app answers 404
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/no-such-page')).status).toBe(404);

    await traffic.expectRows({ path: '/reviews/0', status: 200, reporter: 'source' });
    await traffic.expectRows({ path: '/ratings/0', status: 200, reporter: 'source' });
    await traffic.expectRows({ path: '/no-such-page', status: 404 });

    // by text: only the ratings calls are left
    await traffic.filterByText('ratings/0');
    await traffic.expectEveryRow('has path /ratings/0', (r) => r.path === '/ratings/0');
    await traffic.expectNoRows({ path: '/reviews/0' });

    // by status class
    await traffic.filterByText('');
    await traffic.filterByStatus('4xx');
    await traffic.expectEveryRow('has a 4xx status', (r) => /^4\d\d$/.test(r.status));
    await traffic.filterByStatus('2xx');
    await traffic.expectEveryRow('has a 2xx status', (r) => /^2\d\d$/.test(r.status));
    await traffic.expectRows({ path: '/reviews/0', status: 200 });
    await traffic.expectRows({ path: '/ratings/0', status: 200 });

    // by caller: a call without sidecar, straight to ratings' inbound sidecar, is "from no sidecar" (Istio's
    // source_workload "unknown"); the choice fits its select, and its title says it in full
    await traffic.filterByStatus('');
    expect(await mesh.plainRequest('ratings-v1', '/ratings/5')).toMatchObject({ refused: false, status: 200 });
    await traffic.filterCaller.selectOption('unknown');
    await traffic.expectRows({ path: '/ratings/5', status: 200, reporter: 'destination' });
    await traffic.expectNoRows({ path: '/ratings/0' });
    await expect(traffic.filterCaller).toHaveAttribute('title', /caller without sidecar/);
    const fits = await traffic.filterCaller.evaluate((el) => {
      const select = el as HTMLSelectElement;
      const ctx = document.createElement('canvas').getContext('2d')!;
      ctx.font = getComputedStyle(select).font;
      const text = select.selectedOptions[0]!.text;
      // the text, plus the select's padding and its arrow (~20 px), within its width
      return { text, fits: ctx.measureText(text).width + 20 <= select.clientWidth };
    });
    expect(fits).toEqual({ text: 'from no sidecar', fits: true });
    await traffic.filterCaller.selectOption('');
  });

  test('opens a flow: decision trace, headers and response body', async ({ traffic, mesh }) => {
    await traffic.open();
    const reply = await mesh.send('reviews-v2', 'http://ratings:9080/ratings/7', { 'x-e2e-probe': 'open-a-flow' });
    expect(reply.status).toBe(200);

    const row = traffic.rowsWhere({ path: '/ratings/7', reporter: 'source', status: 200 }).first();
    await expect(row).toBeVisible();
    await traffic.openFlow(row);
    // beside the detail pane the reporter column is hidden: each row's route cell says which sidecar reported it
    await expect(row.locator('.rep-mark')).toBeVisible();
    await expect(row.locator('.rep-mark')).toHaveText('out');

    await traffic.expectTraceSteps('route', 'endpoint');
    await expect(traffic.requestHeaders).toContainText('x-e2e-probe');
    await expect(traffic.requestHeaders).toContainText('open-a-flow');
    await expect(traffic.responseHeaders).toContainText(/content-type/i);
    await expect(traffic.responseHeaders).toContainText('application/json');
    await expect(traffic.responseBody).toContainText('Reviewer1');
    await expect(traffic.responseBody).toContainText(/"id":\s*7\b/);

    // Copy as cURL: the request again, through the caller's outbound sidecar, with the app's own header
    await traffic.page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    const copyButton = traffic.detail.getByTestId('flow-copy-curl');
    await copyButton.click();
    await expect(copyButton).toHaveAttribute('data-state', 'copied');
    const copied = await traffic.page.evaluate(() => navigator.clipboard.readText());
    const outbound = await mesh.outbound('reviews-v2');
    expect(copied).toBe(
      `curl -x http://127.0.0.1:${outbound} -H 'x-e2e-probe: open-a-flow' http://ratings:9080/ratings/7`
    );
  });

  test('keyboard: ↓ selects the next row and Enter opens its detail', async ({ traffic, mesh }) => {
    await traffic.open();
    for (const id of [1, 2, 3]) {
      expect((await mesh.send('reviews-v2', `http://ratings:9080/ratings/${id}`)).status).toBe(200);
    }
    await traffic.filterByText('ratings/');
    for (const id of [1, 2, 3]) await traffic.expectRows({ path: `/ratings/${id}`, reporter: 'source' });

    // two neighbouring rows of different requests (each request is listed once per reporting sidecar)
    const rows = await traffic.rowData();
    const k = rows.findIndex((r, i) => i + 1 < rows.length && rows[i + 1]!.path !== r.path);
    expect(k, JSON.stringify(rows)).toBeGreaterThanOrEqual(0);
    const [current, next] = [rows[k]!, rows[k + 1]!];

    await traffic.selectRow(traffic.rows.nth(k));
    await traffic.pressKey('ArrowDown');
    await expect(traffic.selectedRow()).toHaveCount(1);
    await expect(traffic.selectedRow()).toHaveAttribute('data-id', next.id);

    await traffic.pressKey('Enter');
    await expect(traffic.detail).toBeVisible();
    await expect(traffic.detail).toContainText(next.path);
    await expect(traffic.detail).not.toContainText(current.path);
  });

  test('a narrow window (1024×700) keeps every column of a row in view, beside the detail and the sessions', async ({
    traffic,
    mesh,
    page
  }) => {
    await page.setViewportSize({ width: 1024, height: 700 });
    await traffic.open();
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/5')).status).toBe(200);
    const row = traffic.rowsWhere({ path: '/ratings/5', reporter: 'source', status: 200 }).first();
    await expect(row).toBeVisible();

    const cutHeaders = async (): Promise<string[]> =>
      (await traffic.columnHeaders()).filter((h) => h.cut).map((h) => h.label);
    // the whole list: Status and Duration used to run past the window's edge
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
    await expect.poll(cutHeaders).toEqual([]);
    // beside the detail pane: Status and Duration used to sit under the pane; the headers read "Sta…", "Met…"
    await traffic.openFlow(row);
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
    await expect.poll(cutHeaders).toEqual([]);
    // short labels where the columns are narrow, the full names as their tooltips
    expect(await traffic.columnHeaders()).toEqual(
      expect.arrayContaining([
        { label: 'Verb', title: 'Method', cut: false },
        { label: 'Code', title: 'Status', cut: false }
      ])
    );
    // 1280 wide with the sessions panel open too ("Caller → service" was cut as well)
    await page.setViewportSize({ width: 1280, height: 800 });
    await traffic.openSessions();
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
    await expect.poll(cutHeaders).toEqual([]);
    // and 900 wide, the narrowest list
    await page.setViewportSize({ width: 900, height: 700 });
    await expect.poll(cutHeaders).toEqual([]);
    // the whole names again where they fit
    await page.setViewportSize({ width: 1440, height: 800 });
    await traffic.closeSessions();
    await expect
      .poll(async () => (await traffic.columnHeaders()).map((h) => h.label))
      .toEqual(['Started', 'Caller → service', 'Method', 'Path', 'Status', 'Duration']);
  });

  test('a 900×700 window with a request open keeps Status and Duration of every row in view', async ({
    traffic,
    mesh,
    page
  }) => {
    await page.setViewportSize({ width: 900, height: 700 });
    await traffic.open();
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/no-such-page')).status).toBe(404);
    const row = traffic.rowsWhere({ path: '/no-such-page', reporter: 'source', status: 404 }).first();
    await expect(row).toBeVisible();
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);

    // beside the detail pane the list is ~330 px wide: Status was cut to "40" and Duration lay past the list's edge
    await traffic.openFlow(row);
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
    await expect.poll(() => traffic.clippedCells(row, ['c-status', 'c-dur'])).toEqual([]);
    // a wider window brings the columns back; beside the detail pane the route cell cuts the caller, not the service
    await page.setViewportSize({ width: 1280, height: 800 });
    const dst = row.getByTestId('flow-route-dst');
    await expect(dst).toHaveText('ratings-v1');
    // whole: inside its cell, and not cut short within its own box
    const whole = (el: HTMLElement): boolean => {
      const cell = el.closest('.c-route')!.getBoundingClientRect();
      const box = el.getBoundingClientRect();
      return el.clientWidth > 0 && el.scrollWidth <= el.clientWidth && box.right <= cell.right + 0.5;
    };
    await expect.poll(() => dst.evaluate(whole)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 800 });
    await expect
      .poll(() => traffic.visibleColumns(row))
      .toEqual(['c-time', 'c-route', 'c-method', 'c-path', 'c-status', 'c-dur']);
  });

  test('a row marked for comparison keeps its whole start time, and its A/B badge stays in a narrow list', async ({
    traffic,
    mesh,
    page
  }) => {
    await traffic.open();
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/7')).status).toBe(200);
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/8')).status).toBe(200);
    const a = traffic.rowsWhere({ path: '/ratings/7', reporter: 'source' }).first();
    const b = traffic.rowsWhere({ path: '/ratings/8', reporter: 'source' }).first();
    await expect(b).toBeVisible();

    await traffic.markForCompare(a, 'A');
    await expect(traffic.compareBadge(a)).toHaveText('A');
    await expect(traffic.compareBadge(a)).toBeVisible();
    // the badge sat in the Started cell and cut its milliseconds off ("11:57:30.1…")
    await expect.poll(() => traffic.clippedCells(a, ['c-time'])).toEqual([]);

    // a 900 px window with the detail open has no Started column: the badge is still there
    await page.setViewportSize({ width: 900, height: 700 });
    await traffic.openFlow(b);
    await expect(traffic.compareBadge(a)).toBeVisible();
    await expect.poll(() => traffic.cellsOutsideList(a)).toEqual([]);
  });

  test('a narrow window (1024×700) with the sessions and a request open: the sessions are a drawer over a usable list', async ({
    traffic,
    mesh,
    page
  }) => {
    await page.setViewportSize({ width: 1024, height: 700 });
    await traffic.open();
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/6')).status).toBe(200);
    const row = traffic.rowsWhere({ path: '/ratings/6', reporter: 'source', status: 200 }).first();
    await expect(row).toBeVisible();
    await traffic.openFlow(row);
    await traffic.openSessions();

    // the list keeps a usable width with every cell of a row inside it (it was squeezed to ~184 px between the
    // docked panel and the detail, too narrow for any row)
    await expect.poll(() => traffic.listWidth()).toBeGreaterThanOrEqual(400);
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
    // the panel lies over the list as a drawer and takes the focus
    await expect(traffic.sessionsPanel).toHaveAttribute('data-mode', 'drawer');
    await expect(traffic.sessionsPanel).toBeFocused();
    await expect(traffic.sessionItems.first()).toBeVisible();

    // Esc closes the drawer first (the focus goes back to the toggle), and the detail stays open
    await traffic.pressKey('Escape');
    await expect(traffic.sessionsPanel).toHaveCount(0);
    await expect(traffic.sessionsToggle).toBeFocused();
    await expect(traffic.detail).toBeVisible();
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
    // a second Esc closes the detail
    await traffic.pressKey('Escape');
    await expect(traffic.detail).toHaveCount(0);

    // Esc closes it wherever the focus is; a click beside the drawer closes it too, and so does its close button
    await traffic.openSessions();
    await traffic.dropFocus();
    await traffic.pressKey('Escape');
    await expect(traffic.sessionsPanel).toHaveCount(0);
    await traffic.openSessions();
    await traffic.clickBesideSessionsDrawer();
    await traffic.openSessions();
    await traffic.closeSessions();
    await expect(traffic.sessionsToggle).toBeFocused();

    // a wide window docks the panel beside the list again
    await page.setViewportSize({ width: 1440, height: 800 });
    await traffic.openSessions();
    await expect(traffic.sessionsPanel).toHaveAttribute('data-mode', 'docked');
    await traffic.openFlow(row);
    await expect.poll(() => traffic.listWidth()).toBeGreaterThanOrEqual(400);
    await expect.poll(() => traffic.cellsOutsideList(row)).toEqual([]);
  });

  test('the detail pane shows a very long path whole (wrapped), not cut at the pane edge', async ({
    traffic,
    mesh
  }) => {
    await traffic.open();
    const path = `/ratings/8?q=${'x'.repeat(400)}&end=here`;
    await mesh.send('reviews-v2', `http://ratings:9080${path}`);
    const row = traffic.rowsWhere({ path, reporter: 'source' }).first();
    await expect(row).toBeVisible();
    await traffic.openFlow(row);
    await expect(traffic.requestLine).toContainText('&end=here');
    // nothing cut off sideways: the line wraps within the pane (it used to end in an ellipsis)
    await expect.poll(() => traffic.requestLineOverflow()).toBe(0);
  });
  test('setting a filter and the query it runs leave the filter bar one height: the list does not move', async ({
    traffic,
    mesh,
    page
  }) => {
    for (const size of [
      { width: 1280, height: 800 },
      { width: 1024, height: 700 }
    ]) {
      await page.setViewportSize(size);
      await traffic.open();
      expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/4')).status).toBe(200);
      await traffic.expectRows({ path: '/ratings/4', reporter: 'source' });
      const before = await traffic.filterBarLayout();

      // a filter adds "Reset" and "… matching"; "Updating…" shows while its query is held at the network
      const release = await traffic.holdListQueries('status');
      await traffic.filterByStatus('2xx');
      await expect(traffic.resetButton).toBeVisible();
      await expect(traffic.listLoading).toBeVisible();
      await expect(traffic.count).toContainText('matching');
      // the bar wrapped onto another line and the whole list jumped ~26 px
      expect(await traffic.filterBarLayout(), `${size.width}×${size.height} while updating`).toEqual(before);
      await release();
      await expect(traffic.listLoading).toHaveCount(0);
      expect(await traffic.filterBarLayout(), `${size.width}×${size.height} with a filter`).toEqual(before);

      await traffic.resetButton.click();
      await expect(traffic.resetButton).toHaveCount(0);
      expect(await traffic.filterBarLayout()).toEqual(before);
    }
  });
});
