import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(import.meta.dirname, '../..'),
  test: {
    include: ['main/**/*.test.ts', 'renderer/**/*.test.ts', 'preload/**/*.test.ts'],
    exclude: ['e2e/**', 'node_modules/**', 'out/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks'
  }
});
