#!/usr/bin/env node
// `npm start`: build the app, then open the desktop window where an Electron binary is installed (fetching it on
// first use through Electron's own install script); where none can be had, say so and run the same engine headless
// with the browser UI (`localmesh up --ui`) on the bundled bookinfo example (or the mesh file given).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const meshFile = path.resolve(process.argv[2] ?? path.join(root, 'resources/examples/bookinfo/localmesh.yaml'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

console.log('localmesh: building the app (npm run build)…');
const build = spawnSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const electron = electronBinary();
if (electron) {
  console.log(`localmesh: opening the desktop window (${electron})`);
  const child = spawn(electron, [root], { stdio: 'inherit', env: { ...process.env, LOCALMESH_PROJECT: meshFile } });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  console.log(
    'localmesh: no Electron binary could be installed here (its download is blocked or skipped), so the desktop window cannot open.'
  );
  console.log('localmesh: running the engine headless with the browser UI instead: localmesh up --ui');
  const child = spawn(process.execPath, [path.join(root, 'main/cli/bin.js'), 'up', '--ui', '-c', meshFile], {
    stdio: ['inherit', 'pipe', 'inherit']
  });
  child.stdout.on('data', (d) => {
    process.stdout.write(d);
    const m = /^UI: (\S+)/m.exec(d.toString());
    if (m) openBrowser(m[1]);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code) => process.exit(code ?? 0));
}

/**
 * The Electron executable, running Electron's own install.js once when it is missing; null when none can be had.
 * Reads the electron package's path.txt the way its index.js does (the CLI layer never imports electron).
 */
function electronBinary() {
  const dir = path.join(root, 'node_modules', 'electron');
  if (!existsSync(path.join(dir, 'package.json'))) return null;
  const find = () => {
    const txt = path.join(dir, 'path.txt');
    if (!existsSync(txt)) return null;
    const bin = path.join(dir, 'dist', readFileSync(txt, 'utf8').trim());
    return existsSync(bin) ? bin : null;
  };
  let bin = find();
  if (!bin && process.env.ELECTRON_SKIP_BINARY_DOWNLOAD !== '1' && existsSync(path.join(dir, 'install.js'))) {
    console.log('localmesh: fetching the Electron binary (first run)…');
    const r = spawnSync(process.execPath, [path.join(dir, 'install.js')], {
      cwd: dir,
      stdio: 'inherit',
      timeout: 300_000
    });
    if (r.status === 0) bin = find();
    else console.log('localmesh: the Electron download failed.');
  }
  return bin;
}

function openBrowser(url) {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
  const p = spawn(cmd, [url], { stdio: 'ignore', detached: true, shell: process.platform === 'win32' });
  p.on('error', () => console.log(`localmesh: open ${url} in your browser`));
  p.unref();
}
