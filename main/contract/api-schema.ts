/**
 * zod schemas for the arguments of every MeshApi method: transports validate what crosses a process or network
 * boundary before calling the engine (IPC handler wrapper, admin server).
 */
import { z } from 'zod';
import type { MeshApi } from './api.js';
import { QuickActionSchema } from './quick-actions.js';

const fileContent = z.strictObject({ path: z.string().min(1), content: z.string().max(5 * 1024 * 1024) });

export const MESH_API_ARGS = {
  health: z.tuple([]),
  listWorkloads: z.tuple([]),
  getConfig: z.tuple([]),
  reload: z.tuple([]),
  listFlows: z.tuple([z.strictObject({ limit: z.coerce.number().int().min(1).max(100_000).optional(), before: z.string().min(1).optional() }).optional()]),
  getFlow: z.tuple([z.strictObject({ id: z.string().min(1) })]),
  clearFlows: z.tuple([]),
  listIstioFiles: z.tuple([]),
  readIstioFile: z.tuple([z.strictObject({ path: z.string().min(1) })]),
  validateIstioText: z.tuple([fileContent]),
  writeIstioFile: z.tuple([fileContent]),
  planQuickAction: z.tuple([QuickActionSchema]),
  getSecurity: z.tuple([]),
  restartProcess: z.tuple([z.string().min(1), z.string().min(1).optional()]),
  stopProcess: z.tuple([z.string().min(1), z.string().min(1).optional()])
} satisfies Record<Exclude<keyof MeshApi, 'onEvent'>, z.ZodTypeAny>;

export type MeshApiMethod = keyof typeof MESH_API_ARGS;
