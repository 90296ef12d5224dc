import { describe, expect, it } from 'vitest';
import { createMeshStore } from './index.js';
import { fakeApi, workload } from './fake-api.js';
import { overallProcessState, selectServiceGroups } from './selectors.js';
import { MAX_LOG_LINES, type LogEvent, type LogLine } from './services-slice.js';

const line = (seq: number, workload: string, text: string, stream: 'stdout' | 'stderr' = 'stdout'): LogLine => ({
  workload,
  instance: '127.0.0.1:19080',
  stream,
  line: text,
  at: new Date(seq * 1000).toISOString(),
  seq
});
const logEvent = (...args: Parameters<typeof line>): LogEvent => ({ type: 'log', ...line(...args) });

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
      s().ingest(logEvent(i + 1, 'reviews-v1', `line ${i}`, i % 2 ? 'stderr' : 'stdout'));
    }
    s().ingest(logEvent(MAX_LOG_LINES + 11, 'ratings-v1', 'hello'));
    expect(s().logs['reviews-v1']).toHaveLength(MAX_LOG_LINES);
    expect(s().logs['reviews-v1']![0]!.line).toBe('line 10');
    expect(s().logs['ratings-v1']!.map((l) => l.line)).toEqual(['hello']);
  });

  it('loads the lines the engine kept, then appends live lines after them, skipping any it already has', async () => {
    const { api, s } = setup();
    api.logs = [line(1, 'reviews-v1', 'listening on 9080'), line(2, 'ratings-v1', 'x'), line(3, 'reviews-v1', 'GET /')];
    // a line that came live before the panel opened: the history has it too
    s().ingest(logEvent(3, 'reviews-v1', 'GET /'));
    await s().loadLogs('reviews-v1');
    expect(s().logHistory['reviews-v1']).toEqual({ status: 'ready', error: null });
    expect(s().logs['reviews-v1']!.map((l) => [l.seq, l.line])).toEqual([
      [1, 'listening on 9080'],
      [3, 'GET /']
    ]);
    expect(api.calls.filter((c) => c.method === 'listLogs').map((c) => c.args)).toEqual([
      [{ workload: 'reviews-v1', limit: MAX_LOG_LINES }]
    ]);
    s().ingest(logEvent(3, 'reviews-v1', 'GET /'));
    s().ingest(logEvent(4, 'reviews-v1', 'GET /reviews/0'));
    expect(s().logs['reviews-v1']!.map((l) => l.seq)).toEqual([1, 3, 4]);
    expect(s().logs['reviews-v1']![2]).toEqual(line(4, 'reviews-v1', 'GET /reviews/0'));
  });

  it('lines that arrive live while the history loads follow it once, without gaps', async () => {
    const { api, s } = setup();
    api.logs = [line(1, 'reviews-v1', 'a'), line(2, 'reviews-v1', 'b')];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const listLogs = api.listLogs;
    api.listLogs = async (q) => {
      const answer = await listLogs(q); // the engine answered with what it had then…
      await gate; // …and the answer is on its way while live lines arrive
      return answer;
    };
    const loading = s().loadLogs('reviews-v1');
    expect(s().logHistory['reviews-v1']?.status).toBe('loading');
    s().ingest(logEvent(2, 'reviews-v1', 'b'));
    s().ingest(logEvent(3, 'reviews-v1', 'c'));
    release();
    await loading;
    expect(s().logs['reviews-v1']!.map((l) => l.line)).toEqual(['a', 'b', 'c']);
  });

  it('a failed load keeps its error next to the log; a retry clears it', async () => {
    const { api, s } = setup();
    api.fail.listLogs = Object.assign(new Error('no workload "gone-v1" in the mesh'), { code: 'LM202' });
    await s().loadLogs('gone-v1');
    expect(s().logHistory['gone-v1']).toEqual({
      status: 'error',
      error: { code: 'LM202', message: 'no workload "gone-v1" in the mesh' }
    });
    delete api.fail.listLogs;
    api.logs = [line(5, 'gone-v1', 'back')];
    await s().loadLogs('gone-v1');
    expect(s().logHistory['gone-v1']).toEqual({ status: 'ready', error: null });
    expect(s().logs['gone-v1']!.map((l) => l.line)).toEqual(['back']);
  });

  it('when the connection comes back, the logs that were opened load again: lines printed meanwhile appear', async () => {
    const { api, s } = setup();
    await s().init();
    api.logs = [line(1, 'reviews-v1', 'before')];
    await s().loadLogs('reviews-v1');
    api.fail.health = Object.assign(new Error('fetch failed'), { code: 'LM104' });
    await s().checkHealth();
    expect(s().connection).toBe('disconnected');
    // printed while the window was away: no live event reached it
    api.logs.push(line(2, 'reviews-v1', 'while away'));
    delete api.fail.health;
    await s().checkHealth();
    expect(s().connection).toBe('connected');
    expect(s().logs['reviews-v1']!.map((l) => l.line)).toEqual(['before', 'while away']);
    // only the log that was opened is asked for
    expect(
      api.calls.filter((c) => c.method === 'listLogs').map((c) => (c.args[0] as { workload: string }).workload)
    ).toEqual(['reviews-v1', 'reviews-v1']);
  });

  it('a seq lower than any held means a new engine run: its lines start the log afresh', () => {
    const { s } = setup();
    s().ingest(logEvent(41, 'reviews-v1', 'old run'));
    s().ingest(logEvent(42, 'reviews-v1', 'old run, last'));
    s().ingest(logEvent(1, 'reviews-v1', 'new run'));
    expect(s().logs['reviews-v1']!.map((l) => l.line)).toEqual(['new run']);
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
