/**
 * The app shell: ready state, navigation, status bar, error banner, theme, and view screenshots.
 * Page modules own every locator; specs only call these methods.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect, type Locator, type Page, type TestInfo } from '@playwright/test';

export type View = 'services' | 'rules' | 'traffic' | 'security' | 'graph' | 'metrics';
export type Theme = 'light' | 'dark';

const SCREENSHOT_DIR = path.resolve(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

export class AppPage {
  readonly root: Locator;
  readonly statusBar: Locator;
  readonly configVersion: Locator;
  readonly connection: Locator;
  readonly errorBanner: Locator;
  readonly themeToggle: Locator;
  private readonly html: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByTestId('app');
    this.statusBar = page.getByTestId('status-bar');
    this.configVersion = page.getByTestId('status-config-version');
    this.connection = page.getByTestId('status-connection');
    this.errorBanner = page.getByTestId('error-banner');
    this.themeToggle = page.getByTestId('theme-toggle');
    this.html = page.locator('html');
  }

  /** Open the UI (the URL with the token sets the session cookie) and wait until the app says it is ready. */
  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.waitReady();
  }

  async waitReady(): Promise<void> {
    await expect(this.root).toHaveAttribute('data-ready', 'true', { timeout: 20_000 });
  }

  nav(view: View): Locator {
    return this.page.getByTestId(`nav-${view}`);
  }

  async goto(view: View): Promise<void> {
    await this.nav(view).click();
  }

  async expectConfigVersion(version: number): Promise<void> {
    await expect(this.statusBar).toBeVisible();
    await expect(this.configVersion).toHaveText(new RegExp(`(^|\\D)${version}(\\D|$)`));
  }

  async expectNoError(): Promise<void> {
    await expect(this.errorBanner).toHaveCount(0);
  }

  async theme(): Promise<string | null> {
    return this.html.getAttribute('data-theme');
  }

  async toggleTheme(): Promise<Theme> {
    const before = await this.theme();
    const after: Theme = before === 'dark' ? 'light' : 'dark';
    await this.themeToggle.click();
    await expect(this.html).toHaveAttribute('data-theme', after);
    return after;
  }

  async setTheme(theme: Theme): Promise<void> {
    if ((await this.theme()) !== theme) await this.themeToggle.click();
    await expect(this.html).toHaveAttribute('data-theme', theme);
  }

  /**
   * Screenshots of what is on screen now, in light and in dark: test-results/screenshots/<view>-<theme>.png,
   * also attached to the test's report. Returns the file paths.
   */
  async screenshots(view: string, testInfo: TestInfo): Promise<string[]> {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const files: string[] = [];
    for (const theme of ['light', 'dark'] as const) {
      await this.setTheme(theme);
      const file = path.join(SCREENSHOT_DIR, `${view}-${theme}.png`);
      await this.page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
      await testInfo.attach(`${view}-${theme}`, { path: file, contentType: 'image/png' });
      files.push(file);
    }
    return files;
  }
}
