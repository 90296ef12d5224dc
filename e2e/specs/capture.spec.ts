/**
 * Capture and inspect: HAR export and import, replay with an edited request, the trace waterfall, recording
 * sessions, and history that outlives a restart of the engine.
 */
import fs from 'node:fs';
import type { Har } from '../../main/contract/api.js';
import { expect, test } from '../fixtures.js';

test.describe('Capture', () => {
  test('exports the requests as a HAR file and imports it back as a read-only session', async ({
    traffic,
    mesh
  }, testInfo) => {
    await traffic.open();
    expect((await mesh.send('productpage-v1', 'http://reviews:9080/reviews/0')).status).toBe(200);
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/0')).status).toBe(200);
    await traffic.expectRows({ path: '/reviews/0', reporter: 'source' });
    await traffic.expectRows({ path: '/ratings/0', reporter: 'source' });

    const exported = await traffic.exportHar();
    expect(exported.fileName).toMatch(/\.har$/);
    const har = JSON.parse(exported.text) as Har;
    expect(har.log.entries.length).toBeGreaterThan(0);
    expect(har.log.entries.map((e) => new URL(e.request.url).pathname)).toEqual(
      expect.arrayContaining(['/reviews/0', '/ratings/0'])
    );

    const file = testInfo.outputPath('capture.har');
    fs.writeFileSync(file, exported.text);
    await traffic.importHar(file);

    // the import becomes a new read-only session, shown at once
    await expect(traffic.sessionsPanel).toBeVisible();
    const imported = traffic.sessionsWhere({ kind: 'import', readOnly: true });
    await expect(imported).toHaveCount(1);
    await expect(imported).toHaveAttribute('data-selected', 'true');
    await expect(imported.getByTestId('session-title')).toHaveText('capture.har');
    await expect(imported.getByTestId('session-count')).toHaveAttribute('data-flows', String(har.log.entries.length));
    await expect(traffic.scope).toHaveText('capture.har');
    await traffic.expectRows({ path: '/reviews/0' });
    await traffic.expectRows({ path: '/ratings/0' });
    await expect(traffic.harError).toHaveCount(0);

    // an empty HAR file is refused with its code, before it reaches the engine
    await traffic.importHar({
      name: 'empty.har',
      mimeType: 'application/json',
      buffer: Buffer.from(
        JSON.stringify({ log: { version: '1.2', creator: { name: 'x', version: '1' }, entries: [] } })
      )
    });
    await expect(traffic.harError).toContainText('LM201');
    await expect(traffic.sessionsWhere({ kind: 'import' })).toHaveCount(1);
  });

  test('shows a binary body as a hex dump whose ASCII column is not cut, wide or narrow', async ({ page, traffic }) => {
    await traffic.open();
    // one imported request whose answer is 300 bytes of binary: a hex dump of 19 rows
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 256));
    const entry = {
      startedDateTime: new Date().toISOString(),
      time: 3,
      request: {
        method: 'GET',
        url: 'http://blobs.example/hexdump.bin',
        httpVersion: 'HTTP/1.1',
        headers: [],
        queryString: [],
        cookies: [],
        headersSize: -1,
        bodySize: 0
      },
      response: {
        status: 200,
        statusText: 'OK',
        httpVersion: 'HTTP/1.1',
        headers: [{ name: 'content-type', value: 'application/octet-stream' }],
        cookies: [],
        content: {
          size: bytes.length,
          mimeType: 'application/octet-stream',
          text: bytes.toString('base64'),
          encoding: 'base64'
        },
        redirectURL: '',
        headersSize: -1,
        bodySize: bytes.length
      },
      cache: {},
      timings: { send: 0, wait: 3, receive: 0 }
    };
    await traffic.importHar({
      name: 'binary.har',
      mimeType: 'application/json',
      buffer: Buffer.from(
        JSON.stringify({ log: { version: '1.2', creator: { name: 'e2e', version: '1' }, entries: [entry] } })
      )
    });
    const row = traffic.rowsWhere({ path: '/hexdump.bin' }).first();
    await expect(row).toBeVisible();
    await traffic.openFlow(row);
    const dump = traffic.responseBody.locator('pre.body-hex');
    await expect(dump).toBeVisible();

    // Where each row's ASCII column ends (its closing "|"), against what the dump shows without scrolling sideways.
    const fit = () =>
      dump.evaluate((pre) => {
        const box = pre.getBoundingClientRect();
        const visibleRight = box.left + pre.clientLeft + pre.clientWidth;
        const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
        const ends: number[] = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const text = n.textContent ?? '';
          for (let i = 0; i < text.length; i++) {
            // the closing bar: a "|" followed by a newline or the end of the dump
            if (text[i] !== '|' || !/^(\n|$)/.test(text.slice(i + 1))) continue;
            const r = document.createRange();
            r.setStart(n, i);
            r.setEnd(n, i + 1);
            ends.push(r.getBoundingClientRect().right);
          }
        }
        return {
          rows: ends.length,
          overflow: Math.max(...ends) - visibleRight,
          scrolls: pre.scrollWidth > pre.clientWidth + 1
        };
      });
    for (const width of [1280, 1024]) {
      await page.setViewportSize({ width, height: 800 });
      await expect
        .poll(fit, { message: `the ASCII column fits at ${width}px` })
        .toEqual({ rows: expect.any(Number), overflow: expect.any(Number), scrolls: false });
      const f = await fit();
      expect(f.rows, `rows of the dump at ${width}px`).toBeGreaterThanOrEqual(19);
      expect(f.overflow, `the last ASCII character is inside the dump at ${width}px`).toBeLessThanOrEqual(0.5);
    }
  });

  test('replays a request with an edited header; the new request is marked as a replay', async ({ traffic, mesh }) => {
    await traffic.open();
    const reply = await mesh.send('productpage-v1', 'http://reviews:9080/reviews/3', { 'x-e2e-probe': 'original' });
    expect(reply.status).toBe(200);
    const row = traffic.rowsWhere({ path: '/reviews/3', reporter: 'source' }).first();
    await expect(row).toBeVisible();
    const originalId = (await row.getAttribute('data-id'))!;
    await traffic.openFlow(row);
    await expect(traffic.requestHeaders).toContainText('original');

    // Esc closes the dialog and gives the focus back to the button that opened it
    await traffic.editReplayButton.click();
    await expect(traffic.replayDialog).toBeVisible();
    await traffic.page.keyboard.press('Escape');
    await expect(traffic.replayDialog).toHaveCount(0);
    await expect(traffic.editReplayButton).toBeFocused();

    await traffic.editAndReplay({ headers: { 'x-e2e-probe': 'edited' } });

    // the detail now shows the new flow, which links back to the original
    await traffic.expectReplayOf(originalId);
    expect(await traffic.openFlowId()).not.toBe(originalId);
    await expect(traffic.requestHeaders).toContainText('x-e2e-probe');
    await expect(traffic.requestHeaders).toContainText('edited');
    await expect(
      traffic.page.locator(`[data-testid="flow-row"][data-replay-of="${originalId}"]`).first()
    ).toBeVisible();

    // back to the original through the link; a plain Replay resends it as it was
    await traffic.replayOf.click();
    await expect(traffic.detail).toHaveAttribute('data-id', originalId);
    await traffic.replayButton.click();
    await traffic.expectReplayOf(originalId);
    await expect(traffic.requestHeaders).toContainText('original');
    await expect(traffic.replayError).toHaveCount(0);
  });

  test('shows the hops of a request through productpage as a trace waterfall', async ({ traffic, mesh }) => {
    await traffic.open();
    expect((await mesh.send('productpage-v1', 'http://productpage:9080/productpage')).status).toBe(200);
    const row = traffic.rowsWhere({ path: '/productpage', reporter: 'source' }).first();
    await expect(row).toBeVisible();
    // the downstream calls (details, reviews) are in before the trace is opened
    await traffic.expectRows({ path: '/details/0', reporter: 'source' });
    await traffic.openFlow(row);
    await expect(traffic.timings).toBeVisible();

    await traffic.openTrace();
    // productpage's own hop plus its calls to details and reviews, each seen by the caller and the server
    await expect.poll(() => traffic.spans.count()).toBeGreaterThanOrEqual(4);
    await expect(traffic.spansWhere({ kind: 'client' }).first()).toBeVisible();
    await expect(traffic.spansWhere({ kind: 'server' }).first()).toBeVisible();
    expect(Math.max(...(await traffic.spanDepths()))).toBeGreaterThan(0);
    // the open request is the highlighted span
    const openId = await traffic.openFlowId();
    await expect(traffic.spansWhere({ flowId: openId })).toHaveAttribute('aria-current', 'true');

    // a span opens its own request (the trace tab stays)
    const other = traffic.detail.locator('[data-testid="trace-span"]:not([aria-current="true"])').last();
    const otherId = (await other.getAttribute('data-flow-id'))!;
    await other.click();
    await expect(traffic.detail).toHaveAttribute('data-id', otherId);
    await expect(traffic.spansWhere({ flowId: otherId })).toHaveAttribute('aria-current', 'true');
  });

  test('records a labelled session, shows only its requests, and deletes it after asking', async ({
    traffic,
    mesh
  }) => {
    await traffic.open();
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/1')).status).toBe(200);
    await traffic.expectRows({ path: '/ratings/1' });

    await traffic.startRecording('e2e checkout bug');
    await traffic.openSessions();
    const rec = traffic.sessionsWhere({ kind: 'user', current: true });
    await expect(rec).toHaveCount(1);
    await expect(rec).toHaveAttribute('data-selected', 'true');
    // the recording starts empty: the earlier request is not in it
    await traffic.expectNoRows({ path: '/ratings/1' });
    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/2')).status).toBe(200);
    await traffic.expectRows({ path: '/ratings/2' });

    await traffic.stopRecording();
    const ended = traffic.sessionsWhere({ kind: 'user', current: false });
    await expect(ended).toHaveCount(1);
    await expect(traffic.sessionsWhere({ kind: 'up', current: true })).toHaveCount(1);

    // every session again: both requests
    await traffic.selectAllSessions();
    await traffic.expectRows({ path: '/ratings/1' });
    await traffic.expectRows({ path: '/ratings/2' });

    // the current session cannot be deleted; the ended recording can, after an inline confirmation
    await expect(traffic.sessionsWhere({ current: true }).getByTestId('session-delete')).toHaveCount(0);
    await ended.getByTestId('session-delete').click();
    await ended.getByTestId('session-delete-cancel').click();
    await expect(ended).toHaveCount(1);
    await traffic.deleteSession(ended);
    await traffic.expectNoRows({ path: '/ratings/2' });
  });

  test('records with the keyboard only: the focus goes from Record to Stop and back, never to the page', async ({
    traffic,
    page
  }) => {
    await traffic.open();
    await traffic.recordStart.focus();
    await page.keyboard.press('Enter');
    await expect(traffic.recordLabel).toBeFocused();
    // Esc closes the label form: back on Record (the focus fell to the page)
    await page.keyboard.press('Escape');
    await expect(traffic.recordLabel).toHaveCount(0);
    await expect(traffic.recordStart).toBeFocused();

    await page.keyboard.press('Enter');
    await page.keyboard.type('keyboard run');
    await page.keyboard.press('Enter');
    await expect(traffic.recording).toContainText('keyboard run');
    await expect(traffic.recordStop).toBeFocused();

    await page.keyboard.press('Enter');
    await expect(traffic.recording).toHaveCount(0);
    await expect(traffic.recordStart).toBeFocused();
  });

  test('Export HAR and Clear are disabled, saying why, with nothing to act on; Clear leaves the focus on Pause', async ({
    traffic,
    mesh,
    page
  }) => {
    await traffic.open();
    // nothing captured: Export HAR downloaded an empty HAR while Clear was disabled
    await expect(traffic.empty).toBeVisible();
    await expect(traffic.exportButton).toBeDisabled();
    await expect(traffic.exportButton).toHaveAttribute('title', 'No requests to export yet');
    await expect(traffic.clearButton).toBeDisabled();
    await expect(traffic.clearButton).toHaveAttribute('title', 'No requests to clear');

    expect((await mesh.send('reviews-v2', 'http://ratings:9080/ratings/3')).status).toBe(200);
    await traffic.expectRows({ path: '/ratings/3', reporter: 'source' });
    await expect(traffic.exportButton).toBeEnabled();
    await expect(traffic.clearButton).toBeEnabled();

    // filters that match nothing: nothing to export, while Clear (of everything) still has work
    await traffic.filterByStatus('5xx');
    await expect(traffic.noMatch).toBeVisible();
    await expect(traffic.exportButton).toBeDisabled();
    await expect(traffic.exportButton).toHaveAttribute('title', 'No requests match the filters: nothing to export');
    await expect(traffic.clearButton).toBeEnabled();
    await traffic.filterByStatus('');
    await traffic.expectRows({ path: '/ratings/3', reporter: 'source' });

    // Clear from the keyboard disables itself: the focus moves to Pause beside it (it fell to the page)
    await traffic.clearButton.focus();
    await page.keyboard.press('Enter');
    await expect(traffic.rows).toHaveCount(0);
    await expect(traffic.clearButton).toBeDisabled();
    await expect(traffic.pauseButton).toBeFocused();
    await expect(traffic.exportButton).toBeDisabled();
  });

  test("the status bar's and the Sessions panel's counts follow retention: requests the store deleted are not counted", async ({
    mesh,
    app,
    traffic
  }) => {
    // the smallest retention the mesh file takes, from the next start
    const MAX_FLOWS = 100;
    const text = fs.readFileSync(mesh.meshFile, 'utf8');
    expect(text).toMatch(/^spec:\n/m);
    fs.writeFileSync(mesh.meshFile, text.replace(/^spec:\n/m, `spec:\n  capture: {maxFlows: ${MAX_FLOWS}}\n`));
    await mesh.restart();
    await app.open(mesh.uiUrl);
    const count = app.page.getByTestId('status-flow-count');
    await expect(count).toHaveAttribute('data-source', 'store');
    await traffic.open();
    await traffic.openSessions();
    const current = traffic.sessionsWhere({ current: true }).getByTestId('session-count');
    // (the fixture's readiness probes through the sidecars are in it already)
    await expect(current).toHaveAttribute('data-flows', /^\d+$/);

    // 60 requests, two flows each (the caller's sidecar and the server's): more than the store keeps
    for (let i = 0; i < 60; i++) {
      expect((await mesh.send('productpage-v1', `http://details:9080/details/${i}`)).status).toBe(200);
    }
    const stored = async (): Promise<number> =>
      (await mesh.json<{ flows: number }[]>('/api/v1/sessions')).reduce((n, s) => n + s.flows, 0);
    await expect.poll(stored, { message: 'retention to keep the newest flows' }).toBe(MAX_FLOWS);
    await expect(count).toHaveAttribute('data-count', String(MAX_FLOWS));
    await expect(count).toHaveText(`${MAX_FLOWS} requests stored`);
    // the session's count only went up (past 120) until the sessions were listed again, which the totals ask for at
    // most every 10 s (SESSIONS_REFRESH_MS: a listing makes the engine count every stored flow)
    await expect(current).toHaveAttribute('data-flows', String(MAX_FLOWS), { timeout: 25_000 });
  });

  test('history survives a restart of the engine', async ({ traffic, mesh, app }) => {
    await traffic.open();
    expect((await mesh.send('productpage-v1', 'http://details:9080/details/42')).status).toBe(200);
    await traffic.expectRows({ path: '/details/42', reporter: 'source' });

    await mesh.restart();
    await app.open(mesh.uiUrl);
    await traffic.open();
    await traffic.expectRows({ path: '/details/42', reporter: 'source' });
    await traffic.openSessions();
    // the run before the restart is an ended session; the new run is the current one
    await expect(traffic.sessionsWhere({ kind: 'up', current: false })).not.toHaveCount(0);
    await expect(traffic.sessionsWhere({ kind: 'up', current: true })).toHaveCount(1);
  });
});
