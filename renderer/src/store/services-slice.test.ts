import { describe, expect, it } from 'vitest';
import { createMeshStore } from './index.js';
import { fakeApi, workload } from './fake-api.js';
import { overallProcessState, selectServiceGroups } from './selectors.js';
import { MAX_LOG_LINES } from './services-slice.js';

function setup() {
  const api = fakeApi();
  api.workloads = [
    workload({ name: 'reviews-v1', service: 'reviews' }),
    workload({ name: 'ratings-v1', service: 'ratings' }),
    workload({ name: 'reviews-v2', service: 'reviews' })
  ];
  const store = createMeshStore({ api, batchMs: 0 });
  return { api, s: () => store.getState() };
}

describe('services slice', () => {
  it('loads workloads and groups them by service in first-seen order', async () => {
    const { s } = setup();
    expect(await s().loadWorkloads()).toBe(true);
    expect(s().workloadsStatus).toBe('ready');
    expect(selectServiceGroups(s()).map((g) => [g.name, g.workloads.map((w) => w.name)])).toEqual([
      ['reviews', ['reviews-v1', 'reviews-v2']],
      ['ratings', ['ratings-v1']]
    ]);
  });

  it('keeps the load error with its code', async () => {
    const { api, s } = setup();
    api.fail.listWorkloads = Object.assign(new Error('admin API unreachable'), { code: 'LM500' });
    expect(await s().loadWorkloads()).toBe(false);
    expect(s().workloadsStatus).toBe('error');
    expect(s().workloadsError).toEqual({ code: 'LM500', message: 'admin API unreachable' });
  });

  it("process events update the state of the workload's process", async () => {
    const { s } = setup();
    await s().loadWorkloads();
    s().ingest({
      type: 'process',
      workload: 'ratings-v1',
      process: {
        instance: '127.0.0.1:19080',
        state: 'crashed',
        pid: null,
        restarts: 1,
        lastExitCode: 1,
        command: 'node server.mjs'
      }
    });
    const ratings = s().workloads.find((w) => w.name === 'ratings-v1')!;
    expect(ratings.processes).toHaveLength(1);
    expect(ratings.processes[0]!.state).toBe('crashed');
    expect(overallProcessState(ratings)).toBe('crashed');
    expect(s().workloads.find((w) => w.name === 'reviews-v1')!.processes[0]!.state).toBe('running');
    // An instance not seen before is added.
    s().ingest({
      type: 'process',
      workload: 'ratings-v1',
      process: { instance: '127.0.0.1:19099', state: 'starting', pid: 7, restarts: 0, lastExitCode: null, command: 'x' }
    });
    expect(
      s()
        .workloads.find((w) => w.name === 'ratings-v1')!
        .processes.map((p) => p.state)
    ).toEqual(['crashed', 'starting']);
  });

  it('restart and stop call the api; a failure is kept next to the workload', async () => {
    const { api, s } = setup();
    await s().loadWorkloads();
    await s().restartProcess('reviews-v1');
    await s().stopProcess('reviews-v2', '127.0.0.1:19080');
    expect(
      api.calls
        .filter((c) => c.method === 'restartProcess' || c.method === 'stopProcess')
        .map((c) => [c.method, ...c.args])
    ).toEqual([
      ['restartProcess', 'reviews-v1', undefined],
      ['stopProcess', 'reviews-v2', '127.0.0.1:19080']
    ]);
    api.fail.stopProcess = Object.assign(new Error('ratings-v1 is not running'), { code: 'LM104' });
    await s().stopProcess('ratings-v1');
    expect(s().processOps['ratings-v1']).toEqual({
      pending: null,
      error: { code: 'LM104', message: 'ratings-v1 is not running' }
    });
    expect(s().processOps['reviews-v1']?.error).toBeNull();
  });

  it('keeps the last MAX_LOG_LINES log lines per workload', () => {
    const { s } = setup();
    for (let i = 0; i < MAX_LOG_LINES + 10; i++) {
      s().ingest({
        type: 'log',
        workload: 'reviews-v1',
        instance: 'i',
        stream: i % 2 ? 'stderr' : 'stdout',
        line: `line ${i}`
      });
    }
    s().ingest({ type: 'log', workload: 'ratings-v1', instance: 'i', stream: 'stdout', line: 'hello' });
    expect(s().logs['reviews-v1']).toHaveLength(MAX_LOG_LINES);
    expect(s().logs['reviews-v1']![0]!.line).toBe('line 10');
    expect(s().logs['ratings-v1']!.map((l) => l.line)).toEqual(['hello']);
  });

  it('overall process state: the most alarming instance wins; none without processes', () => {
    const w = workload({ name: 'x', service: 'x' });
    const p = w.processes[0]!;
    expect(overallProcessState({ ...w, processes: [p, { ...p, state: 'stopped' }] })).toBe('stopped');
    expect(
      overallProcessState({
        ...w,
        processes: [
          { ...p, state: 'failed' },
          { ...p, state: 'restarting' }
        ]
      })
    ).toBe('failed');
    expect(overallProcessState({ ...w, processes: [] })).toBeNull();
  });
});
