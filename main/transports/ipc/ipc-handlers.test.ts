// The IPC wrapper without Electron: a fake MeshApi records what reaches it; events imitate IpcMainInvokeEvent.
import { describe, expect, it } from 'vitest';
import { MESH_API_METHODS, type MeshApi } from '../../contract/api.js';
import { ErrorCodes, MeshError } from '../../contract/errors.js';
import {
  createIpcHandlers,
  ipcChannel,
  isIpcErrorEnvelope,
  type IpcErrorEnvelope,
  type IpcSenderEvent
} from './ipc-handlers.js';

const TRUSTED = 'file:///opt/localmesh/resources/app.asar/out/renderer/index.html';
const trusted: IpcSenderEvent = { senderFrame: { url: TRUSTED } };
const evil: IpcSenderEvent = { senderFrame: { url: 'https://evil.example/' } };

type Call = { method: string; args: unknown[] };

function fakeApi(overrides: Partial<Record<keyof MeshApi, (...args: unknown[]) => Promise<unknown>>> = {}) {
  const calls: Call[] = [];
  const api = { onEvent: () => () => undefined } as unknown as Record<string, unknown>;
  for (const method of Object.keys(MESH_API_METHODS)) {
    api[method] = async (...args: unknown[]) => {
      calls.push({ method, args });
      const impl = overrides[method as keyof MeshApi];
      return impl ? impl(...args) : { ok: method };
    };
  }
  return { api: api as unknown as MeshApi, calls };
}

function setup(overrides?: Parameters<typeof fakeApi>[0]) {
  const { api, calls } = fakeApi(overrides);
  const logged: string[] = [];
  const handlers = createIpcHandlers(api, { isTrustedSender: (url) => url === TRUSTED, log: (l) => logged.push(l) });
  return { handlers, calls, logged };
}

function errorOf(result: unknown) {
  expect(isIpcErrorEnvelope(result)).toBe(true);
  return (result as IpcErrorEnvelope).__meshError;
}

describe('createIpcHandlers', () => {
  it('generates one localmesh:<method> channel per MeshApi method, and nothing else', () => {
    const { handlers } = setup();
    expect(Object.keys(handlers).sort()).toEqual(
      Object.keys(MESH_API_METHODS)
        .map((m) => `localmesh:${m}`)
        .sort()
    );
    expect(ipcChannel('getFlow')).toBe('localmesh:getFlow');
  });

  it('passes a trusted call through with the parsed arguments and returns the result', async () => {
    const { handlers, calls } = setup();
    await expect(handlers['localmesh:getFlow'](trusted, { id: 'f-1' })).resolves.toEqual({ ok: 'getFlow' });
    // zod output, not the raw input: coerced numbers and schema defaults arrive at the engine.
    await handlers['localmesh:listFlows'](trusted, { limit: '25' });
    await handlers['localmesh:planQuickAction'](trusted, { type: 'fault', service: 'ratings', abortStatus: 503 });
    await handlers['localmesh:restartProcess'](trusted, 'reviews-v1');
    expect(calls).toEqual([
      { method: 'getFlow', args: [{ id: 'f-1' }] },
      { method: 'listFlows', args: [{ limit: 25 }] },
      { method: 'planQuickAction', args: [{ type: 'fault', service: 'ratings', abortStatus: 503, percentage: 100 }] },
      { method: 'restartProcess', args: ['reviews-v1'] }
    ]);
  });

  it('drops trailing undefined arguments (an optional argument left out by the caller)', async () => {
    const { handlers, calls } = setup();
    await expect(handlers['localmesh:listFlows'](trusted, undefined)).resolves.toEqual({ ok: 'listFlows' });
    await expect(handlers['localmesh:health'](trusted, undefined)).resolves.toEqual({ ok: 'health' });
    expect(calls.map((c) => c.args)).toEqual([[], []]);
  });

  it('resolves undefined for void methods', async () => {
    const { handlers } = setup({ clearFlows: async () => undefined });
    await expect(handlers['localmesh:clearFlows'](trusted)).resolves.toBeUndefined();
  });

  it('refuses an untrusted sender with LM203 and never calls the api', async () => {
    const { handlers, calls, logged } = setup();
    const err = errorOf(await handlers['localmesh:getFlow'](evil, { id: 'f-1' }));
    expect(err.code).toBe('LM203');
    expect(err.message).toBe('forbidden sender: https://evil.example/');
    // The sender check runs before argument parsing: bad args from a bad sender are still LM203.
    expect(errorOf(await handlers['localmesh:getFlow'](evil, {})).code).toBe('LM203');
    expect(calls).toEqual([]);
    expect(logged.some((l) => l.includes('LM203'))).toBe(true);
  });

  it('refuses a destroyed frame (senderFrame null) and a same-scheme look-alike', async () => {
    const { handlers, calls } = setup();
    expect(errorOf(await handlers['localmesh:health']({ senderFrame: null })).code).toBe('LM203');
    const other = { senderFrame: { url: 'file:///tmp/evil/index.html' } };
    expect(errorOf(await handlers['localmesh:health'](other)).code).toBe('LM203');
    expect(calls).toEqual([]);
  });

  it('rejects bad arguments with LM201 and the zod issues in details', async () => {
    const { handlers, calls } = setup();
    const missingId = errorOf(await handlers['localmesh:getFlow'](trusted, {}));
    expect(missingId.code).toBe(ErrorCodes.BAD_REQUEST);
    expect(missingId.message).toMatch(/^invalid arguments for getFlow: /);
    const issues = (missingId.details as { issues: { path: unknown[] }[] }).issues;
    expect(issues[0]!.path).toEqual([0, 'id']);

    const unknownType = errorOf(
      await handlers['localmesh:planQuickAction'](trusted, { type: 'explode', service: 'x' })
    );
    expect(unknownType.code).toBe('LM201');
    expect((unknownType.details as { issues: unknown[] }).issues.length).toBeGreaterThan(0);

    expect(errorOf(await handlers['localmesh:health'](trusted, 'surprise')).code).toBe('LM201');
    expect(errorOf(await handlers['localmesh:restartProcess'](trusted, 42)).code).toBe('LM201');
    expect(calls).toEqual([]);
  });

  it('keeps an engine MeshError code, message, place and details', async () => {
    const where = { file: '/p/istio/vs.yaml', line: 3, column: 5 };
    const { handlers } = setup({
      getFlow: async () => {
        throw new MeshError(ErrorCodes.NOT_FOUND, 'no flow f-9', { where, details: { id: 'f-9' } });
      }
    });
    expect(errorOf(await handlers['localmesh:getFlow'](trusted, { id: 'f-9' }))).toEqual({
      code: 'LM202',
      message: 'no flow f-9',
      where,
      details: { id: 'f-9' }
    });
  });

  it('maps an unexpected error (TypeError) to LM500 and logs it', async () => {
    const { handlers, logged } = setup({
      listWorkloads: async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'name')");
      }
    });
    const err = errorOf(await handlers['localmesh:listWorkloads'](trusted));
    expect(err).toEqual({
      code: 'LM500',
      message: "internal error: TypeError: Cannot read properties of undefined (reading 'name')"
    });
    expect(logged).toEqual([expect.stringContaining('LM500')]);
  });

  it('makes the envelope structured-clone safe (details JSON-only)', async () => {
    const { handlers } = setup({
      reload: async () => {
        throw new MeshError(ErrorCodes.RELOAD_FAILED, 'nope', { details: { fn: () => 1, at: new Date(0), n: 1 } });
      }
    });
    const err = errorOf(await handlers['localmesh:reload'](trusted));
    expect(err.details).toEqual({ at: '1970-01-01T00:00:00.000Z', n: 1 });
    expect(() => structuredClone(err)).not.toThrow();
  });

  it('recognises only real envelopes', () => {
    expect(isIpcErrorEnvelope({ __meshError: { code: 'LM500', message: 'x' } })).toBe(true);
    for (const v of [undefined, null, 1, 'x', [], {}, { __meshError: null }, { __meshError: 'LM500' }]) {
      expect(isIpcErrorEnvelope(v)).toBe(false);
    }
  });
});
