/**
 * Smoke test of the desktop app: launch the built main process (out/electron/main.cjs) with a throwaway userData
 * whose last project is a tiny temp mesh (no apps to run, ephemeral sidecar ports), then check the window and the
 * bridge: the title, `window.localmesh` (a working MeshApi), `window.localmeshShell`, and no Node in the page.
 *
 * Skipped, with the reason, where no Electron binary is installed (the `electron` npm package here is types only).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { _electron as electron, expect, test, type ElectronApplication } from '@playwright/test';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MAIN = path.join(ROOT, 'out', 'electron', 'main.cjs');

/** Path of a runnable Electron binary, or why there is none. */
function findElectron(): { executable: string } | { reason: string } {
  let resolved: unknown;
  try {
    // The package's main exports the binary's path (node_modules/electron/path.txt + dist/), or throws.
    resolved = createRequire(import.meta.url)('electron');
  } catch (e) {
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return {
      reason:
        `require('electron') failed: ${message}. The electron package has no binary here (its postinstall download is ` +
        'denied; see toolchain.md §7). Install one, or set ELECTRON_OVERRIDE_DIST_PATH to an Electron dist folder.'
    };
  }
  if (typeof resolved !== 'string') return { reason: `require('electron') returned a ${typeof resolved}, not a path` };
  if (!fs.existsSync(resolved)) return { reason: `require('electron') points at ${resolved}, which does not exist` };
  return { executable: resolved };
}

const electronBinary = findElectron();

test.describe('desktop app (Electron)', () => {
  let app: ElectronApplication | undefined;
  let tmp = '';

  test.beforeEach(() => {
    test.skip(
      'reason' in electronBinary,
      `no Electron binary on this machine: ${'reason' in electronBinary ? electronBinary.reason : ''}`
    );
    expect(fs.existsSync(MAIN), `${MAIN} is missing: run \`npm run build\` first`).toBe(true);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-electron-e2e-'));
    const project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'localmesh.yaml'),
      [
        'apiVersion: localmesh.dev/v1alpha1',
        'kind: Mesh',
        'metadata: {name: smoke}',
        'spec:',
        '  services:',
        '  - name: orders',
        '    port: 9080',
        '    workloads:',
        '    - name: orders-v1',
        '      instances: ["127.0.0.1:29180"]',
        ''
      ].join('\n')
    );
    const userData = path.join(tmp, 'userData');
    fs.mkdirSync(userData);
    fs.writeFileSync(
      path.join(userData, 'state.json'),
      JSON.stringify({ version: 1, recent: [path.join(project, 'localmesh.yaml')] })
    );
  });

  test.afterEach(async () => {
    await app?.close();
    app = undefined;
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('opens the window with the bridge and without Node', async () => {
    if (!('executable' in electronBinary)) return;
    app = await electron.launch({
      executablePath: electronBinary.executable,
      // Chromium refuses to run as root without --no-sandbox (containers, CI); the page's own sandbox stays on.
      args: [MAIN, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
      env: { ...process.env, LOCALMESH_USER_DATA: path.join(tmp, 'userData') } as Record<string, string>
    });
    const page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');

    expect(await page.title()).toContain('localmesh');
    const windowTitle = await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]?.getTitle() ?? '');
    expect(windowTitle).toContain('localmesh');

    const bridge = await page.evaluate(() => {
      const g = globalThis as Record<string, unknown>;
      const api = g.localmesh as Record<string, unknown> | undefined;
      return {
        localmesh: typeof api,
        methods: api ? Object.keys(api).sort() : [],
        shell: typeof (g.localmeshShell as { onNavigate?: unknown } | undefined)?.onNavigate,
        require: typeof g.require,
        process: typeof g.process,
        ipcRenderer: typeof g.ipcRenderer
      };
    });
    expect(bridge).toMatchObject({
      localmesh: 'object',
      shell: 'function',
      require: 'undefined',
      process: 'undefined',
      ipcRenderer: 'undefined'
    });
    expect(bridge.methods).toEqual(expect.arrayContaining(['health', 'listWorkloads', 'onEvent', 'getFlow']));

    // The bridge reaches the engine (utility process → admin API → IPC): one real call.
    const health = await page.evaluate(() =>
      (
        globalThis as unknown as { localmesh: { health(): Promise<{ status: string; workloads: number }> } }
      ).localmesh.health()
    );
    expect(health).toMatchObject({ status: 'ok', workloads: 1 });

    // Errors cross the bridge with their code in the message.
    const error = await page.evaluate(() =>
      (globalThis as unknown as { localmesh: { getFlow(q: unknown): Promise<unknown> } }).localmesh.getFlow({}).then(
        () => 'resolved',
        (e: Error) => e.message
      )
    );
    expect(error).toMatch(/^LM201: /);
  });
});
