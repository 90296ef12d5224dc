/**
 * Playwright for the desktop app itself (`_electron`): a smoke test of the packaged shape (main bundle, preload,
 * renderer, engine host). It needs a real Electron binary and a build (`npm run build`); on a machine without the
 * binary (this project's CI: Electron's download is denied, see toolchain.md §7) the spec reports itself as skipped,
 * with the reason. On Linux without a display, run it under Xvfb:
 *
 *   npm run build && xvfb-run -a npx playwright test --config e2e/playwright.electron.config.ts
 */
import path from 'node:path';
import { defineConfig } from '@playwright/test';

const RESULTS = path.resolve(import.meta.dirname, '..', 'test-results', 'electron');

export default defineConfig({
  testDir: 'electron',
  testMatch: '*.spec.ts',
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  outputDir: path.join(RESULTS, 'artifacts'),
  reporter: [['list']],
  use: { trace: 'retain-on-failure', screenshot: 'only-on-failure' }
});
