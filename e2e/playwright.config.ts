/**
 * Playwright for the browser UI served by `localmesh up --ui`, driven with Debian's Chromium (no browser download).
 *
 * The UI must be built before running (`npm run build:renderer` → out/renderer); this config does not build.
 * Every test gets its own temp bookinfo mesh (e2e/fixtures.ts). Workers stay at 1: simple and serial, and the
 * bookinfo apps each need ports of their own.
 *
 *   npm run build:renderer && npx playwright test --config e2e/playwright.config.ts
 */
import path from 'node:path';
import { defineConfig } from '@playwright/test';

const ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(ROOT, 'test-results');

export default defineConfig({
  testDir: 'specs',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  outputDir: path.join(RESULTS, 'artifacts'),
  reporter: [['list'], ['html', { open: 'never', outputFolder: path.join(RESULTS, 'html') }]],
  use: {
    launchOptions: { executablePath: '/usr/bin/chromium' },
    viewport: { width: 1280, height: 800 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    actionTimeout: 10_000,
    navigationTimeout: 20_000
  }
});
