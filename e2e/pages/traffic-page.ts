/**
 * The Traffic view: the list of flows from the engine's store (one row per request per reporting sidecar; filters
 * are server-side queries, live flows are appended), its filters, capture sessions, HAR export/import, replay,
 * comparison, and the detail of one flow (decision trace, headers, bodies, timing phases, trace waterfall).
 *
 * data-testids of the capture features (see renderer/src/views/TrafficView.tsx and its components):
 *   toolbar       traffic-sessions-toggle (aria-expanded), traffic-scope, session-record-start, session-label-input,
 *                 session-record-confirm, session-record-cancel, traffic-recording (data-session),
 *                 session-record-stop, traffic-compare-marks (data-count), traffic-compare, traffic-compare-clear,
 *                 traffic-import-har, traffic-import-input (the file input), traffic-export-har, traffic-har-error,
 *                 traffic-session-error
 *   filters       traffic-filter-caller, traffic-chip-workload, traffic-chip-session, traffic-reset,
 *                 traffic-list-loading, traffic-count (data-shown, data-total, data-has-older)
 *   list          traffic-older, traffic-load-older, traffic-older-error, traffic-list-error;
 *                 flow-row also has data-session, data-replay-of, data-compare ("A"/"B")
 *   sessions      sessions-panel, sessions-refresh, sessions-error, sessions-empty, session-error, session-all,
 *                 session-item (data-id, data-kind, data-current, data-readonly, data-selected), session-select,
 *                 session-title, session-current, session-readonly, session-count (data-flows),
 *                 session-compare-pick, session-delete, session-delete-confirm, session-delete-cancel,
 *                 sessions-compare
 *   pending       flow-row data-pending="true" and data-status="pending" (a request in flight), flow-pending-status
 *                 (its status cell); flow-detail data-pending="true" with flow-pending ("Waiting for the response…")
 *   detail        flow-detail (data-id), flow-replay, flow-edit-replay, flow-replay-error, flow-replay-of
 *                 (data-replay-of), flow-compare-mark, flow-compare-with, flow-compare-marked, flow-tab-overview,
 *                 flow-tab-trace, flow-timings
 *   trace         trace-waterfall (data-spans), trace-span (data-flow-id, data-span-id, data-kind, data-depth,
 *                 data-status, aria-current), trace-empty, trace-error
 *   replay        replay-dialog, replay-method, replay-path, replay-as, replay-headers, replay-body, replay-send,
 *                 replay-cancel, replay-error
 *   compare       compare-dialog, compare-side-a, compare-side-b, compare-changes, compare-request-headers,
 *                 compare-response-headers, compare-request-body, compare-response-body (each data-changes),
 *                 compare-change (data-field), compare-swap, compare-close, compare-error;
 *                 session-compare-dialog, session-compare-summary, session-compare-added, session-compare-missing,
 *                 session-compare-changed, session-compare-row, session-compare-close, session-compare-error
 */
import fs from 'node:fs';
import { expect, type Locator, type Page, type Route } from '@playwright/test';
import { AppPage } from './app-page.js';

/** Attributes a flow row carries; a string matches exactly, `flagsInclude` matches one comma-separated flag. */
export interface RowMatch {
  status?: number;
  path?: string;
  reporter?: 'source' | 'destination';
  flagsInclude?: string;
  /** true: a request still in flight (a pending row); false: a finished flow. */
  pending?: boolean;
}

export interface RowData {
  id: string;
  status: string;
  flags: string;
  reporter: string;
  path: string;
}

export class TrafficPage {
  readonly list: Locator;
  readonly rows: Locator;
  readonly empty: Locator;
  readonly noMatch: Locator;
  readonly filterText: Locator;
  readonly filterService: Locator;
  readonly filterStatus: Locator;
  readonly filterFlag: Locator;
  readonly pauseButton: Locator;
  readonly clearButton: Locator;
  readonly count: Locator;
  readonly detail: Locator;
  readonly trace: Locator;
  readonly traceSteps: Locator;
  readonly requestHeaders: Locator;
  readonly responseHeaders: Locator;
  readonly requestBody: Locator;
  readonly responseBody: Locator;
  readonly filterCaller: Locator;
  readonly sessionsToggle: Locator;
  readonly sessionsPanel: Locator;
  readonly sessionItems: Locator;
  readonly recordStart: Locator;
  readonly recordLabel: Locator;
  readonly recordConfirm: Locator;
  readonly recordStop: Locator;
  readonly recording: Locator;
  readonly scope: Locator;
  readonly exportButton: Locator;
  readonly importButton: Locator;
  readonly importInput: Locator;
  readonly harError: Locator;
  readonly loadOlderButton: Locator;
  readonly replayButton: Locator;
  readonly editReplayButton: Locator;
  readonly replayOf: Locator;
  readonly replayError: Locator;
  readonly compareMark: Locator;
  readonly compareWith: Locator;
  readonly overviewTab: Locator;
  readonly traceTab: Locator;
  readonly timings: Locator;
  readonly waterfall: Locator;
  readonly spans: Locator;
  readonly replayDialog: Locator;
  readonly compareDialog: Locator;
  readonly sessionCompareDialog: Locator;
  private readonly app: AppPage;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.list = page.getByTestId('traffic-list');
    this.rows = page.getByTestId('flow-row');
    this.empty = page.getByTestId('traffic-empty');
    this.noMatch = page.getByTestId('traffic-no-match');
    this.filterText = page.getByTestId('traffic-filter-text');
    this.filterService = page.getByTestId('traffic-filter-service');
    this.filterStatus = page.getByTestId('traffic-filter-status');
    this.filterFlag = page.getByTestId('traffic-filter-flag');
    this.pauseButton = page.getByTestId('traffic-pause');
    this.clearButton = page.getByTestId('traffic-clear');
    this.count = page.getByTestId('traffic-count');
    this.detail = page.getByTestId('flow-detail');
    this.trace = this.detail.getByTestId('flow-trace');
    this.traceSteps = this.detail.getByTestId('trace-step');
    this.requestHeaders = this.detail.getByTestId('flow-request-headers');
    this.responseHeaders = this.detail.getByTestId('flow-response-headers');
    this.requestBody = this.detail.getByTestId('flow-request-body');
    this.responseBody = this.detail.getByTestId('flow-response-body');
    this.filterCaller = page.getByTestId('traffic-filter-caller');
    this.sessionsToggle = page.getByTestId('traffic-sessions-toggle');
    this.sessionsPanel = page.getByTestId('sessions-panel');
    this.sessionItems = this.sessionsPanel.getByTestId('session-item');
    this.recordStart = page.getByTestId('session-record-start');
    this.recordLabel = page.getByTestId('session-label-input');
    this.recordConfirm = page.getByTestId('session-record-confirm');
    this.recordStop = page.getByTestId('session-record-stop');
    this.recording = page.getByTestId('traffic-recording');
    this.scope = page.getByTestId('traffic-scope');
    this.exportButton = page.getByTestId('traffic-export-har');
    this.importButton = page.getByTestId('traffic-import-har');
    this.importInput = page.getByTestId('traffic-import-input');
    this.harError = page.getByTestId('traffic-har-error');
    this.loadOlderButton = page.getByTestId('traffic-load-older');
    this.replayButton = this.detail.getByTestId('flow-replay');
    this.editReplayButton = this.detail.getByTestId('flow-edit-replay');
    this.replayOf = this.detail.getByTestId('flow-replay-of');
    this.replayError = this.detail.getByTestId('flow-replay-error');
    this.compareMark = this.detail.getByTestId('flow-compare-mark');
    this.compareWith = this.detail.getByTestId('flow-compare-with');
    this.overviewTab = this.detail.getByTestId('flow-tab-overview');
    this.traceTab = this.detail.getByTestId('flow-tab-trace');
    this.timings = this.detail.getByTestId('flow-timings');
    this.waterfall = this.detail.getByTestId('trace-waterfall');
    this.spans = this.detail.getByTestId('trace-span');
    this.replayDialog = page.getByTestId('replay-dialog');
    this.compareDialog = page.getByTestId('compare-dialog');
    this.sessionCompareDialog = page.getByTestId('session-compare-dialog');
  }

  async open(): Promise<void> {
    await this.app.goto('traffic');
    // the list, or the empty state before the first request, or "no match" under filters
    await expect(this.list.or(this.empty).or(this.noMatch).first()).toBeVisible();
  }

  /** Rows with all the given attributes. */
  rowsWhere(m: RowMatch): Locator {
    let sel = '[data-testid="flow-row"]';
    if (m.status !== undefined) sel += `[data-status="${m.status}"]`;
    if (m.path !== undefined) sel += `[data-path="${m.path}"]`;
    if (m.reporter !== undefined) sel += `[data-reporter="${m.reporter}"]`;
    if (m.pending !== undefined) sel += m.pending ? '[data-pending="true"]' : ':not([data-pending])';
    if (m.flagsInclude === undefined) return this.page.locator(sel);
    // data-flags is comma-joined ("-" when none): match the flag as a whole item
    const f = m.flagsInclude;
    return this.page.locator(
      [`[data-flags="${f}"]`, `[data-flags^="${f},"]`, `[data-flags$=",${f}"]`, `[data-flags*=",${f},"]`]
        .map((a) => sel + a)
        .join(', ')
    );
  }

  /** At least `min` rows with the given attributes appear (live). */
  async expectRows(m: RowMatch, min = 1): Promise<void> {
    await expect
      .poll(() => this.rowsWhere(m).count(), { message: `at least ${min} flow row(s) ${JSON.stringify(m)}` })
      .toBeGreaterThanOrEqual(min);
  }

  async expectNoRows(m: RowMatch): Promise<void> {
    await expect(this.rowsWhere(m)).toHaveCount(0);
  }

  /** The attributes of every row currently listed, top to bottom. */
  async rowData(): Promise<RowData[]> {
    return this.rows.evaluateAll((els) =>
      els.map((e) => {
        const d = (e as HTMLElement).dataset;
        return {
          id: d.id ?? '',
          status: d.status ?? '',
          flags: d.flags ?? '',
          reporter: d.reporter ?? '',
          path: d.path ?? ''
        };
      })
    );
  }

  /** Wait until the list is non-empty and every row satisfies `pred`. */
  async expectEveryRow(what: string, pred: (r: RowData) => boolean): Promise<void> {
    await expect
      .poll(
        async () => {
          const rows = await this.rowData();
          return rows.length > 0 && rows.every(pred);
        },
        { message: `every flow row ${what} (and at least one row)` }
      )
      .toBe(true);
  }

  async filterByText(text: string): Promise<void> {
    await this.filterText.fill(text);
  }

  /** Filter by status class, e.g. "2xx", "4xx", "5xx", or "" / "all" for none. */
  async filterByStatus(statusClass: string): Promise<void> {
    await selectOrFill(this.filterStatus, statusClass);
  }

  async filterByService(service: string): Promise<void> {
    await selectOrFill(this.filterService, service);
  }

  async filterByFlag(flag: string): Promise<void> {
    await selectOrFill(this.filterFlag, flag);
  }

  async clearFilters(): Promise<void> {
    await this.filterText.fill('');
    await selectOrFill(this.filterStatus, '');
  }

  async clear(): Promise<void> {
    await this.clearButton.click();
    await expect(this.rows).toHaveCount(0);
  }

  /** Click a row and wait for its detail. */
  async openFlow(row: Locator): Promise<void> {
    await row.click();
    await expect(this.detail).toBeVisible();
  }

  traceStep(step: string): Locator {
    return this.detail.locator(`[data-testid="trace-step"][data-step="${step}"]`);
  }

  async expectTraceSteps(...steps: string[]): Promise<void> {
    await expect(this.trace).toBeVisible();
    for (const s of steps) await expect(this.traceStep(s).first()).toBeVisible();
  }

  /** The row that is selected (keyboard / click selection). */
  selectedRow(): Locator {
    return this.page.locator('[data-testid="flow-row"][aria-selected="true"]');
  }

  async selectRow(row: Locator): Promise<void> {
    await row.click();
    await expect(row).toHaveAttribute('aria-selected', 'true');
  }

  /** Mark a row for comparison (Ctrl+click), as A or B. */
  async markForCompare(row: Locator, as: 'A' | 'B'): Promise<void> {
    await row.click({ modifiers: ['ControlOrMeta'] });
    await expect(row).toHaveAttribute('data-compare', as);
  }

  /** The A/B badge a row marked for comparison shows. */
  compareBadge(row: Locator): Locator {
    return row.locator('.cmp-mark');
  }

  async pressKey(key: string): Promise<void> {
    await this.page.keyboard.press(key);
  }

  /**
   * The cells of `row` (by class, e.g. "c-status") that are not wholly inside the list's visible box: clipped by the
   * list's edge or by the detail pane beside it. Hidden zero-width columns (reporter, flags beside the detail) count
   * as inside.
   */
  async cellsOutsideList(row: Locator): Promise<string[]> {
    const box = await this.list.evaluate((el) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, right: r.left + el.clientWidth };
    });
    return row.evaluate((el, b) => {
      const out: string[] = [];
      for (const cell of Array.from(el.children)) {
        const r = cell.getBoundingClientRect();
        if (r.width === 0) continue;
        if (r.left < b.left - 0.5 || r.right > b.right + 0.5) out.push(cell.className.split(' ')[0] ?? '');
      }
      return out;
    }, box);
  }

  /** Of the row's cells named by `classes`, those whose text is cut (wider than the cell). */
  async clippedCells(row: Locator, classes: string[]): Promise<string[]> {
    return row.evaluate(
      (el, names) =>
        names.filter((n) => {
          const cell = el.querySelector<HTMLElement>(`:scope > .${n}`);
          return !cell || cell.scrollWidth > cell.clientWidth;
        }),
      classes
    );
  }

  /** The classes of the row's cells that take up room (hidden columns are zero-wide or not displayed). */
  async visibleColumns(row: Locator): Promise<string[]> {
    return row.evaluate((el) =>
      Array.from(el.children)
        .filter((c) => c.getBoundingClientRect().width > 0)
        .map((c) => c.className.split(' ')[0] ?? '')
    );
  }

  /**
   * The column headers on screen: the label each shows, its tooltip, and whether the label is cut (wider than its
   * column). Hidden columns are left out.
   */
  async columnHeaders(): Promise<{ label: string; title: string; cut: boolean }[]> {
    return this.page.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLElement>('.flow-head > span'))
        .filter((el) => el.getBoundingClientRect().width > 0 && getComputedStyle(el).visibility !== 'hidden')
        .map((el) => ({
          label: el.innerText.trim(),
          title: el.title,
          cut: el.scrollWidth > el.clientWidth
        }))
    );
  }

  /** The list's visible width in pixels (its scroll box, without a scrollbar). */
  async listWidth(): Promise<number> {
    return this.list.evaluate((el) => el.clientWidth);
  }

  /** The detail pane's request line (method and path). */
  get requestLine(): Locator {
    return this.detail.locator('.req-line');
  }

  /** How many pixels of the detail's request line are cut off sideways (0: it all fits the pane's width). */
  async requestLineOverflow(): Promise<number> {
    return this.requestLine.evaluate((el) => Math.max(0, el.scrollWidth - el.clientWidth));
  }

  /** The spinner of the open pending detail's "Waiting for the response" note, and the pane's content box. */
  async pendingNoteSpinner(): Promise<{ width: number; height: number; left: number; paneLeft: number }> {
    const spinner = this.detail.getByTestId('flow-pending').locator('.spinner');
    const box = await spinner.boundingBox();
    const pane = await this.detail.boundingBox();
    if (!box || !pane) throw new Error('the pending note spinner or the detail pane is not on screen');
    return { width: box.width, height: box.height, left: box.x, paneLeft: pane.x };
  }

  // ---- layout of the toolbars ----

  /** "Reset" in the filter bar (shown while a filter is set) and "Updating…" (while a list query runs). */
  get resetButton(): Locator {
    return this.page.getByTestId('traffic-reset');
  }

  get listLoading(): Locator {
    return this.page.getByTestId('traffic-list-loading');
  }

  /** The filter bar's height and where the list's header starts (what moves when the bar wraps). */
  async filterBarLayout(): Promise<{ barHeight: number; listTop: number }> {
    return this.page.evaluate(() => {
      const bar = document.querySelector('[role="toolbar"][aria-label="Traffic filters"]');
      const list = document.querySelector('.flow-list-wrap');
      if (!bar || !list) throw new Error('no filter bar or no list on screen');
      return { barHeight: bar.getBoundingClientRect().height, listTop: list.getBoundingClientRect().top };
    });
  }

  /**
   * Hold the Traffic list's queries that carry `param` (e.g. "status") at the network, so the UI stays in its
   * "Updating…" state; the returned function lets them (and any later one) through.
   */
  async holdListQueries(param: string): Promise<() => Promise<void>> {
    const held: Route[] = [];
    let open = false;
    const match = (url: URL): boolean => url.pathname === '/api/v1/flows' && url.searchParams.has(param);
    await this.page.route(match, async (route) => {
      if (open) await route.continue();
      else held.push(route);
    });
    return async () => {
      open = true;
      for (const r of held.splice(0)) await r.continue();
      await this.page.unroute(match);
    };
  }

  /** The element that has the keyboard focus: its data-testid, or its tag name without one. */
  async focusedTestId(): Promise<string> {
    return this.page.evaluate(() => {
      const el = document.activeElement;
      return el?.getAttribute('data-testid') ?? el?.tagName.toLowerCase() ?? 'none';
    });
  }

  // ---- sessions ----

  async openSessions(): Promise<void> {
    if ((await this.sessionsToggle.getAttribute('aria-expanded')) !== 'true') await this.sessionsToggle.click();
    await expect(this.sessionsPanel).toBeVisible();
  }

  /** Take the keyboard focus off whatever has it (as a click on an empty spot of the page does). */
  async dropFocus(): Promise<void> {
    await this.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  }

  /** Close the sessions panel with its own close button. */
  async closeSessions(): Promise<void> {
    await this.sessionsPanel.getByTestId('sessions-close').click();
    await expect(this.sessionsPanel).toHaveCount(0);
  }

  /**
   * Click beside the sessions drawer (a narrow window: the panel lies over the list, and the rest of the list is
   * dimmed), near the list's right edge: it closes the drawer.
   */
  async clickBesideSessionsDrawer(): Promise<void> {
    const scrim = this.page.getByTestId('sessions-scrim');
    const box = await scrim.boundingBox();
    if (!box) throw new Error('no sessions drawer scrim on screen');
    await scrim.click({ position: { x: box.width - 24, y: box.height / 2 } });
    await expect(this.sessionsPanel).toHaveCount(0);
  }

  /** Session items with the given attributes (kind 'up' | 'user' | 'import'). */
  sessionsWhere(m: { kind?: string; current?: boolean; readOnly?: boolean; selected?: boolean; id?: number }): Locator {
    let sel = '[data-testid="session-item"]';
    if (m.id !== undefined) sel += `[data-id="${m.id}"]`;
    if (m.kind !== undefined) sel += `[data-kind="${m.kind}"]`;
    if (m.current !== undefined) sel += `[data-current="${m.current}"]`;
    if (m.readOnly !== undefined) sel += `[data-readonly="${m.readOnly}"]`;
    if (m.selected !== undefined) sel += `[data-selected="${m.selected}"]`;
    return this.sessionsPanel.locator(sel);
  }

  /** Show only this session's requests. */
  async selectSession(item: Locator): Promise<void> {
    await item.getByTestId('session-select').click();
    await expect(item).toHaveAttribute('data-selected', 'true');
  }

  async selectAllSessions(): Promise<void> {
    await this.sessionsPanel.getByTestId('session-all').click();
    await expect(this.scope).toHaveText('all');
  }

  /** Start a labelled recording (the inline label form) and wait for the recording indicator. */
  async startRecording(label: string): Promise<void> {
    await this.recordStart.click();
    await this.recordLabel.fill(label);
    await this.recordConfirm.click();
    await expect(this.recording).toBeVisible();
    await expect(this.recording).toContainText(label);
  }

  async stopRecording(): Promise<void> {
    await this.recordStop.click();
    await expect(this.recording).toHaveCount(0);
  }

  /** Delete a session, confirming inline; waits until it is gone. */
  async deleteSession(item: Locator): Promise<void> {
    const id = await item.getAttribute('data-id');
    await item.getByTestId('session-delete').click();
    await item.getByTestId('session-delete-confirm').click();
    await expect(this.sessionsPanel.locator(`[data-testid="session-item"][data-id="${id}"]`)).toHaveCount(0);
  }

  // ---- HAR ----

  /** Export HAR: waits for the download, returns its suggested name, saved path and text. */
  async exportHar(): Promise<{ fileName: string; path: string; text: string }> {
    const [download] = await Promise.all([this.page.waitForEvent('download'), this.exportButton.click()]);
    const path = await download.path();
    return { fileName: download.suggestedFilename(), path, text: fs.readFileSync(path, 'utf8') };
  }

  /** Import a HAR file through the file input (the Import HAR button opens the same input). */
  async importHar(file: string | { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
    await this.importInput.setInputFiles(file);
  }

  // ---- detail: replay, compare, trace ----

  /** Edit and replay the open flow: set headers (`name: value`; null removes one), then Send. */
  async editAndReplay(edit: {
    headers?: Record<string, string | null>;
    path?: string;
    method?: string;
  }): Promise<void> {
    await this.editReplayButton.click();
    await expect(this.replayDialog).toBeVisible();
    if (edit.method !== undefined) await this.replayDialog.getByTestId('replay-method').fill(edit.method);
    if (edit.path !== undefined) await this.replayDialog.getByTestId('replay-path').fill(edit.path);
    if (edit.headers) {
      const area = this.replayDialog.getByTestId('replay-headers');
      const lines = (await area.inputValue()).split('\n').filter((l) => l.trim() !== '');
      const names = Object.keys(edit.headers).map((n) => n.toLowerCase());
      const kept = lines.filter((l) => !names.includes(l.slice(0, l.indexOf(':')).trim().toLowerCase()));
      for (const [n, v] of Object.entries(edit.headers)) if (v !== null) kept.push(`${n}: ${v}`);
      await area.fill(kept.join('\n'));
    }
    await this.replayDialog.getByTestId('replay-send').click();
    await expect(this.replayDialog).toHaveCount(0);
  }

  /** The open flow is a replay of `originalId`. */
  async expectReplayOf(originalId: string): Promise<void> {
    await expect(this.replayOf).toBeVisible();
    await expect(this.replayOf).toHaveAttribute('data-replay-of', originalId);
  }

  /** The id of the flow open in the detail pane. */
  async openFlowId(): Promise<string> {
    return (await this.detail.getAttribute('data-id')) ?? '';
  }

  /** Open the Trace tab of the open flow and wait for the waterfall. */
  async openTrace(): Promise<void> {
    await this.traceTab.click();
    await expect(this.waterfall).toBeVisible();
  }

  spansWhere(m: { kind?: 'client' | 'server'; flowId?: string }): Locator {
    let sel = '[data-testid="trace-span"]';
    if (m.kind) sel += `[data-kind="${m.kind}"]`;
    if (m.flowId) sel += `[data-flow-id="${m.flowId}"]`;
    return this.detail.locator(sel);
  }

  /** Depths of the spans, top to bottom. */
  async spanDepths(): Promise<number[]> {
    return this.spans.evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.depth)));
  }
}

/** A filter control may be a <select> or a text input. */
async function selectOrFill(control: Locator, value: string): Promise<void> {
  const tag = await control.evaluate((e) => e.tagName.toLowerCase());
  if (tag === 'select') {
    if (value === '' || value === 'all') {
      await control.selectOption({ index: 0 });
      return;
    }
    const options = await control
      .locator('option')
      .evaluateAll((os) =>
        os.map((o) => ({ value: (o as HTMLOptionElement).value, label: (o.textContent ?? '').trim() }))
      );
    const want = value.toLowerCase();
    const hit =
      options.find((o) => o.value.toLowerCase() === want) ??
      options.find((o) => o.label.toLowerCase() === want) ??
      options.find((o) => o.value.toLowerCase().startsWith(want) || o.label.toLowerCase().startsWith(want));
    if (!hit) throw new Error(`no option "${value}" in ${await control.evaluate((e) => e.outerHTML)}`);
    await control.selectOption(hit.value);
  } else {
    await control.fill(value === 'all' ? '' : value);
  }
}
