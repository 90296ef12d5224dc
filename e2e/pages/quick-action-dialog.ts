/**
 * The quick-action dialog: a form for one quick action (fault, clear-fault, shift, timeout), a preview that shows
 * the YAML diff it would write, and save/cancel.
 */
import { expect, type Locator, type Page } from '@playwright/test';

export interface FaultForm {
  abortStatus?: number;
  delayMs?: number;
  percentage?: number;
  header?: { name: string; value: string };
}

export class QuickActionDialog {
  readonly root: Locator;
  readonly kind: Locator;
  readonly service: Locator;
  readonly delayMs: Locator;
  readonly abortStatus: Locator;
  readonly percentage: Locator;
  readonly headerName: Locator;
  readonly headerValue: Locator;
  /** "Only calls from" (a fault on one edge). */
  readonly from: Locator;
  readonly timeoutMs: Locator;
  readonly retries: Locator;
  readonly previewButton: Locator;
  readonly diff: Locator;
  readonly saveButton: Locator;
  readonly cancelButton: Locator;
  readonly error: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('quick-action-dialog');
    const t = (id: string): Locator => this.root.getByTestId(id);
    this.kind = t('qa-kind');
    this.from = t('qa-from');
    this.service = t('qa-service');
    this.delayMs = t('qa-delay-ms');
    this.abortStatus = t('qa-abort-status');
    this.percentage = t('qa-percentage');
    this.headerName = t('qa-header-name');
    this.headerValue = t('qa-header-value');
    this.timeoutMs = t('qa-timeout-ms');
    this.retries = t('qa-retries');
    this.previewButton = t('qa-preview');
    this.diff = t('qa-diff');
    this.saveButton = t('qa-save');
    this.cancelButton = t('qa-cancel');
    this.error = t('qa-error');
  }

  weight(subset: string): Locator {
    return this.root.getByTestId(`qa-weight-${subset}`);
  }

  async expectOpen(): Promise<void> {
    await expect(this.root).toBeVisible();
  }

  async expectClosed(): Promise<void> {
    await expect(this.root).toBeHidden();
  }

  /** The dialog targets `service` (short name, e.g. "ratings", or its FQDN). */
  async expectService(service: string): Promise<void> {
    await expect(this.service).toHaveValue(new RegExp(`^${service}(\\.|$)`));
  }

  async fillFault(form: FaultForm): Promise<void> {
    if (form.delayMs !== undefined) await this.delayMs.fill(String(form.delayMs));
    if (form.abortStatus !== undefined) await this.abortStatus.fill(String(form.abortStatus));
    if (form.percentage !== undefined) await this.percentage.fill(String(form.percentage));
    if (form.header) {
      await this.headerName.fill(form.header.name);
      await this.headerValue.fill(form.header.value);
    }
  }

  /** Ask for the preview and wait for the diff; returns the diff's locator. */
  async preview(): Promise<Locator> {
    await this.previewButton.click();
    await expect(this.diff).toBeVisible();
    return this.diff;
  }

  async expectDiffContains(...texts: (string | RegExp)[]): Promise<void> {
    for (const t of texts) await expect(this.diff).toContainText(t);
  }

  /** Save and wait for the dialog to close (it stays open with qa-error on failure). */
  async save(): Promise<void> {
    await this.saveButton.click();
    await expect(this.error).toHaveCount(0);
    await this.expectClosed();
  }

  async cancel(): Promise<void> {
    await this.cancelButton.click();
    await this.expectClosed();
  }
}
