import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FlowRecord } from '../../../main/contract/api.js';
import { createMeshStore } from './index.js';
import { fakeApi, flow, reload, security, workload } from './fake-api.js';
import {
  contradicts,
  isRbacDenied,
  matrixLayout,
  observedCalls,
  observedKey,
  observedOutside,
  observedState,
  selectObservedCalls
} from './selectors.js';

function setup() {
  const api = fakeApi();
  api.workloads = [
    workload({ name: 'productpage-v1', service: 'productpage' }),
    workload({ name: 'reviews-v1', service: 'reviews' }),
    workload({ name: 'legacy-v1', service: 'legacy', sidecar: false, outbound: null })
  ];
  const store = createMeshStore({ api, batchMs: 0, now: () => 42_000 });
  return { api, store, s: () => store.getState() };
}

const securityCalls = (api: ReturnType<typeof fakeApi>) => api.calls.filter((c) => c.method === 'getSecurity').length;

describe('security slice', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('is not loaded at start; opening the view loads it', async () => {
    const { api, s } = setup();
    await s().init();
    expect(s().securityStatus).toBe('idle');
    expect(securityCalls(api)).toBe(0);
    s().setView('security');
    expect(s().securityStatus).toBe('loading');
    await vi.runAllTimersAsync();
    expect(s().securityStatus).toBe('ready');
    expect(s().security?.ca.fingerprint256).toBe('AB:CD:EF');
    expect(s().security?.workloads.map((w) => w.workload)).toEqual(['productpage-v1', 'reviews-v1']);
    expect(s().securityLoadedAt).toBe(42_000);
  });

  it('keeps the load error with its code, and retries', async () => {
    const { api, s } = setup();
    api.fail.getSecurity = Object.assign(new Error('the mesh CA is not readable'), { code: 'LM500' });
    expect(await s().loadSecurity()).toBe(false);
    expect(s().securityStatus).toBe('error');
    expect(s().securityError).toEqual({ code: 'LM500', message: 'the mesh CA is not readable' });
    expect(s().security).toBeNull();
    delete api.fail.getSecurity;
    expect(await s().loadSecurity()).toBe(true);
    expect(s()).toMatchObject({ securityStatus: 'ready', securityError: null });
  });

  it('a failed quiet refresh keeps the data shown and says why', async () => {
    const { api, s } = setup();
    await s().loadSecurity();
    api.fail.getSecurity = Object.assign(new Error('engine gone'), { code: 'LM500' });
    expect(await s().loadSecurity({ quiet: true })).toBe(false);
    expect(s().securityStatus).toBe('ready');
    expect(s().security).not.toBeNull();
    expect(s().securityError?.code).toBe('LM500');
  });

  it('refreshes quietly on a config event once loaded (not before)', async () => {
    const { api, s } = setup();
    s().ingest({ type: 'config', reload: reload({ version: 2 }) });
    await vi.runAllTimersAsync();
    expect(securityCalls(api)).toBe(0);

    await s().loadSecurity();
    api.security = security({
      workloads: api.security.workloads.map((w) =>
        w.workload === 'reviews-v1'
          ? { ...w, mtls: [{ port: 19081, mode: 'STRICT', source: 'PeerAuthentication default/reviews-v1-strict' }] }
          : w
      )
    });
    s().ingest({ type: 'config', reload: reload({ version: 3 }) });
    // Quiet: no loading flash while the refresh is on its way.
    expect(s().securityStatus).toBe('ready');
    await vi.runAllTimersAsync();
    expect(securityCalls(api)).toBe(2);
    expect(s().security?.workloads.find((w) => w.workload === 'reviews-v1')?.mtls[0]?.mode).toBe('STRICT');
  });

  it('an older answer does not overwrite a newer one', async () => {
    const { api, s } = setup();
    const answers: ((v: unknown) => void)[] = [];
    api.getSecurity = () => new Promise((resolve) => answers.push(resolve as (v: unknown) => void));
    const first = s().loadSecurity();
    const second = s().loadSecurity({ quiet: true });
    answers[1]!(security({ matrix: [] }));
    await second;
    answers[0]!(security());
    await first;
    expect(s().security?.matrix).toEqual([]);
  });

  it('"Require mTLS" plans an mtls-strict action for the workload or its namespace, then saves it', async () => {
    const { api, s } = setup();
    await s().loadWorkloads();
    await s().loadSecurity();
    api.plan = {
      path: '/p/istio/peer-authentication-reviews-v1.yaml',
      relative: 'istio/peer-authentication-reviews-v1.yaml',
      before: '',
      after: 'kind: PeerAuthentication\n',
      summary: 'Require mutual TLS (STRICT) for workload reviews-v1'
    };
    s().openStrictMtls('reviews-v1', 'workload');
    await vi.runAllTimersAsync();
    expect(api.calls.filter((c) => c.method === 'planQuickAction').map((c) => c.args[0])).toEqual([
      { type: 'mtls-strict', scope: 'workload', workload: 'reviews-v1' }
    ]);
    expect(s().quick?.plan?.after).toBe('kind: PeerAuthentication\n');
    const before = securityCalls(api);
    await s().saveQuick();
    expect(api.files['/p/istio/peer-authentication-reviews-v1.yaml']).toBe('kind: PeerAuthentication\n');
    expect(s().quick).toBeNull();
    await vi.runAllTimersAsync();
    // The save reloads the config: the security view follows.
    expect(securityCalls(api)).toBe(before + 1);

    s().openStrictMtls('productpage-v1', 'namespace');
    await vi.runAllTimersAsync();
    expect(api.calls.filter((c) => c.method === 'planQuickAction').at(-1)?.args[0]).toEqual({
      type: 'mtls-strict',
      scope: 'namespace',
      workload: 'productpage-v1'
    });
    // Switching the scope in the dialog drops the plan until it is previewed again.
    s().updateQuickDraft({ scope: 'workload' });
    expect(s().quick?.plan).toBeNull();
    await s().previewQuick();
    expect(api.calls.filter((c) => c.method === 'planQuickAction').at(-1)?.args[0]).toEqual({
      type: 'mtls-strict',
      scope: 'workload',
      workload: 'productpage-v1'
    });
  });

  it('switching the dialog to mtls-strict picks a workload with a sidecar of the service', async () => {
    const { s } = setup();
    await s().loadWorkloads();
    s().openQuickAction('fault', 'reviews');
    s().updateQuickDraft({ kind: 'mtls-strict' });
    expect(s().quick?.draft).toMatchObject({ kind: 'mtls-strict', workload: 'reviews-v1', scope: 'workload' });
    s().updateQuickDraft({ workload: 'productpage-v1' });
    expect(s().quick?.draft.service).toBe('productpage');
  });
});

describe('observed-call overlay', () => {
  const denied = (over: Partial<FlowRecord> & { id: string }) =>
    flow({
      status: 403,
      localReply: 'RBAC: access denied',
      trace: [
        { step: 'inbound', detail: 'from sidecar of reviews-v1 -> app at 127.0.0.1:19082' },
        { step: 'authz', detail: 'denied: no ALLOW policy matched' }
      ],
      ...over
    });

  const flows: FlowRecord[] = [
    // productpage → reviews over mTLS: two answered (200, and the app's own 404), one app failure.
    flow({ id: 'a', connectionSecurity: 'mutual_tls' }),
    flow({ id: 'b', status: 404, connectionSecurity: 'mutual_tls', startedAt: '1970-01-01T00:00:05.000Z' }),
    flow({ id: 'c', status: 503, connectionSecurity: 'mutual_tls' }),
    // The caller's record of the same request is not counted twice.
    flow({ id: 'a-src', reporter: 'source', requestId: 'req-a', connectionSecurity: 'mutual_tls' }),
    // reviews → reviews denied by policy.
    denied({ id: 'd', source: 'reviews-v1', connectionSecurity: 'mutual_tls' }),
    // A caller without sidecar, plaintext: one denied, one the app itself refused with 403 (no authz step).
    denied({ id: 'e', source: null, connectionSecurity: 'none' }),
    flow({ id: 'f', source: null, status: 403, connectionSecurity: 'none' }),
    // No destination workload known (an unknown host): not in the matrix.
    flow({ id: 'g', destination: null }),
    // A caller that is not in the matrix any more.
    flow({ id: 'h', source: 'old-v1', destination: 'reviews-v1' })
  ];

  it('tells an RBAC 403 from an app 403 by the authz trace step', () => {
    expect(isRbacDenied(flows.find((f) => f.id === 'e')!)).toBe(true);
    expect(isRbacDenied(flows.find((f) => f.id === 'f')!)).toBe(false);
    expect(isRbacDenied(flow({ id: 'x', status: 403, trace: [{ step: 'authz', detail: 'allowed: ALLOW x' }] }))).toBe(
      false
    );
  });

  it('groups destination records by caller and destination workload', () => {
    const calls = observedCalls(flows);
    expect(calls.get(observedKey('productpage-v1', 'reviews-v1'))).toEqual({
      from: 'productpage-v1',
      to: 'reviews-v1',
      total: 3,
      allowed: 2,
      denied: 0,
      failed: 1,
      mtls: 3,
      plaintext: 0,
      lastAt: '1970-01-01T00:00:05.000Z',
      lastVersion: 1,
      atLastVersion: { allowed: 2, denied: 0, failed: 1 }
    });
    expect(calls.get(observedKey('reviews-v1', 'reviews-v1'))).toMatchObject({ total: 1, denied: 1, mtls: 1 });
    expect(calls.get(observedKey('unknown', 'reviews-v1'))).toMatchObject({
      total: 2,
      allowed: 1,
      denied: 1,
      plaintext: 2,
      mtls: 0
    });
    expect([...calls.keys()].some((k) => k.endsWith('\u0000null'))).toBe(false);
    expect(calls.size).toBe(4);
  });

  it('summarises each cell as allowed, denied, mixed or failed', () => {
    const calls = observedCalls(flows);
    expect(observedState(calls.get(observedKey('productpage-v1', 'reviews-v1')))).toBe('allowed');
    expect(observedState(calls.get(observedKey('reviews-v1', 'reviews-v1')))).toBe('denied');
    expect(observedState(calls.get(observedKey('unknown', 'reviews-v1')))).toBe('mixed');
    expect(
      observedState(
        observedCalls([flow({ id: 'z', status: 0 })])
          .values()
          .next().value
      )
    ).toBe('failed');
    expect(observedState(undefined)).toBe('none');
  });

  it('flags calls that contradict the verdict only when they ran under the running config', () => {
    const cell = {
      from: 'unknown',
      to: 'ratings-v1',
      allowed: false,
      reason: 'STRICT mTLS: plaintext callers are refused'
    };
    // Answered before a reload made ratings STRICT (v1), none since.
    const before = observedCalls([flow({ id: 'p', source: null, destination: 'ratings-v1', configVersion: 1 })]);
    const o = before.get(observedKey('unknown', 'ratings-v1'));
    expect(contradicts(cell, o, 2)).toBe(false);
    // The same call under the running config does contradict it (a path- or method-specific rule).
    expect(contradicts(cell, o, 1)).toBe(true);
    // Outcomes under the newest version only: a denial at v3 after answers at v2.
    const mixed = observedCalls([
      flow({ id: 'q1', configVersion: 2 }),
      denied({ id: 'q2', source: 'productpage-v1', configVersion: 3 })
    ]).get(observedKey('productpage-v1', 'reviews-v1'))!;
    expect(mixed).toMatchObject({ allowed: 1, denied: 1, lastVersion: 3, atLastVersion: { allowed: 0, denied: 1 } });
    const allowedCell = { from: 'productpage-v1', to: 'reviews-v1', allowed: true, reason: 'ALLOW matched' };
    expect(contradicts(allowedCell, mixed, 3)).toBe(true);
    expect(contradicts({ ...allowedCell, allowed: false }, mixed, 3)).toBe(false);
    expect(contradicts(allowedCell, undefined, 3)).toBe(false);
  });

  it('lays the matrix out in workload order with the caller without sidecar last', () => {
    const m = matrixLayout(security());
    expect(m.callers).toEqual(['productpage-v1', 'reviews-v1', 'unknown']);
    expect(m.destinations).toEqual(['productpage-v1', 'reviews-v1']);
    expect(m.cells.get(observedKey('unknown', 'reviews-v1'))?.allowed).toBe(false);
    expect(observedOutside(observedCalls(flows), m).map((o) => `${o.from}->${o.to}`)).toEqual(['old-v1->reviews-v1']);
  });

  it('the store selector follows the traffic slice (and is memoized on the flows)', () => {
    const { s } = setup();
    s().appendFlows(flows);
    const a = selectObservedCalls(s());
    expect(a.get(observedKey('productpage-v1', 'reviews-v1'))?.total).toBe(3);
    expect(selectObservedCalls(s())).toBe(a);
    s().appendFlows([flow({ id: 'i', connectionSecurity: 'none' })]);
    expect(selectObservedCalls(s()).get(observedKey('productpage-v1', 'reviews-v1'))).toMatchObject({
      total: 4,
      plaintext: 1
    });
  });
});
