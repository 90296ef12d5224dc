/**
 * "Copy as cURL": a captured request as a curl command that sends it again the way the app did, through the
 * caller's outbound sidecar (its HTTP_PROXY port) when there is one. Headers the sidecars add or that belong to one
 * connection are left out (the replay's list); a body is included when it is text and whole. A request still in
 * flight (a pending row) has no body known yet: its command is the request as sent so far. Pure; unit-tested.
 */
import { NOT_REPLAYED_HEADERS, type FlowRecord } from '../../../main/contract/api.js';
import { headerValue } from './body.js';

/** Headers a sidecar sets on the way (not the app's), left out of the command as a replay leaves them out. */
const SIDECAR_ADDED = new Set(['host', 'x-forwarded-proto', 'x-forwarded-client-cert']);

/** A POSIX shell word in single quotes. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface CurlCommand {
  command: string;
  /**
   * The body was left out: binary or cut short in the capture, or not known (a request in flight, a flow listed
   * without its bodies) while its headers announce one.
   */
  bodyLeftOut: boolean;
}

/** Do the request headers announce a body (a content-length above 0, or a transfer-encoding)? */
function announcesBody(headers: FlowRecord['requestHeaders']): boolean {
  for (const [name, value] of Object.entries(headers)) {
    const k = name.toLowerCase();
    if (k === 'transfer-encoding') return true;
    if (k === 'content-length' && Number(headerValue(value)) > 0) return true;
  }
  return false;
}

/** `proxyPort`: the caller's outbound (HTTP_PROXY) port, when the flow has a caller with a sidecar. */
export function curlFor(f: FlowRecord, proxyPort?: number): CurlCommand {
  const parts = ['curl'];
  if (proxyPort !== undefined) parts.push('-x', `http://127.0.0.1:${proxyPort}`);
  const body = f.requestBody;
  const withBody = body !== null && body !== undefined && body.encoding === 'utf8' && !body.truncated;
  if (f.method !== 'GET' || withBody) parts.push('-X', shellQuote(f.method));
  for (const [name, value] of Object.entries(f.requestHeaders)) {
    const k = name.toLowerCase();
    if (k.startsWith(':') || NOT_REPLAYED_HEADERS.has(k) || SIDECAR_ADDED.has(k) || k.startsWith('x-envoy-')) continue;
    parts.push('-H', shellQuote(`${name}: ${headerValue(value)}`));
  }
  if (withBody && body.size > 0) parts.push('--data-raw', shellQuote(body.data));
  parts.push(shellQuote(`http://${f.authority}${f.path}`));
  const bodyLeftOut =
    body === undefined ? announcesBody(f.requestHeaders) : body !== null && body.size > 0 && !withBody;
  return { command: parts.join(' '), bodyLeftOut };
}
