import { describe, expect, it } from 'vitest';
import { createMeshStore } from './index.js';
import { fakeApi, workload } from './fake-api.js';
import { THEME_KEY } from './ui-slice.js';

function memoryStorage(initial: Record<string, string> = {}) {
  const data = { ...initial };
  return { data, getItem: (k: string) => data[k] ?? null, setItem: (k: string, v: string) => void (data[k] = v) };
}

describe('ui slice', () => {
  it('follows the system theme until the user picks one, then persists the choice', () => {
    const storage = memoryStorage();
    const store = createMeshStore({ api: fakeApi(), storage, prefersDark: true });
    const s = () => store.getState();
    expect(s().theme).toBe('dark');
    s().setSystemTheme(false);
    expect(s().theme).toBe('light');
    s().toggleTheme();
    expect(s().theme).toBe('dark');
    expect(storage.data[THEME_KEY]).toBe('dark');
    s().setSystemTheme(false);
    expect(s().theme).toBe('dark');
    const again = createMeshStore({ api: fakeApi(), storage, prefersDark: false });
    expect(again.getState().theme).toBe('dark');
  });

  it('init loads everything and becomes ready; a failure shows a banner with the code', async () => {
    const api = fakeApi();
    api.workloads = [workload({ name: 'a-v1', service: 'a' })];
    const store = createMeshStore({ api });
    await store.getState().init();
    expect(store.getState()).toMatchObject({ ready: true, connection: 'connected', banner: null });
    expect(api.calls.map((c) => c.method).sort()).toEqual([
      'getConfig',
      'listFlows',
      'listIstioFiles',
      'listSessions',
      'listWorkloads'
    ]);

    const down = fakeApi();
    down.fail.listWorkloads = Object.assign(new Error('admin API at http://x unreachable'), { code: 'LM500' });
    const s2 = createMeshStore({ api: down });
    await s2.getState().init();
    expect(s2.getState()).toMatchObject({ ready: false, connection: 'disconnected' });
    expect(s2.getState().banner).toMatchObject({ code: 'LM500', source: 'load' });
  });

  it('an engine back with a new token replaces the lost-connection banner with what to do (LM204)', async () => {
    const api = fakeApi();
    const store = createMeshStore({ api });
    await store.getState().init();
    api.fail.health = Object.assign(new Error('fetch failed'), { code: 'LM500' });
    await store.getState().checkHealth();
    expect(store.getState().banner?.code).toBe('LM500');
    await store.getState().checkHealth(); // the same trouble: the banner stays as it is
    expect(store.getState().banner?.code).toBe('LM500');
    api.fail.health = Object.assign(new Error('the admin API needs the admin token: open the URL'), { code: 'LM204' });
    await store.getState().checkHealth();
    expect(store.getState().banner).toMatchObject({ code: 'LM204', source: 'connection' });
    expect(store.getState().banner?.message).toMatch(/^The mesh engine answers again but not to this window/);
  });

  it('health polling marks the mesh disconnected and reloads when it comes back', async () => {
    const api = fakeApi();
    const store = createMeshStore({ api });
    await store.getState().init();
    api.fail.health = Object.assign(new Error('fetch failed'), { code: 'LM500' });
    await store.getState().checkHealth();
    expect(store.getState().connection).toBe('disconnected');
    expect(store.getState().banner?.source).toBe('connection');
    delete api.fail.health;
    const loadsBefore = api.calls.filter((c) => c.method === 'listWorkloads').length;
    await store.getState().checkHealth();
    expect(store.getState()).toMatchObject({ connection: 'connected', banner: null });
    expect(api.calls.filter((c) => c.method === 'listWorkloads').length).toBe(loadsBefore + 1);
  });

  it('switches views', () => {
    const store = createMeshStore({ api: fakeApi() });
    store.getState().setView('traffic');
    expect(store.getState().view).toBe('traffic');
  });
});
