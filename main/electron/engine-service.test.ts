// The engine host's logic with fake createMesh/startAdminServer: order of start-up, errors, close.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, MeshError } from '../contract/errors.js';
import type { Mesh } from '../engine/mesh.js';
import type { HostToMain } from './engine-protocol.js';
import { createEngineService, type EngineServiceDeps } from './engine-service.js';

function fakes(opts: { meshError?: Error; adminError?: Error } = {}) {
  const steps: string[] = [];
  const deps: EngineServiceDeps = {
    createMesh: (async (file: string, o: { seed?: number; launch?: boolean; log?: (l: string) => void }) => {
      steps.push(`createMesh ${file} seed=${o.seed} launch=${o.launch}`);
      o.log?.('sidecars up');
      if (opts.meshError) throw opts.meshError;
      return {
        launchProcesses: () => steps.push('launchProcesses'),
        close: async () => void steps.push(`mesh.close ${file}`)
      } as unknown as Mesh;
    }) as unknown as EngineServiceDeps['createMesh'],
    startAdminServer: (async (_mesh: Mesh, o: { port?: number; token?: string }) => {
      steps.push(`startAdminServer port=${o.port} token=${o.token}`);
      if (opts.adminError) throw opts.adminError;
      return { url: 'http://127.0.0.1:4321', port: 4321, close: async () => void steps.push('admin.close') };
    }) as unknown as EngineServiceDeps['startAdminServer']
  };
  const posted: HostToMain[] = [];
  const service = createEngineService((m) => posted.push(m), deps);
  return { service, steps, posted };
}

describe('createEngineService', () => {
  it('opens: mesh without processes, then the token-gated admin API, then the processes; answers ready', async () => {
    const { service, steps, posted } = fakes();
    await service({ type: 'open', meshFile: '/p/localmesh.yaml', seed: 7, token: 'tok' });
    expect(steps).toEqual([
      'createMesh /p/localmesh.yaml seed=7 launch=false',
      'startAdminServer port=0 token=tok',
      'launchProcesses'
    ]);
    expect(posted).toEqual([
      { type: 'log', line: 'sidecars up' },
      { type: 'ready', url: 'http://127.0.0.1:4321' }
    ]);
  });

  it('closes admin API and mesh on close, and answers closed', async () => {
    const { service, steps, posted } = fakes();
    void service({ type: 'open', meshFile: '/p/a.yaml', token: 't' });
    await service({ type: 'close' }); // queued behind the open
    expect(steps.slice(-2)).toEqual(['admin.close', 'mesh.close /p/a.yaml']);
    expect(posted.at(-1)).toEqual({ type: 'closed' });
  });

  it('a second open closes the first mesh before starting the next', async () => {
    const { service, steps } = fakes();
    void service({ type: 'open', meshFile: '/p/a.yaml', token: 't' });
    await service({ type: 'open', meshFile: '/p/b.yaml', token: 't' });
    expect(steps).toEqual([
      'createMesh /p/a.yaml seed=undefined launch=false',
      'startAdminServer port=0 token=t',
      'launchProcesses',
      'admin.close',
      'mesh.close /p/a.yaml',
      'createMesh /p/b.yaml seed=undefined launch=false',
      'startAdminServer port=0 token=t',
      'launchProcesses'
    ]);
  });

  it('reports a MeshError from the engine with its code', async () => {
    const { service, posted } = fakes({ meshError: new MeshError(ErrorCodes.MESH_SCHEMA, 'spec.services: bad') });
    await service({ type: 'open', meshFile: '/p/x.yaml', token: 't' });
    expect(posted.at(-1)).toEqual({ type: 'error', error: { code: 'LM003', message: 'spec.services: bad' } });
  });

  it('closes the mesh when the admin API cannot start, and reports anything unexpected as LM500', async () => {
    const { service, steps, posted } = fakes({ adminError: new Error('boom') });
    await service({ type: 'open', meshFile: '/p/x.yaml', token: 't' });
    expect(steps).toContain('mesh.close /p/x.yaml');
    expect(steps).not.toContain('launchProcesses');
    expect(posted.at(-1)).toEqual({ type: 'error', error: { code: 'LM500', message: 'boom' } });
  });

  it('ignores (and logs) messages it does not know', async () => {
    const { service, steps, posted } = fakes();
    await service({ type: 'open', meshFile: '', token: 't' });
    await service({ type: 'explode' });
    await service('close');
    expect(steps).toEqual([]);
    expect(posted.map((p) => p.type)).toEqual(['log', 'log', 'log']);
  });
});
