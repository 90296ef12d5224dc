// Vite config for the renderer: built to out/renderer with relative asset URLs, so the same files load from
// file:// in Electron and from the admin server at / (`localmesh up --ui`).
// No node builtins here (the renderer folder may not import them): outDir is resolved against `root` by Vite.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [react()],
  build: {
    outDir: '../out/renderer',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 1500
  }
});
