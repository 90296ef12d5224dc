#!/usr/bin/env node
// `npm start`: open the desktop app where an Electron binary is installed; otherwise say so and run the same engine
// headless with the browser UI (`localmesh up --ui`) on the bundled bookinfo example (or the mesh file given).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const meshFile = process.argv[2] ?? path.join(root, 'resources/examples/bookinfo/localmesh.yaml');
const electronDist = path.join(root, 'node_modules/electron/dist');
const hasElectron = existsSync(path.join(root, 'node_modules/electron/path.txt')) && existsSync(electronDist);

if (hasElectron) {
  console.log('localmesh: an Electron binary is installed, but the desktop shell is not built yet (it comes with the app issue); using the browser UI.');
} else {
  console.log('localmesh: no Electron binary is installed here (its download is blocked or skipped), so the desktop window cannot open.');
  console.log('localmesh: running the engine headless with the browser UI instead: localmesh up --ui');
}
const child = spawn(process.execPath, [path.join(root, 'main/cli/bin.js'), 'up', '--ui', '-c', meshFile], { stdio: ['inherit', 'pipe', 'inherit'] });
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  const m = /^UI: (\S+)/m.exec(d.toString());
  if (m) openBrowser(m[1]);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));

function openBrowser(url) {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
  const p = spawn(cmd, [url], { stdio: 'ignore', detached: true, shell: process.platform === 'win32' });
  p.on('error', () => console.log(`localmesh: open ${url} in your browser`));
  p.unref();
}
