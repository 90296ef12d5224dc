/**
 * The Traffic view's filters, and how they become a server-side FlowQuery (listFlows, exportHar). Live flow events
 * are matched against the same filters on the client with `matchesFilter`, which follows the engine's semantics
 * (FlowQuery in main/contract/api.ts) as far as a listed flow (no bodies) allows. Pure; unit-tested.
 */
import type { FlowQuery, FlowRecord, StatusClass } from '../../../main/contract/api.js';
import { flagList, statusClass } from './format.js';

/** '' for all; a status class; 'none' = no response at all (status 0; client-side only). */
export type StatusFilter = '' | StatusClass | 'none';

export interface FlowFilters {
  /** Destination service: short name ("reviews"), name.namespace or FQDN; '' for all. */
  service: string;
  /** Calling workload ("unknown" = a caller without sidecar); '' for all. */
  caller: string;
  /** Workload on either end of the call; '' for all. */
  workload: string;
  status: StatusFilter;
  /** '' all, 'any' some flag, 'none' no flag (both client-side), or one Envoy flag such as 'UF'. */
  flag: string;
  /** Case-insensitive substring of the path, a header name or value, or a captured body (server-side). */
  text: string;
  /** Capture session id; null for every session. */
  session: number | null;
}

export const NO_FILTERS: FlowFilters = {
  service: '',
  caller: '',
  workload: '',
  status: '',
  flag: '',
  text: '',
  session: null
};

/** The caller name of a flow whose caller has no sidecar. */
export const UNKNOWN_CALLER = 'unknown';

/**
 * The server-side query for the filters (no `limit`/`before`: the caller adds those). Status 'none' and the flag
 * choices 'any'/'none' have no FlowQuery field: they stay client-side (`clientOnlyFilter`).
 */
export function filtersToQuery(filters: FlowFilters): FlowQuery {
  const q: FlowQuery = {};
  if (filters.session !== null) q.session = filters.session;
  if (filters.caller !== '') q.caller = filters.caller;
  if (filters.service !== '') q.service = filters.service;
  if (filters.workload !== '') q.workload = filters.workload;
  if (filters.status !== '' && filters.status !== 'none') q.status = filters.status;
  if (filters.flag !== '' && filters.flag !== 'any' && filters.flag !== 'none') q.flag = filters.flag;
  const text = filters.text.trim();
  if (text !== '') q.text = text;
  return q;
}

/** Does any filter narrow the list (the server query or a client-only one)? */
export function filtersActive(filters: FlowFilters): boolean {
  return (
    filters.service !== '' ||
    filters.caller !== '' ||
    filters.workload !== '' ||
    filters.status !== '' ||
    filters.flag !== '' ||
    filters.text.trim() !== '' ||
    filters.session !== null
  );
}

/** Two filter values that give the same server query and the same client-side narrowing. */
export function sameFilters(a: FlowFilters, b: FlowFilters): boolean {
  return (
    a.service === b.service &&
    a.caller === b.caller &&
    a.workload === b.workload &&
    a.status === b.status &&
    a.flag === b.flag &&
    a.text.trim() === b.text.trim() &&
    a.session === b.session
  );
}

/** Does the flow's destination service match the filter (short name, name.namespace or FQDN)? */
export function serviceMatches(f: FlowRecord, service: string): boolean {
  const fqdn = f.destinationService;
  if (!fqdn) return false;
  const want = service.toLowerCase();
  const have = fqdn.toLowerCase();
  if (have === want) return true;
  if (/\.svc\.cluster\.local$/.test(have)) {
    const [name, namespace] = have.split('.');
    return want === name || want === `${name}.${namespace}` || want === `${name}.${namespace}.svc`;
  }
  return false;
}

export interface MatchOptions {
  /** The session new flows go into; a live flow without `sessionId` belongs to it. Unknown: such flows match. */
  currentSession?: number | null;
  /** Match the text filter (default true). The list selector leaves text to the server, which also sees bodies. */
  text?: boolean;
}

function textMatches(f: FlowRecord, text: string): boolean {
  const needle = text.toLowerCase();
  // Defensive about partial records (a live event is trusted as sent): a missing field just does not match.
  if ((f.path ?? '').toLowerCase().includes(needle)) return true;
  for (const headers of [f.requestHeaders, f.responseHeaders]) {
    for (const [name, value] of Object.entries(headers ?? {})) {
      if (name.toLowerCase().includes(needle)) return true;
      const values = Array.isArray(value) ? value : [value];
      if (values.some((v) => String(v).toLowerCase().includes(needle))) return true;
    }
  }
  for (const body of [f.requestBody, f.responseBody]) {
    if (body && body.encoding === 'utf8' && body.data.toLowerCase().includes(needle)) return true;
  }
  return false;
}

/** The part of the filters the server cannot apply: status 'none' and the flag choices 'any'/'none'. */
export function clientOnlyFilter(f: FlowRecord, filters: FlowFilters): boolean {
  if (filters.status === 'none' && statusClass(f.status) !== 'none') return false;
  if (filters.flag === 'any' && flagList(f.flags ?? '').length === 0) return false;
  if (filters.flag === 'none' && flagList(f.flags ?? '').length > 0) return false;
  return true;
}

/** Does a flow (a live event, or a listed one) pass every filter? Pure. */
export function matchesFilter(f: FlowRecord, filters: FlowFilters, opts: MatchOptions = {}): boolean {
  if (filters.session !== null) {
    if (f.sessionId !== undefined) {
      if (f.sessionId !== filters.session) return false;
    } else if (opts.currentSession !== undefined && opts.currentSession !== null) {
      if (filters.session !== opts.currentSession) return false;
    }
  }
  if (filters.caller !== '' && (f.source ?? UNKNOWN_CALLER) !== filters.caller) return false;
  if (filters.workload !== '' && f.source !== filters.workload && f.destination !== filters.workload) return false;
  if (filters.service !== '' && !serviceMatches(f, filters.service)) return false;
  if (filters.status !== '' && statusClass(f.status) !== filters.status) return false;
  if (filters.flag !== '' && filters.flag !== 'any' && filters.flag !== 'none') {
    if (!flagList(f.flags ?? '').includes(filters.flag)) return false;
  }
  if (!clientOnlyFilter(f, filters)) return false;
  const text = filters.text.trim();
  if (opts.text !== false && text !== '' && !textMatches(f, text)) return false;
  return true;
}
