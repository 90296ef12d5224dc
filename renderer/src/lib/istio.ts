/**
 * Reading Istio resources (ConfigView.resources) for the UI: which VirtualService covers a service, whether it
 * injects a fault, which subsets a DestinationRule declares, and the current traffic weights.
 * Host names follow Istio: a short name is relative to the namespace of the resource that wrote it.
 */
import type { IstioFileView, ResourceView } from '../../../main/contract/api.js';

const CLUSTER_DOMAIN = 'svc.cluster.local';

export function serviceFqdn(service: string, namespace: string): string {
  return `${service}.${namespace}.${CLUSTER_DOMAIN}`;
}

/** The FQDN a host written in a resource of namespace `ns` means (only dot-less names are qualified). */
export function qualifyHost(host: string, ns: string): string {
  const h = host.toLowerCase();
  if (h === '*' || h.includes('.') || h.includes(':')) return h;
  return serviceFqdn(h, ns);
}

/** Does a host written in a resource of namespace `resourceNs` cover service `service` in `serviceNs`? */
export function hostCoversService(host: string, resourceNs: string, service: string, serviceNs: string): boolean {
  const fqdn = serviceFqdn(service, serviceNs);
  const pattern = qualifyHost(host, resourceNs);
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return fqdn.endsWith(pattern.slice(1));
  // `reviews.default` (two labels) is how people often write it; Istio treats it as a literal, but it is plainly
  // meant as this service, so accept it for display purposes.
  return pattern === fqdn || pattern === `${service}.${serviceNs}`;
}

interface HttpRouteLike {
  name?: string;
  fault?: {
    delay?: { fixedDelay?: string; percentage?: { value?: number } };
    abort?: { httpStatus?: number; percentage?: { value?: number } };
  };
  route?: { destination?: { host?: string; subset?: string }; weight?: number }[];
  timeout?: string;
  retries?: { attempts?: number; perTryTimeout?: string };
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function httpRoutes(spec: unknown): HttpRouteLike[] {
  const http = asObject(spec)?.http;
  return Array.isArray(http) ? (http.filter((r) => asObject(r) !== undefined) as HttpRouteLike[]) : [];
}

/** VirtualServices whose hosts cover the service. */
export function virtualServicesFor(resources: ResourceView[], service: string, namespace: string): ResourceView[] {
  return resources.filter(
    (r) =>
      r.kind === 'VirtualService' &&
      stringList(asObject(r.spec)?.hosts).some((h) => hostCoversService(h, r.namespace, service, namespace))
  );
}

export interface FaultSummary {
  /** "VirtualService default/ratings". */
  resource: string;
  file: string;
  line: number;
  rules: { index: number; name: string | null; text: string }[];
}

export function describeFault(fault: NonNullable<HttpRouteLike['fault']>): string {
  const parts: string[] = [];
  if (fault.delay) {
    const pct = fault.delay.percentage?.value;
    parts.push(`delay ${fault.delay.fixedDelay ?? '?'}${pct !== undefined && pct !== 100 ? ` (${pct}%)` : ''}`);
  }
  if (fault.abort) {
    const pct = fault.abort.percentage?.value;
    parts.push(`abort ${fault.abort.httpStatus ?? '?'}${pct !== undefined && pct !== 100 ? ` (${pct}%)` : ''}`);
  }
  return parts.join(' + ') || 'fault';
}

/** The fault a service's VirtualService injects, or null when none of its http rules has `fault`. */
export function faultFor(resources: ResourceView[], service: string, namespace: string): FaultSummary | null {
  for (const vs of virtualServicesFor(resources, service, namespace)) {
    const rules = httpRoutes(vs.spec)
      .map((r, index) => ({ r, index }))
      .filter(({ r }) => asObject(r.fault) !== undefined)
      .map(({ r, index }) => ({ index, name: r.name ?? null, text: describeFault(r.fault!) }));
    if (rules.length > 0) {
      return { resource: `VirtualService ${vs.namespace}/${vs.name}`, file: vs.where.file, line: vs.where.line, rules };
    }
  }
  return null;
}

/** Subset names declared by DestinationRules for the service, in file order, without duplicates. */
export function subsetsFor(resources: ResourceView[], service: string, namespace: string): string[] {
  const out: string[] = [];
  for (const r of resources) {
    if (r.kind !== 'DestinationRule') continue;
    const spec = asObject(r.spec);
    const host = typeof spec?.host === 'string' ? spec.host : undefined;
    if (host === undefined || !hostCoversService(host, r.namespace, service, namespace)) continue;
    const subsets = Array.isArray(spec?.subsets) ? spec.subsets : [];
    for (const s of subsets) {
      const name = asObject(s)?.name;
      if (typeof name === 'string' && !out.includes(name)) out.push(name);
    }
  }
  return out;
}

/**
 * The weights the catch-all rule (the last http rule) of the service's VirtualService gives its subsets, scaled to
 * percentages; subsets without a route get 0. Null when no rule routes by subset.
 */
export function currentWeights(
  resources: ResourceView[],
  service: string,
  namespace: string,
  subsets: string[]
): Record<string, number> | null {
  const vs = virtualServicesFor(resources, service, namespace)[0];
  if (!vs) return null;
  const rules = httpRoutes(vs.spec);
  const last = rules[rules.length - 1];
  const dests = last?.route ?? [];
  if (dests.length === 0 || dests.some((d) => !d.destination?.subset)) return null;
  const out: Record<string, number> = Object.fromEntries(subsets.map((s) => [s, 0]));
  const single = dests.length === 1;
  for (const d of dests) out[d.destination!.subset!] = single ? 100 : (d.weight ?? 0);
  return out;
}

/** Weights that add up to 100, spread as evenly as integers allow (for a first shift). */
export function evenWeights(subsets: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  const base = Math.floor(100 / Math.max(1, subsets.length));
  let rest = 100 - base * subsets.length;
  for (const s of subsets) {
    out[s] = base + (rest > 0 ? 1 : 0);
    rest--;
  }
  return out;
}

/** Route timeout and retries of the service's first VirtualService rule, for pre-filling the dialog. */
export function currentTimeouts(
  resources: ResourceView[],
  service: string,
  namespace: string
): { timeoutMs: number | null; attempts: number | null } {
  const vs = virtualServicesFor(resources, service, namespace)[0];
  const rules = vs ? httpRoutes(vs.spec) : [];
  const r = rules[rules.length - 1];
  return { timeoutMs: r?.timeout ? durationMs(r.timeout) : null, attempts: r?.retries?.attempts ?? null };
}

/** "1.5s", "200ms", "2m", "1h" → milliseconds; null when it does not parse. */
export function durationMs(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(n * unit);
}

export interface ResourceRow {
  kind: string;
  name: string;
  namespace: string;
  hosts: string[];
  file: string;
  relative: string;
  line: number;
}

/** All resources of all files, sorted by kind, then first host, then name. */
export function resourcesByKind(files: IstioFileView[]): { kind: string; rows: ResourceRow[] }[] {
  const byKind = new Map<string, ResourceRow[]>();
  for (const f of files) {
    for (const r of f.resources) {
      const rows = byKind.get(r.kind) ?? [];
      rows.push({ ...r, file: f.path, relative: f.relative });
      byKind.set(r.kind, rows);
    }
  }
  return [...byKind.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, rows]) => ({
      kind,
      rows: rows.sort((a, b) => (a.hosts[0] ?? '').localeCompare(b.hosts[0] ?? '') || a.name.localeCompare(b.name))
    }));
}
