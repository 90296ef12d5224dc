/**
 * Quick actions: edits the UI offers that write real Istio YAML for the user (shown as a diff before saving).
 * Nothing the UI changes lives only in memory.
 */
import { z } from 'zod';

const target = {
  /** Service short name (`ratings`) in the mesh's namespace, or `name.namespace`. */
  service: z.string().min(1),
  /** Limit the change to one rule of the service's VirtualService (index into spec.http); all rules when absent. */
  rule: z.number().int().min(0).optional()
};

export const FaultAction = z.strictObject({
  type: z.literal('fault'),
  ...target,
  delayMs: z.number().int().min(1).max(3_600_000).optional(),
  abortStatus: z.number().int().min(200).max(599).optional(),
  /** 0–100, applies to both delay and abort. */
  percentage: z.number().min(0).max(100).default(100),
  /** Only requests carrying this header value (a new first rule matching it). */
  header: z.strictObject({ name: z.string().min(1), value: z.string() }).optional(),
  /** Only calls from this workload (a new first rule matching its labels with `sourceLabels`): a fault on one edge. */
  from: z.string().min(1).optional()
});

export const ClearFaultAction = z.strictObject({ type: z.literal('clear-fault'), ...target });

export const ShiftAction = z.strictObject({
  type: z.literal('shift'),
  service: z.string().min(1),
  /** subset name → relative weight. */
  weights: z
    .record(z.string(), z.number().int().min(0))
    .refine((w) => Object.values(w).some((v) => v > 0), 'at least one weight must be above 0')
});

export const TimeoutAction = z.strictObject({
  type: z.literal('timeout'),
  ...target,
  /** Route timeout in ms; 0 or absent removes it. */
  timeoutMs: z.number().int().min(0).optional(),
  retries: z
    .strictObject({
      attempts: z.number().int().min(0).max(20),
      perTryTimeoutMs: z.number().int().min(1).optional(),
      retryOn: z.string().optional()
    })
    .optional()
});

/** Require mutual TLS: a PeerAuthentication with mode STRICT for one workload (selector) or its whole namespace. */
export const StrictMtlsAction = z.strictObject({
  type: z.literal('mtls-strict'),
  scope: z.enum(['workload', 'namespace']),
  /** Workload name (scope workload) — its namespace is used for scope namespace too. */
  workload: z.string().min(1)
});

export const QuickActionSchema = z.discriminatedUnion('type', [
  FaultAction,
  ClearFaultAction,
  ShiftAction,
  TimeoutAction,
  StrictMtlsAction
]);
export type QuickAction = z.input<typeof QuickActionSchema>;
