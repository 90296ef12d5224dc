/**
 * zod schemas for the arguments of every MeshApi method: transports validate what crosses a process or network
 * boundary before calling the engine (IPC handler wrapper, admin server).
 */
import { z } from 'zod';
import { MAX_LOG_QUERY_LIMIT, type MeshApi } from './api.js';
import { QuickActionSchema } from './quick-actions.js';

const fileContent = z.strictObject({ path: z.string().min(1), content: z.string().max(5 * 1024 * 1024) });

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO date-time');
const sessionId = z.coerce.number().int().min(1);

/** listFlows / exportHar filters (GET: values arrive as strings, hence the coercions). */
export const FlowQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
  before: z.string().min(1).optional(),
  session: sessionId.optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  caller: z.string().min(1).optional(),
  service: z.string().min(1).optional(),
  workload: z.string().min(1).optional(),
  method: z.string().min(1).max(32).optional(),
  status: z.enum(['1xx', '2xx', '3xx', '4xx', '5xx']).optional(),
  flag: z
    .string()
    .regex(/^[A-Z]{2,4}$/, 'an Envoy response flag such as UF')
    .optional(),
  text: z.string().min(1).max(1000).optional(),
  reporter: z.enum(['source', 'destination']).optional(),
  requestId: z.string().min(1).optional(),
  traceId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, '32 lowercase hex digits')
    .optional()
});
const flowQuery = FlowQuerySchema;

const harNameValue = z.looseObject({ name: z.string(), value: z.string() });
/** HAR 1.2, as strict as the spec's required fields; extra fields (custom "_x", comments) are allowed. */
export const HarSchema = z.looseObject({
  log: z.looseObject({
    version: z.string(),
    creator: z.looseObject({ name: z.string(), version: z.string() }),
    entries: z
      .array(
        z.looseObject({
          startedDateTime: isoTime,
          time: z.number().min(-1),
          request: z.looseObject({
            method: z.string().min(1),
            url: z.string().min(1),
            httpVersion: z.string(),
            cookies: z.array(z.looseObject({ name: z.string(), value: z.string() })),
            headers: z.array(harNameValue),
            queryString: z.array(harNameValue),
            postData: z
              .looseObject({ mimeType: z.string(), text: z.string().optional(), encoding: z.string().optional() })
              .optional(),
            headersSize: z.number(),
            bodySize: z.number()
          }),
          response: z.looseObject({
            status: z.number().int(),
            statusText: z.string(),
            httpVersion: z.string(),
            cookies: z.array(z.looseObject({ name: z.string(), value: z.string() })),
            headers: z.array(harNameValue),
            content: z.looseObject({
              size: z.number(),
              mimeType: z.string(),
              text: z.string().optional(),
              encoding: z.string().optional()
            }),
            redirectURL: z.string(),
            headersSize: z.number(),
            bodySize: z.number()
          }),
          cache: z.looseObject({}),
          timings: z.looseObject({ send: z.number(), wait: z.number(), receive: z.number() })
        })
      )
      .max(100_000)
  })
});

/** Standard or URL-safe base64, padded or not, whitespace allowed between groups. */
const BASE64 = /^[\sA-Za-z0-9+/_-]*={0,2}\s*$/;

const replayEdit = z
  .strictObject({
    method: z
      .string()
      .regex(/^[A-Z]{1,32}$/, 'an HTTP method in capitals')
      .optional(),
    path: z.string().startsWith('/').optional(),
    headers: z.record(z.string().min(1), z.string().nullable()).optional(),
    body: z.string().optional(),
    bodyEncoding: z.enum(['utf8', 'base64']).optional()
  })
  // a base64 body must be base64 (Buffer.from would drop what is not, and send something else than was asked)
  .refine((e) => e.bodyEncoding !== 'base64' || e.body === undefined || BASE64.test(e.body), {
    message: 'body is not base64 (bodyEncoding: base64)',
    path: ['body']
  });

export const MESH_API_ARGS = {
  health: z.tuple([]),
  listWorkloads: z.tuple([]),
  getConfig: z.tuple([]),
  reload: z.tuple([]),
  listFlows: z.tuple([flowQuery.optional()]),
  getFlow: z.tuple([z.strictObject({ id: z.string().min(1) })]),
  clearFlows: z.tuple([]),
  listIstioFiles: z.tuple([]),
  readIstioFile: z.tuple([z.strictObject({ path: z.string().min(1) })]),
  validateIstioText: z.tuple([fileContent]),
  writeIstioFile: z.tuple([fileContent]),
  planQuickAction: z.tuple([QuickActionSchema]),
  getSecurity: z.tuple([]),
  listSessions: z.tuple([]),
  startSession: z.tuple([z.strictObject({ label: z.string().min(1).max(200).optional() }).optional()]),
  stopSession: z.tuple([]),
  deleteSession: z.tuple([z.strictObject({ id: sessionId })]),
  exportHar: z.tuple([flowQuery.optional()]),
  importHar: z.tuple([
    z.strictObject({ har: HarSchema, label: z.string().min(1).max(200).optional(), reuse: z.boolean().optional() })
  ]),
  replayFlow: z.tuple([
    z.strictObject({ id: z.string().min(1), as: z.string().min(1).optional(), edit: replayEdit.optional() })
  ]),
  compareFlows: z.tuple([z.strictObject({ a: z.string().min(1), b: z.string().min(1) })]),
  compareSessions: z.tuple([z.strictObject({ a: sessionId, b: sessionId })]),
  getTrace: z.tuple([z.strictObject({ traceId: z.string().regex(/^[0-9a-f]{32}$/, '32 lowercase hex digits') })]),
  getGraph: z.tuple([
    z
      .strictObject({
        windowSec: z.coerce
          .number()
          .int()
          .min(1)
          .max(30 * 86400)
          .optional(),
        session: sessionId.optional()
      })
      .optional()
  ]),
  getMetrics: z.tuple([
    z.strictObject({
      service: z.string().min(1),
      windowSec: z.coerce
        .number()
        .int()
        .min(10)
        .max(30 * 86400)
        .optional(),
      stepSec: z.coerce.number().int().min(1).max(86400).optional()
    })
  ]),
  restartProcess: z.tuple([z.string().min(1), z.string().min(1).optional()]),
  stopProcess: z.tuple([z.string().min(1), z.string().min(1).optional()]),
  listLogs: z.tuple([
    z
      .strictObject({
        workload: z.string().min(1).optional(),
        limit: z.coerce.number().int().min(1).max(MAX_LOG_QUERY_LIMIT).optional()
      })
      .optional()
  ])
} satisfies Record<Exclude<keyof MeshApi, 'onEvent'>, z.ZodTypeAny>;

export type MeshApiMethod = keyof typeof MESH_API_ARGS;
