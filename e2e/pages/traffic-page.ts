/**
 * The Traffic view: the live list of flows (one row per request per reporting sidecar), its filters, and the
 * detail of one flow (decision trace, headers, bodies).
 */
import { expect, type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page.js';

/** Attributes a flow row carries; a string matches exactly, `flagsInclude` matches one comma-separated flag. */
export interface RowMatch {
  status?: number;
  path?: string;
  reporter?: 'source' | 'destination';
  flagsInclude?: string;
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

  async pressKey(key: string): Promise<void> {
    await this.page.keyboard.press(key);
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
