/**
 * The Services view: one row per workload (process state, outbound port, logs, rates) and one card per service
 * (fault toggle / clear, which open the quick-action dialog).
 */
import { expect, type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page.js';
import { QuickActionDialog } from './quick-action-dialog.js';

export class ServicesPage {
  readonly rows: Locator;
  readonly cards: Locator;
  private readonly app: AppPage;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.rows = page.getByTestId('workload-row');
    this.cards = page.getByTestId('service-card');
  }

  async open(): Promise<void> {
    await this.app.goto('services');
    await expect(this.rows.first()).toBeVisible();
  }

  workload(name: string): Locator {
    return this.page.locator(`[data-testid="workload-row"][data-workload="${name}"]`);
  }

  processState(workload: string): Locator {
    return this.workload(workload).getByTestId('process-state');
  }

  /** The workload is listed, shows its outbound sidecar port, and its process is in `state`. */
  async expectWorkload(name: string, opts: { outboundPort?: number; state?: string | RegExp } = {}): Promise<void> {
    const row = this.workload(name);
    await expect(row).toBeVisible();
    if (opts.outboundPort !== undefined)
      await expect(row).toContainText(new RegExp(`(^|\\D)${opts.outboundPort}(\\D|$)`));
    if (opts.state !== undefined) {
      const re = typeof opts.state === 'string' ? new RegExp(`\\b${opts.state}\\b`, 'i') : opts.state;
      await expect(this.processState(name)).toHaveText(re);
    }
  }

  async expectWorkloadCount(n: number): Promise<void> {
    await expect(this.rows).toHaveCount(n);
  }

  restartButton(workload: string): Locator {
    return this.workload(workload).getByTestId('process-restart');
  }

  stopButton(workload: string): Locator {
    return this.workload(workload).getByTestId('process-stop');
  }

  async restart(workload: string): Promise<void> {
    await this.workload(workload).getByTestId('process-restart').click();
  }

  async stop(workload: string): Promise<void> {
    await this.workload(workload).getByTestId('process-stop').click();
  }

  async toggleLogs(workload: string): Promise<Locator> {
    await this.workload(workload).getByTestId('workload-logs-toggle').click();
    return this.page.getByTestId('workload-logs');
  }

  /** The lines of the workload's open Logs panel that contain `text`. */
  logLines(workload: string, text: string | RegExp): Locator {
    return this.workload(workload).getByTestId('workload-logs').locator('.log-line', { hasText: text });
  }

  /** Reload the page (the UI starts afresh, its store empty) and come back to this view. */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.app.waitReady();
    await this.open();
  }

  rps(workload: string): Locator {
    return this.workload(workload).getByTestId('workload-rps');
  }

  errors(workload: string): Locator {
    return this.workload(workload).getByTestId('workload-errors');
  }

  card(service: string): Locator {
    return this.page.locator(`[data-testid="service-card"][data-service="${service}"]`);
  }

  faultToggle(service: string): Locator {
    return this.card(service).getByTestId('fault-toggle');
  }

  async expectFault(service: string, state: 'on' | 'off'): Promise<void> {
    await expect(this.faultToggle(service)).toHaveAttribute('data-state', state);
  }

  /** Turn a fault on from the service's card: opens the quick-action dialog for it. */
  async openFaultDialog(service: string): Promise<QuickActionDialog> {
    await this.expectFault(service, 'off');
    await this.faultToggle(service).click();
    const dialog = new QuickActionDialog(this.page);
    await dialog.expectOpen();
    return dialog;
  }

  /** Remove the service's fault from its card: opens the quick-action dialog (clear-fault) to review and save. */
  async openClearFaultDialog(service: string): Promise<QuickActionDialog> {
    await this.card(service).getByTestId('fault-clear').click();
    const dialog = new QuickActionDialog(this.page);
    await dialog.expectOpen();
    return dialog;
  }
}
