/**
 * The "Edit and replay" form: a captured request as editable text (headers as `name: value` lines), and the
 * ReplayEdit that holds only what the user changed. Pure; unit-tested.
 */
import {
  NOT_REPLAYED_HEADERS as NOT_REPLAYED,
  type FlowRecord,
  type ReplayEdit,
  type ReplayRequest
} from '../../../main/contract/api.js';
import { headerValue } from './body.js';

export interface ReplayForm {
  method: string;
  path: string;
  /** One `name: value` per line. */
  headers: string;
  body: string;
  /** Workload to send as ('' = the flow's own caller). */
  as: string;
}

/** Is the captured request body text the user can edit (utf8; a truncated one too: it must be completed)? */
export function bodyEditable(f: FlowRecord): boolean {
  const b = f.requestBody;
  return !b || b.encoding === 'utf8';
}

/** The sidecar kept only part of the body: the engine replays it only with a body given in full. */
export function bodyTruncated(f: FlowRecord): boolean {
  return f.requestBody?.truncated === true;
}

export function headerLines(headers: Record<string, string | string[]>): string {
  return Object.entries(headers)
    .filter(([k]) => !k.startsWith(':') && !NOT_REPLAYED.has(k.toLowerCase()))
    .map(([k, v]) => `${k}: ${headerValue(v)}`)
    .join('\n');
}

export function formFor(f: FlowRecord): ReplayForm {
  return {
    method: f.method,
    path: f.path,
    headers: headerLines(f.requestHeaders),
    body: f.requestBody && f.requestBody.encoding === 'utf8' ? f.requestBody.data : '',
    as: f.source ?? ''
  };
}

export interface ParsedHeaders {
  /** Lower-cased names; a repeated name keeps the last value. */
  headers: Record<string, string>;
  /** 1-based numbers of lines that are not `name: value`. */
  bad: number[];
}

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function parseHeaderLines(text: string): ParsedHeaders {
  const headers: Record<string, string> = {};
  const bad: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!TOKEN_RE.test(name)) {
      bad.push(i + 1);
      return;
    }
    headers[name.toLowerCase()] = line.slice(colon + 1).trim();
  });
  return { headers, bad };
}

export type BuiltReplay = { ok: true; request: ReplayRequest } | { ok: false; message: string };

/**
 * The replay request for an edited form: only the fields that differ from the captured request, headers as
 * changed/added values and null for removed ones.
 */
export function buildReplay(f: FlowRecord, form: ReplayForm): BuiltReplay {
  const method = form.method.trim().toUpperCase();
  if (!/^[A-Z]+$/.test(method)) return { ok: false, message: `"${form.method}" is not an HTTP method.` };
  const path = form.path.trim();
  if (!path.startsWith('/')) return { ok: false, message: 'The path must start with "/".' };
  const parsed = parseHeaderLines(form.headers);
  if (parsed.bad.length > 0) {
    return {
      ok: false,
      message: `Header line${parsed.bad.length === 1 ? '' : 's'} ${parsed.bad.join(', ')}: write each header as "name: value".`
    };
  }
  const before = parseHeaderLines(headerLines(f.requestHeaders)).headers;
  const edit: ReplayEdit = {};
  if (method !== f.method) edit.method = method;
  if (path !== f.path) edit.path = path;
  const headers: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(parsed.headers)) if (before[k] !== v) headers[k] = v;
  for (const k of Object.keys(before)) if (!(k in parsed.headers)) headers[k] = null;
  if (Object.keys(headers).length > 0) edit.headers = headers;
  if (bodyEditable(f)) {
    const original = f.requestBody?.data ?? '';
    if (form.body !== original || bodyTruncated(f)) {
      edit.body = form.body;
      edit.bodyEncoding = 'utf8';
    }
  }
  const request: ReplayRequest = { id: f.id };
  const as = form.as.trim();
  if (as !== '' && as !== (f.source ?? '')) request.as = as;
  if (Object.keys(edit).length > 0) request.edit = edit;
  return { ok: true, request };
}
