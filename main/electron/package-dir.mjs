#!/usr/bin/env node
// `npm run package:dir`: package the app the way a release would (electron-builder, linux, unpacked `--dir`), then
// open the resulting app.asar and check what is inside. Offline: no Electron binary is needed or downloaded.
//
//   1. `npm run build:electron`, or the whole `npm run build` when out/renderer/index.html is missing;
//   2. a stand-in Electron dist folder: electron-builder only copies it (toolchain.md §5), so a tiny `electron`
//      shell script is enough; the packaged "app" therefore cannot run, it is for checking the package's contents;
//   3. electron-builder --linux dir -c.electronDist=<stand-in> --publish never  → release/linux-unpacked/;
//   4. asserts on release/linux-unpacked/resources/app.asar (via @electron/asar, a dependency of electron-builder):
//      - the entry points are there: package.json, out/electron/main.cjs, out/electron/engine-host.cjs,
//        out/preload/index.cjs, out/renderer/index.html, and package.json's "main" names a file in the archive;
//      - no devDependency is packed: node_modules/<name> is absent for every devDependency of package.json
//        (in app.asar and app.asar.unpacked);
//      - no test or e2e file is packed;
//      - the bundled example sits beside app.asar (resources/examples/bookinfo/localmesh.yaml), where main.ts looks;
//      - the executable is there (named by electron-builder.yml's executableName).
//   Prints a short report; exits 1 on any failed check (or failed step).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const builderConfig = parseYaml(fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8'));

const BUILD_OUTPUTS = [
  'out/electron/main.cjs',
  'out/electron/engine-host.cjs',
  'out/preload/index.cjs',
  'out/renderer/index.html'
];
const REQUIRED_IN_ASAR = ['package.json', ...BUILD_OUTPUTS];
const outputDir = path.join(root, builderConfig.directories?.output ?? 'release');
const unpacked = path.join(outputDir, 'linux-unpacked');
const resources = path.join(unpacked, 'resources');
const asarFile = path.join(resources, 'app.asar');

const step = (text) => console.log(`package:dir: ${text}`);

function run(command, args, env = {}) {
  step(`$ ${[command, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`package:dir: FAILED: ${command} exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

// ---- 1. build ---------------------------------------------------------------------------------------------------
// The Electron bundles take a second: always rebuilt, so a stale out/electron never gets packaged. The renderer build
// is slower and owned elsewhere: the whole `npm run build` runs only when its output is missing.
if (!fs.existsSync(path.join(root, 'out/renderer/index.html'))) {
  step('out/renderer/index.html missing: running npm run build');
  run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build']);
} else {
  step('out/renderer exists (delete out/ to rebuild it): rebuilding the Electron bundles only');
  run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build:electron']);
}
const missing = BUILD_OUTPUTS.filter((f) => !fs.existsSync(path.join(root, f)));
if (missing.length > 0) {
  console.error(`package:dir: FAILED: the build did not produce ${missing.join(', ')}`);
  process.exit(1);
}

// ---- 2. stand-in Electron dist ------------------------------------------------------------------------------------
const electronDist = fs.mkdtempSync(path.join(os.tmpdir(), 'localmesh-electron-dist-'));
fs.writeFileSync(
  path.join(electronDist, 'electron'),
  '#!/bin/sh\necho "stand-in Electron from main/electron/package-dir.mjs: this package is for inspection, not for running" >&2\nexit 1\n',
  { mode: 0o755 }
);

// ---- 3. electron-builder --dir ------------------------------------------------------------------------------------
const failures = [];
try {
  const cli = require.resolve('electron-builder/cli.js');
  run(process.execPath, [cli, '--linux', 'dir', '--publish', 'never', `-c.electronDist=${electronDist}`], {
    ELECTRON_SKIP_BINARY_DOWNLOAD: '1'
  });
} finally {
  fs.rmSync(electronDist, { recursive: true, force: true });
}

// ---- 4. inspect app.asar ------------------------------------------------------------------------------------------
const asar = loadAsar();
const check = (ok, text) => {
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${text}`);
  if (!ok) failures.push(text);
};

if (!fs.existsSync(asarFile)) {
  console.error(`package:dir: FAILED: ${path.relative(root, asarFile)} was not produced`);
  process.exit(1);
}
const entries = asar.listPackage(asarFile, { isPack: false }).map((p) => p.replace(/\\/g, '/').replace(/^\//, ''));
const has = new Set(entries);
const asarFiles = entries.filter((e) => {
  try {
    return !('files' in asar.statFile(asarFile, e));
  } catch {
    return false;
  }
});
const unpackedDir = `${asarFile}.unpacked`;
const unpackedEntries = fs.existsSync(unpackedDir)
  ? fs.readdirSync(unpackedDir, { recursive: true }).map((p) => String(p).replace(/\\/g, '/'))
  : [];

console.log(`\npackage:dir: report for ${path.relative(root, asarFile)}`);
for (const f of REQUIRED_IN_ASAR) check(has.has(f), `contains ${f}`);
const packedPkg = has.has('package.json')
  ? JSON.parse(asar.extractFile(asarFile, 'package.json').toString('utf8'))
  : {};
check(
  typeof packedPkg.main === 'string' && has.has(packedPkg.main.replace(/^\.\//, '')),
  `package.json "main" (${packedPkg.main}) is in the archive`
);

const devDeps = Object.keys(pkg.devDependencies ?? {}).sort();
const packedDevDeps = devDeps.filter(
  (name) =>
    has.has(`node_modules/${name}`) ||
    entries.some((e) => e.startsWith(`node_modules/${name}/`)) ||
    unpackedEntries.some((e) => e === `node_modules/${name}` || e.startsWith(`node_modules/${name}/`))
);
check(
  packedDevDeps.length === 0,
  `no devDependency packed (checked ${devDeps.length}: ${devDeps.join(', ')})${packedDevDeps.length ? `; found: ${packedDevDeps.join(', ')}` : ''}`
);
const ownEntries = entries.filter((e) => !e.startsWith('node_modules/'));
const testFiles = ownEntries.filter((e) => /(^|\/)(e2e|test)(\/|$)/.test(e) || /\.(test|spec)\.[cm]?[jt]sx?$/.test(e));
check(
  testFiles.length === 0,
  `no test or e2e files${testFiles.length ? `; found: ${testFiles.slice(0, 5).join(', ')}` : ''}`
);
const example = path.join(resources, 'examples', 'bookinfo', 'localmesh.yaml');
check(fs.existsSync(example), `bundled example beside app.asar: ${path.relative(root, example)}`);
const exe = path.join(unpacked, builderConfig.executableName ?? pkg.name);
check(fs.existsSync(exe), `executable ${path.relative(root, exe)}`);

// The numbers, for the log.
const packages = [
  ...new Set(entries.map((e) => /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(e)?.[1]).filter(Boolean))
].sort();
const topLevel = [...new Set(entries.map((e) => e.split('/')[0]))].sort();
const size = fs.statSync(asarFile).size;
console.log(
  `  info app.asar ${(size / 1024 / 1024).toFixed(2)} MiB, ${asarFiles.length} files; top level: ${topLevel.join(', ')}`
);
console.log(`  info node_modules packed: ${packages.length}${packages.length ? ` (${packages.join(', ')})` : ''}`);
if (unpackedEntries.length)
  console.log(`  info app.asar.unpacked: ${unpackedEntries.filter((e) => !e.includes('/')).join(', ')}`);

if (failures.length > 0) {
  console.error(`\npackage:dir: FAILED ${failures.length} check(s)`);
  process.exit(1);
}
console.log(`\npackage:dir: OK (${path.relative(root, unpacked)})`);

/** @electron/asar comes with electron-builder (app-builder-lib): resolve it from there, hoisted or not. */
function loadAsar() {
  const tries = [
    () => require('@electron/asar'),
    () => createRequire(require.resolve('app-builder-lib/package.json'))('@electron/asar'),
    () =>
      createRequire(
        createRequire(require.resolve('electron-builder/package.json')).resolve('app-builder-lib/package.json')
      )('@electron/asar')
  ];
  for (const t of tries) {
    try {
      return t();
    } catch {
      // next
    }
  }
  console.error('package:dir: FAILED: cannot load @electron/asar (it should come with electron-builder)');
  process.exit(1);
}
