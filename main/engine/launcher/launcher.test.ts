import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshEvent, ProcessView } from '../../contract/api.js';
import { createLauncher, type Launcher, type LaunchSpec } from './launcher.js';

const posixOnly = process.platform === 'win32' ? it.skip : it;

/** A shell command line running `script` with this Node binary. */
function nodeCommand(script: string): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return `${quote(process.execPath)} -e ${quote(script)}`;
}

const KEEP_ALIVE = 'setInterval(() => {}, 1000);';

function spec(workload: string, script: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return { workload, instance: '127.0.0.1:19081', command: nodeCommand(script), cwd: tmpdir(), env: {}, ...extra };
}

/** Collects events and lets a test wait for the first one matching a predicate (bounded by the test timeout). */
function recorder() {
  const events: MeshEvent[] = [];
  const lines: string[] = [];
  let waiters: { match: (e: MeshEvent) => boolean; resolve: (e: MeshEvent) => void }[] = [];
  return {
    events,
    lines,
    onEvent(e: MeshEvent): void {
      events.push(e);
      const ready = waiters.filter((w) => w.match(e));
      waiters = waiters.filter((w) => !w.match(e));
      for (const w of ready) w.resolve(e);
    },
    log(line: string): void {
      lines.push(line);
    },
    until(match: (e: MeshEvent) => boolean): Promise<MeshEvent> {
      const seen = events.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    processes(workload: string): ProcessView[] {
      return events.flatMap((e) => (e.type === 'process' && e.workload === workload ? [e.process] : []));
    }
  };
}

const isState =
  (workload: string, state: ProcessView['state'], instance?: string) =>
  (e: MeshEvent): boolean =>
    e.type === 'process' &&
    e.workload === workload &&
    e.process.state === state &&
    (instance === undefined || e.process.instance === instance);

const isLog =
  (workload: string, text: string) =>
  (e: MeshEvent): boolean =>
    e.type === 'log' && e.workload === workload && e.line.includes(text);

/** Alive and not a zombie (an orphan may wait to be reaped by a PID 1 that never does). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = `/proc/${pid}/stat`;
  if (existsSync(stat)) {
    const state = readFileSync(stat, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z' && state !== 'X';
  }
  return true;
}

/** Poll a condition a bounded number of times. */
async function eventually(check: () => boolean, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

let launcher: Launcher | undefined;
afterEach(async () => {
  await launcher?.stopAll();
  launcher = undefined;
});

describe('launcher', () => {
  it('emits each output line as a log event and writes it with an aligned docker-compose prefix', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent, log: rec.log });
    const script = `console.log('hello'); console.log('second line'); console.error('oops'); ${KEEP_ALIVE}`;
    launcher.start([
      spec('reviews-v1', script),
      spec('ratings-v1', script, { instance: '127.0.0.1:19082' }),
      spec('ratings-v1', script, { instance: '127.0.0.1:19083' })
    ]);
    for (const instance of ['127.0.0.1:19081', '127.0.0.1:19082', '127.0.0.1:19083']) {
      for (const line of ['second line', 'oops'])
        await rec.until((e) => e.type === 'log' && e.instance === instance && e.line === line);
    }

    const reviewLogs = rec.events.filter((e) => e.type === 'log' && e.workload === 'reviews-v1');
    expect(reviewLogs).toContainEqual(
      expect.objectContaining({
        type: 'log',
        workload: 'reviews-v1',
        instance: '127.0.0.1:19081',
        stream: 'stdout',
        line: 'hello'
      })
    );
    expect(reviewLogs).toContainEqual(
      expect.objectContaining({
        type: 'log',
        workload: 'reviews-v1',
        instance: '127.0.0.1:19081',
        stream: 'stderr',
        line: 'oops'
      })
    );
    // Lines of one stream keep their order.
    const stdout = reviewLogs.flatMap((e) => (e.type === 'log' && e.stream === 'stdout' ? [e.line] : []));
    expect(stdout).toEqual(['hello', 'second line']);

    // "ratings-v1#2" is the longest label (12 chars): every prefix is padded to it.
    expect(rec.lines).toContain('reviews-v1   | hello');
    expect(rec.lines).toContain('ratings-v1#1 | hello');
    expect(rec.lines).toContain('ratings-v1#2 | oops');

    const running = launcher.list().find((p) => p.instance === '127.0.0.1:19081');
    expect(running).toMatchObject({ state: 'running', restarts: 0, lastExitCode: null });
    expect(running?.pid).toBeGreaterThan(0);
    expect(rec.processes('reviews-v1').map((p) => p.state)).toEqual(['starting', 'running']);
  });

  it('passes the env (PORT) through, merged over process.env', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent });
    const script = `console.log('port=' + process.env.PORT + ' path=' + (process.env.PATH ? 'set' : 'unset')); ${KEEP_ALIVE}`;
    launcher.start([spec('details-v1', script, { env: { PORT: '19099' } })]);
    const e = await rec.until(isLog('details-v1', 'port='));
    expect(e).toMatchObject({ line: 'port=19099 path=set' });
  });

  it('restarts a crashing process with backoff: crashed → restarting → running, restarts increasing', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent, backoff: { initialMs: 20, maxMs: 50, resetAfterMs: 60_000 } });
    launcher.start([spec('ratings-v1', `console.log('starting'); process.exit(1)`)]);
    await rec.until((e) => e.type === 'process' && e.process.restarts >= 3 && e.process.state === 'running');
    await launcher.stopAll();

    const views = rec.processes('ratings-v1');
    const states = views.map((p) => p.state);
    expect(states.slice(0, 2)).toEqual(['starting', 'running']);
    // Each crash is followed by a restart and a new run.
    const crashAt = states.indexOf('crashed');
    expect(states.slice(crashAt, crashAt + 6)).toEqual([
      'crashed',
      'restarting',
      'running',
      'crashed',
      'restarting',
      'running'
    ]);
    for (const v of views.filter((p) => p.state === 'crashed')) expect(v).toMatchObject({ lastExitCode: 1, pid: null });
    const restarts = views.map((p) => p.restarts);
    expect(restarts).toEqual([...restarts].sort((a, b) => a - b));
    expect(Math.max(...restarts)).toBeGreaterThanOrEqual(3);
    expect(states.at(-1)).toBe('stopped');

    // stopAll cleared the restart timer: nothing happens afterwards.
    const count = rec.events.length;
    await new Promise((r) => setTimeout(r, 120));
    expect(rec.events.length).toBe(count);
  });

  posixOnly('stop() kills the whole process group, grandchildren included, and does not restart', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent, backoff: { initialMs: 20, maxMs: 50, resetAfterMs: 60_000 } });
    // The grandchild ignores SIGTERM: it only goes away because the group is killed.
    const grandchild = `process.on('SIGTERM', () => {}); ${KEEP_ALIVE}`;
    const script = `const c = require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'inherit' });
      console.log('grandchild ' + c.pid); ${KEEP_ALIVE}`;
    launcher.start([spec('productpage-v1', script)]);
    const line = await rec.until(isLog('productpage-v1', 'grandchild '));
    const grandPid = Number(line.type === 'log' ? line.line.split(' ')[1] : NaN);
    const childPid = launcher.list()[0]?.pid ?? NaN;
    expect(isAlive(childPid)).toBe(true);
    expect(isAlive(grandPid)).toBe(true);

    await launcher.stop('productpage-v1');
    expect(await eventually(() => !isAlive(childPid))).toBe(true);
    expect(await eventually(() => !isAlive(grandPid))).toBe(true);
    expect(launcher.list()[0]).toMatchObject({ state: 'stopped', pid: null, restarts: 0 });
    expect(rec.processes('productpage-v1').map((p) => p.state)).toEqual(['starting', 'running', 'stopped']);
  });

  posixOnly('escalates to SIGKILL when the process ignores SIGTERM', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent, stopGraceMs: 100 });
    launcher.start([
      spec(
        'stubborn-v1',
        `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); ${KEEP_ALIVE}`
      )
    ]);
    await rec.until(isLog('stubborn-v1', 'ready'));
    const pid = launcher.list()[0]?.pid ?? NaN;
    await launcher.stop('stubborn-v1');
    expect(await eventually(() => !isAlive(pid))).toBe(true);
    expect(rec.events.some(isLog('stubborn-v1', 'ignoring SIGTERM'))).toBe(true);
    expect(launcher.list()[0]).toMatchObject({ state: 'stopped', pid: null });
  });

  posixOnly('gives an app that shuts down gracefully its grace period even though the shell dies first', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent });
    const script = `process.on('SIGTERM', () => setTimeout(() => { console.log('bye'); process.exit(0); }, 150)); console.log('ready'); ${KEEP_ALIVE}`;
    launcher.start([spec('graceful-v1', script)]);
    await rec.until(isLog('graceful-v1', 'ready'));
    await launcher.stop('graceful-v1');
    expect(rec.events.some(isLog('graceful-v1', 'bye'))).toBe(true);
  });

  it('restart() starts a new process right away and counts it', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent });
    launcher.start([spec('reviews-v2', `console.log('up ' + process.pid); ${KEEP_ALIVE}`)]);
    await rec.until(isState('reviews-v2', 'running'));
    const firstPid = launcher.list()[0]?.pid;
    await launcher.restart('reviews-v2');
    await rec.until((e) => isState('reviews-v2', 'running')(e) && e.type === 'process' && e.process.restarts === 1);
    const after = launcher.list()[0];
    expect(after).toMatchObject({ state: 'running', restarts: 1 });
    expect(after?.pid).not.toBe(firstPid);
    expect(rec.processes('reviews-v2').map((p) => p.state)).toEqual(['starting', 'running', 'restarting', 'running']);
  });

  it('rejects stop/restart of an unknown workload with LM202', async () => {
    launcher = createLauncher({ onEvent: () => {} });
    await expect(launcher.stop('nope')).rejects.toMatchObject({ code: 'LM202' });
    await expect(launcher.restart('nope', '127.0.0.1:1')).rejects.toMatchObject({ code: 'LM202' });
  });

  it('reports a missing cwd as failed with LM103 and keeps the other processes running', async () => {
    const rec = recorder();
    launcher = createLauncher({ onEvent: rec.onEvent, log: rec.log });
    const missing = join(tmpdir(), 'localmesh-does-not-exist', 'reviews');
    launcher.start([
      spec('reviews-v3', KEEP_ALIVE, { cwd: missing }),
      spec('details-v1', `console.log('fine'); ${KEEP_ALIVE}`, { instance: '127.0.0.1:19082' })
    ]);
    const failed = await rec.until(isState('reviews-v3', 'failed'));
    expect(failed).toMatchObject({ process: { state: 'failed', pid: null, restarts: 0 } });
    const message = await rec.until(isLog('reviews-v3', 'LM103'));
    expect(message).toMatchObject({ stream: 'stderr' });
    expect(message.type === 'log' && message.line).toContain(missing);
    expect(message.type === 'log' && message.line).toContain('does not exist');
    expect(rec.lines.some((l) => l.startsWith('reviews-v3 | LM103'))).toBe(true);

    await rec.until(isLog('details-v1', 'fine'));
    expect(launcher.list().find((p) => p.instance === '127.0.0.1:19082')?.state).toBe('running');
  });
});
