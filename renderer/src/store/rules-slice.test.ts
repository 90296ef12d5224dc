import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ResourceView, ValidationIssue } from '../../../main/contract/api.js';
import { createMeshStore } from './index.js';
import { config, fakeApi, reload, workload } from './fake-api.js';
import { selectDirty, selectFaults } from './selectors.js';

const issue = (line: number, code = 'IST0101'): ValidationIssue => ({
  severity: 'error',
  code,
  message: `problem on ${line}`,
  path: 'spec',
  where: { file: '/p/istio/vs.yaml', line, column: 3 }
});

const vs = (name: string, spec: unknown): ResourceView => ({
  kind: 'VirtualService',
  apiVersion: 'networking.istio.io/v1',
  name,
  namespace: 'default',
  where: { file: `/p/istio/${name}.yaml`, line: 1, column: 1 },
  spec
});

function setup() {
  const api = fakeApi();
  api.files = { '/p/istio/vs.yaml': 'kind: VirtualService\n' };
  api.workloads = [
    workload({ name: 'ratings-v1', service: 'ratings' }),
    workload({ name: 'reviews-v1', service: 'reviews' })
  ];
  const store = createMeshStore({ api, batchMs: 0, validateDelayMs: 300 });
  return { api, s: () => store.getState() };
}

describe('rules slice', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a config event updates the version, the last reload and the issues', async () => {
    const { api, s } = setup();
    await s().loadConfig();
    expect(s().config?.version).toBe(1);
    api.config = config({ version: 4, issues: [issue(3)], lastReload: reload({ version: 4, issues: [issue(3)] }) });
    s().ingest({
      type: 'config',
      reload: reload({ ok: false, version: 4, issues: [issue(3)], error: 'IST0101 bad host' })
    });
    expect(s().config?.version).toBe(4);
    expect(s().config?.lastReload.ok).toBe(false);
    expect(s().config?.lastReload.error).toBe('IST0101 bad host');
    expect(s().config?.issues.map((i) => i.where.line)).toEqual([3]);
    await vi.runAllTimersAsync();
    expect(api.calls.filter((c) => c.method === 'getConfig')).toHaveLength(2);
  });

  it('opens a file, validates as you type (debounced) and tracks dirty', async () => {
    const { api, s } = setup();
    api.issuesFor = (content) => (content.includes('oops') ? [issue(2)] : []);
    await s().loadFiles();
    await s().openFile('/p/istio/vs.yaml');
    expect(s().editor).toMatchObject({ relative: 'istio/vs.yaml', text: 'kind: VirtualService\n', status: 'ready' });
    await vi.runAllTimersAsync();
    expect(s().liveIssues).toEqual([]);
    const before = api.calls.filter((c) => c.method === 'validateIstioText').length;
    s().setEditorText('kind: VirtualService\no');
    s().setEditorText('kind: VirtualService\noo');
    s().setEditorText('kind: VirtualService\noops');
    expect(selectDirty(s())).toBe(true);
    await vi.advanceTimersByTimeAsync(299);
    expect(api.calls.filter((c) => c.method === 'validateIstioText')).toHaveLength(before);
    await vi.advanceTimersByTimeAsync(1);
    expect(api.calls.filter((c) => c.method === 'validateIstioText')).toHaveLength(before + 1);
    expect(s().liveIssues?.map((i) => i.code)).toEqual(['IST0101']);
  });

  it('switching files keeps an unsaved edit: it comes back, still unsaved, when the file is opened again', async () => {
    const { api, s } = setup();
    api.files['/p/istio/other.yaml'] = 'kind: DestinationRule\n';
    await s().loadFiles();
    await s().openFile('/p/istio/vs.yaml');
    s().setEditorText('kind: VirtualService\n# edited\n');
    await s().openFile('/p/istio/other.yaml');
    expect(s().editor).toMatchObject({ path: '/p/istio/other.yaml', text: 'kind: DestinationRule\n' });
    expect(selectDirty(s())).toBe(false);
    await s().openFile('/p/istio/vs.yaml');
    expect(s().editor).toMatchObject({ text: 'kind: VirtualService\n# edited\n', saved: 'kind: VirtualService\n' });
    expect(selectDirty(s())).toBe(true);
    // saved: the draft is gone, and the file opens as it is on disk
    await s().saveFile();
    await s().openFile('/p/istio/other.yaml');
    await s().openFile('/p/istio/vs.yaml');
    expect(s().editor).toMatchObject({
      text: 'kind: VirtualService\n# edited\n',
      saved: 'kind: VirtualService\n# edited\n'
    });
    expect(s().drafts).toEqual({});
    await vi.runAllTimersAsync();
  });

  it('save writes the file and shows the reload result; a rejected reload keeps the error', async () => {
    const { api, s } = setup();
    await s().loadConfig();
    await s().openFile('/p/istio/vs.yaml');
    s().setEditorText('good: yes\n');
    await s().saveFile();
    expect(api.files['/p/istio/vs.yaml']).toBe('good: yes\n');
    expect(s().saveResult).toMatchObject({ ok: true, version: 2 });
    expect(selectDirty(s())).toBe(false);
    expect(s().config?.version).toBe(2);

    api.writeResult = () =>
      reload({ ok: false, version: 2, error: 'IST0003 bad indentation', issues: [issue(1, 'IST0003')] });
    s().setEditorText('bad\n');
    await s().saveFile();
    expect(s().saveResult).toMatchObject({ ok: false, error: 'IST0003 bad indentation' });
    expect(selectDirty(s())).toBe(false);
  });

  it('save with validation errors asks first: Cancel writes nothing, Save anyway writes; warnings alone do not ask', async () => {
    const { api, s } = setup();
    const warning = (line: number): ValidationIssue => ({ ...issue(line, 'IST0173'), severity: 'warning' });
    api.issuesFor = (content) =>
      content.includes('bad')
        ? [
            issue(2),
            issue(3, 'IST0003'),
            warning(4),
            { ...issue(1), where: { file: '/p/istio/other.yaml', line: 1, column: 1 } }
          ]
        : content.includes('meh')
          ? [warning(2)]
          : [];
    await s().loadConfig();
    await s().loadFiles();
    await s().openFile('/p/istio/vs.yaml');
    await vi.runAllTimersAsync();
    const writes = () => api.calls.filter((c) => c.method === 'writeIstioFile').length;

    // typed and saved at once (before the debounced check): Save validates this text first, then asks
    s().setEditorText('kind: VirtualService\nbad: 1\n');
    await s().saveFile();
    expect(s().saveConfirm).toEqual({
      path: '/p/istio/vs.yaml',
      relative: 'istio/vs.yaml',
      errors: 3,
      runningVersion: 1
    });
    expect(writes()).toBe(0);
    expect(s().saving).toBe(false);

    // Cancel: nothing written, the edit stays
    s().cancelSave();
    expect(s().saveConfirm).toBeNull();
    expect(writes()).toBe(0);
    expect(selectDirty(s())).toBe(true);

    // Save anyway: written; the engine's verdict is shown as before
    api.writeResult = () => reload({ ok: false, version: 1, error: 'IST0101 problem on 2', issues: [issue(2)] });
    await s().saveFile();
    expect(s().saveConfirm?.errors).toBe(3);
    await s().confirmSave();
    expect(s().saveConfirm).toBeNull();
    expect(writes()).toBe(1);
    expect(api.files['/p/istio/vs.yaml']).toBe('kind: VirtualService\nbad: 1\n');
    expect(s().saveResult).toMatchObject({ ok: false });

    // warnings only: saved without asking
    api.writeResult = () => reload({ ok: true, version: 2 });
    s().setEditorText('kind: VirtualService\nmeh: 1\n');
    await vi.runAllTimersAsync();
    await s().saveFile();
    expect(s().saveConfirm).toBeNull();
    expect(writes()).toBe(2);
    expect(s().saveResult).toMatchObject({ ok: true, version: 2 });
  });

  it('a failing write keeps the text dirty and shows the error code', async () => {
    const { api, s } = setup();
    await s().openFile('/p/istio/vs.yaml');
    s().setEditorText('x: 1\n');
    api.fail.writeIstioFile = Object.assign(new Error('outside the Istio paths'), { code: 'LM201' });
    await s().saveFile();
    expect(s().saveError).toEqual({ code: 'LM201', message: 'outside the Istio paths' });
    expect(selectDirty(s())).toBe(true);
  });

  it('detects a fault on a service from its VirtualService', async () => {
    const { api, s } = setup();
    api.config = config({
      resources: [
        vs('ratings', {
          hosts: ['ratings'],
          http: [{ name: 'jason', fault: { abort: { httpStatus: 500, percentage: { value: 50 } } } }, { name: 'rest' }]
        }),
        vs('reviews', { hosts: ['reviews.default.svc.cluster.local'], http: [{ route: [] }] })
      ]
    });
    await s().loadWorkloads();
    await s().loadConfig();
    const faults = selectFaults(s());
    expect(faults['ratings']).toMatchObject({
      resource: 'VirtualService default/ratings',
      rules: [{ index: 0, name: 'jason', text: 'abort 500 (50%)' }]
    });
    expect(faults['reviews']).toBeNull();
  });

  it('quick action: plan, review, save; the dialog closes on an ok reload', async () => {
    const { api, s } = setup();
    await s().loadWorkloads();
    await s().loadConfig();
    s().openQuickAction('fault', 'ratings');
    s().updateQuickDraft({ delayMs: '2000', abortStatus: '', percentage: '25' });
    await s().previewQuick();
    expect(api.calls.find((c) => c.method === 'planQuickAction')?.args).toEqual([
      { type: 'fault', service: 'ratings', delayMs: 2000, percentage: 25 }
    ]);
    expect(s().quick?.plan?.after).toBe('b\n');
    await s().saveQuick();
    expect(api.files['/p/istio/vs.yaml']).toBe('b\n');
    expect(s().quick).toBeNull();
    expect(s().notice?.kind).toBe('ok');
  });

  it('quick action: a form error is shown without calling the engine; editing drops the plan', async () => {
    const { api, s } = setup();
    await s().loadWorkloads();
    s().openQuickAction('fault', 'ratings');
    s().updateQuickDraft({ delayMs: '', abortStatus: '' });
    await s().previewQuick();
    expect(s().quick?.error?.message).toBe('Set a delay, an abort status, or both.');
    expect(api.calls.some((c) => c.method === 'planQuickAction')).toBe(false);
    s().updateQuickDraft({ abortStatus: '503' });
    await s().previewQuick();
    expect(s().quick?.plan).not.toBeNull();
    s().updateQuickDraft({ percentage: '10' });
    expect(s().quick?.plan).toBeNull();
  });

  it('quick action: a rejected reload keeps the dialog open with the error', async () => {
    const { api, s } = setup();
    await s().loadWorkloads();
    s().openQuickAction('timeout', 'reviews');
    s().updateQuickDraft({ timeoutMs: '500', retries: '2' });
    await s().previewQuick();
    expect(api.calls.find((c) => c.method === 'planQuickAction')?.args[0]).toEqual({
      type: 'timeout',
      service: 'reviews',
      timeoutMs: 500,
      retries: { attempts: 2 }
    });
    api.writeResult = () => reload({ ok: false, version: 1, error: 'IST0106 schema' });
    await s().saveQuick();
    expect(s().quick?.error?.code).toBe('LM105');
    expect(s().quick?.error?.message).toContain('IST0106 schema');
  });

  it('remove fault plans a clear-fault action at once', async () => {
    const { api, s } = setup();
    await s().loadWorkloads();
    s().openQuickAction('clear-fault', 'ratings');
    await vi.runAllTimersAsync();
    expect(api.calls.find((c) => c.method === 'planQuickAction')?.args).toEqual([
      { type: 'clear-fault', service: 'ratings' }
    ]);
    expect(s().quick?.plan).not.toBeNull();
  });
});
