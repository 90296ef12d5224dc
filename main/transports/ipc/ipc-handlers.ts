/**
 * MeshApi over Electron IPC, main side, without Electron: one handler per MeshApi method, generated from
 * `MESH_API_METHODS` / `MESH_API_ARGS` (no per-method code). Every handler goes through one wrapper that
 *   1. refuses a sender whose frame URL is not trusted (LM203 "forbidden sender"), before anything else runs;
 *   2. parses the arguments with the method's zod tuple (LM201 with the zod issues in `details`);
 *   3. calls the api with the *parsed* arguments (defaults and coercions applied);
 *   4. turns any failure into a plain `{ __meshError: { code, message, where?, details? } }` value.
 *
 * Why a value and not a rejection: `ipcMain.handle` sends a rejection to the renderer as the string
 * "Error invoking remote method '<channel>': <String(err)>", dropping `code`, `where` and `details`. So the handler
 * *resolves* with the envelope and the preload rethrows it as an Error (preload/index.ts). No MeshApi result has a
 * `__meshError` key, so the two cannot be confused.
 *
 * ipc-main.ts registers these with `ipcMain.handle`; this file stays free of `electron` so it is unit-tested in Node.
 */
import { MESH_API_METHODS, type MeshApi } from '../../contract/api.js';
import { MESH_API_ARGS, type MeshApiMethod } from '../../contract/api-schema.js';
import { ErrorCodes, MeshError, isMeshError, type MeshErrorData } from '../../contract/errors.js';

/**
 * Channel names: `localmesh:<method>` for calls, plus the two main → renderer channels: `localmesh:events` (batches
 * of engine events, IPC_EVENTS_CHANNEL in ipc-events.ts) and this one.
 */
export const IPC_CHANNEL_PREFIX = 'localmesh:';
export const IPC_NAVIGATE_CHANNEL = 'localmesh:navigate';

/** The sender is not our window's page: LM203 "forbidden sender". */
export const FORBIDDEN_SENDER_CODE = ErrorCodes.FORBIDDEN;

export type IpcChannel = `localmesh:${MeshApiMethod}`;

/** The part of Electron's IpcMainInvokeEvent the wrapper reads. */
export interface IpcSenderEvent {
  senderFrame: { url: string } | null;
}

export type IpcHandler = (event: IpcSenderEvent, ...args: unknown[]) => Promise<unknown>;

export interface IpcErrorEnvelope {
  __meshError: MeshErrorData;
}

export interface IpcHandlerOptions {
  /** True when a frame at this URL may call the api (our own index.html). */
  isTrustedSender(url: string): boolean;
  /** Told about unexpected (LM500) failures and refused senders; default: nothing. */
  log?: (line: string) => void;
}

type AnyMethod = (...args: unknown[]) => Promise<unknown>;

export function ipcChannel(method: MeshApiMethod): IpcChannel {
  return `${IPC_CHANNEL_PREFIX}${method}`;
}

export function isIpcErrorEnvelope(value: unknown): value is IpcErrorEnvelope {
  const inner = (value as { __meshError?: unknown } | null | undefined)?.__meshError;
  return typeof inner === 'object' && inner !== null && typeof (inner as MeshErrorData).code === 'string';
}

export function createIpcHandlers(api: MeshApi, opts: IpcHandlerOptions): Record<IpcChannel, IpcHandler> {
  const log = opts.log ?? (() => undefined);
  const handlers = {} as Record<IpcChannel, IpcHandler>;
  for (const method of Object.keys(MESH_API_METHODS) as MeshApiMethod[]) {
    const schema = MESH_API_ARGS[method];
    handlers[ipcChannel(method)] = async (event, ...rawArgs) => {
      try {
        checkSender(event, opts.isTrustedSender);
        const parsed = schema.safeParse(withoutTrailingUndefined(rawArgs));
        if (!parsed.success) {
          const first = parsed.error.issues[0];
          const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
          throw new MeshError(
            ErrorCodes.BAD_REQUEST,
            `invalid arguments for ${method}: ${where}${first?.message ?? 'rejected'}`,
            { details: { issues: parsed.error.issues } }
          );
        }
        return await (api[method] as unknown as AnyMethod).apply(api, parsed.data as unknown[]);
      } catch (err) {
        const envelope = toIpcErrorEnvelope(err);
        if (envelope.__meshError.code === ErrorCodes.INTERNAL || envelope.__meshError.code === FORBIDDEN_SENDER_CODE) {
          log(`ipc ${method}: ${envelope.__meshError.code} ${envelope.__meshError.message}`);
        }
        return envelope;
      }
    };
  }
  return handlers;
}

function checkSender(event: IpcSenderEvent, isTrusted: (url: string) => boolean): void {
  const url = event.senderFrame?.url;
  if (url === undefined) throw new MeshError(FORBIDDEN_SENDER_CODE, 'forbidden sender: the calling frame is gone');
  if (!isTrusted(url)) throw new MeshError(FORBIDDEN_SENDER_CODE, `forbidden sender: ${url || '(empty URL)'}`);
}

/** `listFlows(undefined)` arrives as `[undefined]`; the HTTP client drops trailing undefined arguments too. */
function withoutTrailingUndefined(args: unknown[]): unknown[] {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  return end === args.length ? args : args.slice(0, end);
}

/** Any thrown value → a structured-clone-safe envelope; a MeshError keeps its code, anything else is LM500. */
export function toIpcErrorEnvelope(err: unknown): IpcErrorEnvelope {
  let data: MeshErrorData;
  if (isMeshError(err)) {
    data = { code: err.code, message: err.message };
    if (err.where !== undefined) data.where = err.where;
    if (err.details !== undefined) data.details = plain(err.details);
  } else {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    data = { code: ErrorCodes.INTERNAL, message: `internal error: ${message}` };
  }
  return { __meshError: data };
}

/** Details must survive structured clone: keep what JSON keeps, drop what it cannot represent. */
function plain(value: unknown): unknown {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? undefined : (JSON.parse(json) as unknown);
  } catch {
    return undefined;
  }
}
