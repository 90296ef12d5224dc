/**
 * The Security view: the mesh CA card, one row per workload (identity, certificate, inbound mTLS mode per port,
 * policies, "Require mTLS (STRICT)"), the per-namespace STRICT action, and the who-may-call-whom matrix.
 */
import { expect, type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page.js';
import { QuickActionDialog } from './quick-action-dialog.js';

export type MtlsMode = 'PERMISSIVE' | 'STRICT' | 'DISABLE';

/** A SHA-256 fingerprint as the CA card shows it: 32 hex byte pairs separated by colons. */
const SHA256_FINGERPRINT = /^\s*(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\s*$/i;

export class SecurityPage {
  readonly view: Locator;
  readonly ca: Locator;
  readonly caFingerprint: Locator;
  readonly workloads: Locator;
  readonly matrix: Locator;
  readonly cells: Locator;
  private readonly app: AppPage;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.view = page.getByTestId('security-view');
    this.ca = this.view.getByTestId('security-ca');
    this.caFingerprint = this.ca.getByTestId('ca-fingerprint');
    this.workloads = this.view.getByTestId('security-workload');
    this.matrix = this.view.getByTestId('security-matrix');
    this.cells = this.matrix.getByTestId('matrix-cell');
  }

  /** Open the view and wait until the mesh's certificates and policies are shown. */
  async open(): Promise<void> {
    await this.app.goto('security');
    await expect(this.view).toBeVisible();
    await expect(this.ca).toBeVisible();
  }

  async expectCaFingerprint(): Promise<void> {
    await expect(this.caFingerprint).toHaveText(SHA256_FINGERPRINT);
  }

  workload(name: string): Locator {
    return this.view.locator(`[data-testid="security-workload"][data-workload="${name}"]`);
  }

  /** The mode badges of a workload's row (one per app port). */
  modes(workload: string): Locator {
    return this.workload(workload).getByTestId('security-mode');
  }

  /** Exactly these workloads are listed. */
  async expectWorkloads(names: readonly string[]): Promise<void> {
    await expect(this.workloads).toHaveCount(names.length);
    for (const n of names) await expect(this.workload(n)).toBeVisible();
  }

  /** Every port of the workload shows `mode` (and it has at least one). Waits up to `timeout` ms. */
  async expectMode(workload: string, mode: MtlsMode, opts: { timeout?: number } = {}): Promise<void> {
    const modes = this.modes(workload);
    await expect(modes.first(), `${workload} shows an mTLS mode`).toBeVisible(opts);
    await expect(
      modes.and(this.page.locator(`:not([data-mode="${mode}"])`)),
      `every port of ${workload} is ${mode}`
    ).toHaveCount(0, opts);
    await expect(modes.first()).toHaveAttribute('data-mode', mode, opts);
  }

  strictButton(workload: string): Locator {
    return this.view.locator(`[data-testid="security-strict"][data-workload="${workload}"]`);
  }

  strictNamespaceButton(namespace: string): Locator {
    return this.view.locator(`[data-testid="security-strict-namespace"][data-namespace="${namespace}"]`);
  }

  /** "Require mTLS (STRICT)" for one workload: opens the quick-action dialog, which previews the change itself. */
  async requireStrict(workload: string): Promise<QuickActionDialog> {
    await expect(this.strictButton(workload)).toBeEnabled();
    await this.strictButton(workload).click();
    const dialog = new QuickActionDialog(this.page);
    await dialog.expectOpen();
    await expect(dialog.diff).toBeVisible();
    return dialog;
  }

  /** What the matrix says about the selected cell (or the hint to select one), below it. */
  get cellDetail(): Locator {
    return this.view.getByTestId('matrix-detail');
  }

  /** The cells shown as selected (aria-pressed). */
  get selectedCells(): Locator {
    return this.matrix.locator('[data-testid="matrix-cell"][aria-pressed="true"]');
  }

  cell(from: string, to: string): Locator {
    return this.matrix.locator(`[data-testid="matrix-cell"][data-from="${from}"][data-to="${to}"]`);
  }

  /** The matrix's verdict for `from` → `to` (a plain GET /). */
  async expectCell(from: string, to: string, allowed: boolean): Promise<void> {
    await expect(this.cell(from, to)).toBeVisible();
    await expect(this.cell(from, to)).toHaveAttribute('data-allowed', allowed ? 'true' : 'false');
  }
}
