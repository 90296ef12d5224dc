// The layer table of architecture.md §3 is enforced by eslint.config.js. These tests lint small in-memory snippets at
// virtual paths inside each layer, so a config change that silently stops enforcing a rule fails here.
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

/** Messages from the layer rules only (the snippets have unused imports, which other rules report). */
async function layerErrors(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath: path.join(root, file) });
  const fatal = result.messages.filter((m) => m.fatal);
  expect(fatal, `parse error in ${file}`).toEqual([]);
  return result.messages
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'layers/no-restricted-dynamic-imports')
    .map((m) => m.message);
}

const forbidden: Array<[string, string, RegExp]> = [
  ["import { app } from 'electron';", 'main/engine/x.ts', /engine must not import electron/],
  ["import fs from 'node:fs';", 'main/contract/x.ts', /contract must not import node builtins/],
  ["import fs from 'fs';", 'main/contract/x.ts', /contract must not import node builtins/],
  ["import { readFile } from 'fs/promises';", 'main/contract/x.ts', /contract must not import node builtins/],
  ["import { createMesh } from '../engine/mesh.js';", 'renderer/x.ts', /renderer must not import the engine/],
  ["import { createMesh } from '../main/engine/mesh.js';", 'renderer/x.ts', /renderer must not import the engine/],
  ["import x from '../transports/http/admin-server.js';", 'main/engine/x.ts', /engine must not import transports/],
  ["import { ipcMain } from 'electron';", 'main/transports/http/x.ts', /transports must not import electron/],
  ["import { ipcMain } from 'electron/main';", 'main/transports/http/x.ts', /transports must not import electron/],
  ["import { main } from '../cli/index.js';", 'main/engine/x.ts', /engine must not import the cli/],
  ["import { MeshError } from '../engine/errors.js';", 'main/contract/x.ts', /contract must not import the engine/],
  [
    "import { helper } from '../util.js';",
    'main/contract/x.ts',
    /contract must not import code outside main\/contract/
  ],
  ["import x from '../../test/helpers/harness.js';", 'main/engine/x.ts', /engine must not import code outside/],
  ["import x from '../transports/ipc/bridge.js';", 'main/cli/x.ts', /cli must not import the IPC transport/],
  ["import { app } from 'electron';", 'main/cli/x.ts', /cli must not import electron/],
  ["import x from '../../electron/window.js';", 'main/transports/ipc/x.ts', /must not import the Electron shell/],
  ["import x from '../../renderer/store.js';", 'main/electron/x.ts', /electron must not import renderer sources/],
  ["import os from 'node:os';", 'preload/x.ts', /preload must not import node builtins/],
  ["import x from '../main/engine/mesh.js';", 'preload/x.ts', /preload must not import the engine/],
  ["import { ipcRenderer } from 'electron';", 'renderer/x.ts', /renderer must not import electron/],
  ["import path from 'node:path';", 'renderer/x.tsx', /renderer must not import node builtins/],
  // Also re-exports, dynamic imports and import types.
  ["export { createMesh } from '../engine/mesh.js';", 'renderer/x.ts', /renderer must not import the engine/],
  ["const { app } = await import('electron');", 'main/engine/x.ts', /engine must not import electron/],
  ["type App = import('electron').App;", 'main/engine/x.ts', /engine must not import electron/]
];

const allowed: Array<[string, string]> = [
  ["import { z } from 'zod';", 'main/contract/x.ts'],
  ["import type { SourcePos } from './errors.js';", 'main/contract/x.ts'],
  ["import http from 'node:http';", 'main/engine/x.ts'],
  ["import { MeshError } from '../contract/errors.js';", 'main/engine/x.ts'],
  ["import { MeshError } from '../../contract/errors.js';", 'main/engine/sidecar/x.ts'],
  ["import { ipcMain } from 'electron';", 'main/transports/ipc/x.ts'],
  ["import { createMesh } from '../../engine/mesh.js';", 'main/transports/ipc/x.ts'],
  ["import { startAdminServer } from '../transports/http/admin-server.js';", 'main/cli/x.ts'],
  ["import { main } from '../cli/index.js'; import { app } from 'electron';", 'main/electron/x.ts'],
  ["import { contextBridge } from 'electron'; import type { MeshApi } from '../main/contract/api.js';", 'preload/x.ts'],
  ["import type { MeshApi } from '../main/contract/api.js';", 'renderer/x.ts'],
  ["import type { MeshApi } from '../../main/contract/api.js'; export const A = () => <b />;", 'renderer/ui/x.tsx'],
  ["import { createMesh } from '../main/engine/mesh.js'; import fs from 'node:fs';", 'test/x.test.ts']
];

describe('layer rules (architecture.md §3)', () => {
  it.each(forbidden)('%s in %s is an error', async (code, file, message) => {
    const errors = await layerErrors(code, file);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(errors[0]).toContain('architecture.md §3');
  });

  it.each(allowed)('%s in %s is allowed', async (code, file) => {
    expect(await layerErrors(code, file)).toEqual([]);
  });
});
