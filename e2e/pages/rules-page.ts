/**
 * The Rules view: the project's Istio files, a CodeMirror editor with live validation (issue list + lint
 * diagnostics), save with its reload result, and the quick actions.
 */
import { expect, type Locator, type Page } from '@playwright/test';
import { AppPage } from './app-page.js';
import { QuickActionDialog } from './quick-action-dialog.js';

export class RulesPage {
  readonly files: Locator;
  readonly resources: Locator;
  readonly editor: Locator;
  readonly content: Locator;
  readonly issues: Locator;
  readonly saveButton: Locator;
  readonly dirty: Locator;
  readonly saveResult: Locator;
  /** The modal Save opens when validation shows errors, and its two answers. */
  readonly saveConfirm: Locator;
  readonly saveAnywayButton: Locator;
  readonly saveCancelButton: Locator;
  private readonly app: AppPage;

  constructor(readonly page: Page) {
    this.app = new AppPage(page);
    this.files = page.getByTestId('rules-file');
    this.resources = page.getByTestId('rules-resource');
    this.editor = page.getByTestId('rules-editor');
    this.content = this.editor.locator('.cm-content');
    this.issues = page.getByTestId('rules-issue');
    this.saveButton = page.getByTestId('rules-save');
    this.dirty = page.getByTestId('rules-dirty');
    this.saveResult = page.getByTestId('rules-save-result');
    this.saveConfirm = page.getByTestId('rules-save-confirm');
    this.saveAnywayButton = this.saveConfirm.getByTestId('rules-save-anyway');
    this.saveCancelButton = this.saveConfirm.getByTestId('rules-save-cancel');
  }

  async open(): Promise<void> {
    await this.app.goto('rules');
    await expect(this.files.first()).toBeVisible();
  }

  file(relative: string): Locator {
    return this.page.locator(`[data-testid="rules-file"][data-path="${relative}"]`);
  }

  /** Open an Istio file (path relative to the mesh file's folder) and wait for its text in the editor. */
  async openFile(relative: string, expectText?: string | RegExp): Promise<void> {
    await this.file(relative).click();
    await expect(
      this.content,
      `the editor shows ${relative} (see the screenshot if the view could not open it)`
    ).toBeVisible();
    if (expectText !== undefined) await expect(this.content).toContainText(expectText);
  }

  /** The editor's line `n` (1-based). */
  line(n: number): Locator {
    return this.content.locator('.cm-line').nth(n - 1);
  }

  /**
   * Replace the text of line `n` (after its indentation) by typing: put the caret on the line, select from its
   * end back to the end of its indentation, and insert `text`.
   */
  async replaceLine(n: number, text: string): Promise<void> {
    const line = this.line(n);
    await line.click();
    await this.page.keyboard.press('End');
    await this.page.keyboard.press('Shift+Home');
    await this.page.keyboard.insertText(text);
    await expect(line).toHaveText(new RegExp(`^\\s*${escapeRe(text)}$`));
  }

  issueOnLine(n: number): Locator {
    return this.page.locator(`[data-testid="rules-issue"][data-line="${n}"]`);
  }

  /** An issue on line `n` is listed (with that severity) and CodeMirror shows a diagnostic on that line. */
  async expectIssueOnLine(n: number, severity: 'error' | 'warning' = 'error'): Promise<void> {
    await expect(this.issueOnLine(n).first()).toBeVisible();
    await expect(this.issueOnLine(n).first()).toHaveAttribute('data-severity', severity);
    await expect(this.diagnosticOnLine(n, severity).first()).toBeVisible();
  }

  /** A CodeMirror lint diagnostic (range or point mark) inside line `n`. */
  diagnosticOnLine(n: number, severity: 'error' | 'warning' = 'error'): Locator {
    return this.line(n).locator(`.cm-lintRange-${severity}, .cm-lintPoint-${severity}`);
  }

  /** The file name in the editor's header (its tooltip is the file's whole path). */
  get editorPath(): Locator {
    return this.page.locator('.editor-toolbar .editor-path');
  }

  /** The Problems bar's head, and the validation state it shows ("checking…", "✓ none in this file", the counts). */
  get problemsHead(): Locator {
    return this.page.locator('.issues-head');
  }

  get validationState(): Locator {
    return this.page.getByTestId('rules-validation');
  }

  /** The file names (editor header, file list) whose text is cut short (an ellipsis), as they read in full. */
  async cutFileNames(): Promise<string[]> {
    return this.page.evaluate(() =>
      Array.from(
        document.querySelectorAll<HTMLElement>('.editor-toolbar .editor-path, [data-testid="rules-file"] .file-name')
      )
        .filter((el) => el.scrollWidth > el.clientWidth)
        .map((el) => el.textContent ?? '')
    );
  }

  /** The editor's outline (CodeMirror's box), and the app's accent colour its focus ring should have. */
  async editorOutline(): Promise<{ style: string; width: string; color: string; accent: string }> {
    return this.editor.locator('.cm-editor').evaluate((el) => {
      const probe = document.createElement('span');
      probe.style.color = 'var(--accent)';
      document.body.append(probe);
      const accent = getComputedStyle(probe).color;
      probe.remove();
      const cs = getComputedStyle(el);
      return { style: cs.outlineStyle, width: cs.outlineWidth, color: cs.outlineColor, accent };
    });
  }

  async expectDirty(dirty: boolean): Promise<void> {
    if (dirty) await expect(this.dirty).toBeVisible();
    else await expect(this.dirty).toBeHidden();
  }

  async save(): Promise<void> {
    await this.saveButton.click();
    await expect(this.saveResult).toBeVisible();
  }

  /** Save while validation shows errors: the confirmation opens (nothing is written yet). */
  async saveExpectingConfirm(): Promise<void> {
    await this.saveButton.click();
    await expect(this.saveConfirm).toBeVisible();
  }

  /** The save wrote the file but the mesh rejected the reload (the last good config keeps running). */
  async expectSaveRejected(): Promise<void> {
    await expect(this.saveResult).toHaveAttribute('data-state', 'rejected');
    await expect(this.saveResult).toContainText(/reject/i);
  }

  async expectSaveApplied(): Promise<void> {
    await expect(this.saveResult).toHaveAttribute('data-state', 'ok');
  }

  async quickAction(kind: 'fault' | 'shift' | 'timeout'): Promise<QuickActionDialog> {
    await this.page.getByTestId(`rules-quick-${kind}`).click();
    const dialog = new QuickActionDialog(this.page);
    await dialog.expectOpen();
    return dialog;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
