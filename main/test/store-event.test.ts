// What the flow store holds, live: the `store` event on /api/v1/events follows the store's content (retention's
// deletions, clear, session deletes and imports), not the count of `flow` events, which only ever goes up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshEvent, StoreTotals } from '../contract/api.js';
import { createHttpMeshApi } from '../contract/http-client.js';
import { flowsToHar } from '../engine/capture/har.js';
import { startAdminServer, type AdminServer } from '../transports/http/admin-server.js';
import { flow } from './helpers/flow.js';
import { meshYaml, startMesh, stub, until, viaProxy, type Running, type Stub } from './helpers/harness.js';

const TOKEN = 'store-event-token';
/** The smallest count retention takes (spec.capture.maxFlows). */
const MAX_FLOWS = 100;

let web: Stub;
let api: Stub;
let m: Running;
let admin: AdminServer;

beforeAll(async () => {
  web = await stub('web');
  api = await stub('api');
  m = await startMesh({
    meshYaml: meshYaml(
      {
        web: { workloads: [{ name: 'web-v1', instances: [web.address] }] },
        api: { workloads: [{ name: 'api-v1', instances: [api.address] }] }
      },
      `  capture: {maxFlows: ${MAX_FLOWS}}`
    )
  });
  admin = await startAdminServer(m.mesh, { token: TOKEN });
});
afterAll(async () => {
  await admin?.close();
  await m?.close();
  await web?.close();
  await api?.close();
});

/** The `store` events of an SSE subscription to ?types=store, as they arrive. */
function subscribe(): { totals: StoreTotals[]; last: () => StoreTotals | undefined; close: () => void } {
  const client = createHttpMeshApi(admin.url, { token: TOKEN });
  const totals: StoreTotals[] = [];
  const close = client.onEvent(
    (e: MeshEvent) => {
      if (e.type === 'store') totals.push(e.store);
    },
    ['store']
  );
  return { totals, last: () => totals.at(-1), close };
}

/** Every flow the sessions say the store holds. */
async function stored(): Promise<number> {
  return (await m.mesh.listSessions()).reduce((n, s) => n + s.flows, 0);
}

describe('the `store` event', () => {
  it('tells what the store holds: a new subscriber at once, then as retention, clear, imports and deletes change it', async () => {
    await m.mesh.clearFlows();
    const sub = subscribe();
    try {
      await until(() => sub.last(), 'the totals a new subscriber gets');
      expect(sub.last()).toEqual({ flows: 0, capturedFlows: 0, capturedBytes: 0 });

      // 60 requests through two sidecars: 120 flows, of which retention keeps MAX_FLOWS
      for (let i = 0; i < 60; i++)
        expect((await viaProxy(m.outbound('web-v1'), 'api:9080', `/n/${i}`)).status).toBe(200);
      await until(() => sub.last()?.capturedFlows === MAX_FLOWS, 'retention to show in the totals');
      expect(await stored()).toBe(MAX_FLOWS);
      expect(sub.last()).toMatchObject({ flows: MAX_FLOWS, capturedFlows: MAX_FLOWS });
      const bytes = (await m.mesh.listSessions()).reduce((n, s) => n + s.bytes, 0);
      await until(() => sub.last()?.capturedBytes === bytes, 'the bytes of the flows kept');

      // an import adds its flows, outside retention; deleting it takes them off
      const imported = await m.mesh.importHar({
        har: flowsToHar([flow(1), flow(2)], { name: 'test', version: '1' }),
        label: 'two.har'
      });
      await until(() => sub.last()?.flows === MAX_FLOWS + 2, 'the import in the totals');
      expect(sub.last()?.capturedFlows).toBe(MAX_FLOWS);
      await m.mesh.deleteSession({ id: imported.id });
      await until(() => sub.last()?.flows === MAX_FLOWS, 'the deleted import gone from the totals');

      // clear: nothing captured is left
      await m.mesh.clearFlows();
      await until(() => sub.last()?.flows === 0, 'the clear in the totals');
      expect(await stored()).toBe(0);
    } finally {
      sub.close();
    }
  });

  it('is among the event types ?types= accepts', async () => {
    const res = await fetch(`${admin.url}/api/v1/events?types=nope`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/\bstore\b/);
  });
});
