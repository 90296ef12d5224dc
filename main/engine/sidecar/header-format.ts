/**
 * Envoy's substitution format in header values (a VirtualService's `headers` set/add values reach Envoy as
 * `request_headers_to_add` / `response_headers_to_add`, whose values are format strings): `%%` is one `%`, and
 * `%COMMAND%`, `%COMMAND(arg)%` or `%COMMAND(arg):N%` is replaced by what the command gives for the request (N: at most
 * N characters). A command with nothing to give makes an empty string (Envoy formats custom headers with empty values
 * omitted), and a header whose value comes out empty is not added (keep_empty_value is off; exchange.ts).
 * Istio's webhook rejects a value with an odd number of `%` (validate-istio.ts).
 */
import os from 'node:os';
import type { IncomingHttpHeaders } from 'node:http';
import { ENVOY_INLINE_REQUEST_HEADERS, formatterHeader } from './h1.js';

/** What the commands read: the caller's connection, the request, and the response when the value is a response's. */
export interface FormatFacts {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  /** "HTTP/1.1" */
  protocol: string;
  /** When the request started (epoch ms). */
  startMs: number;
  requestHeaders: IncomingHttpHeaders;
  /** The request's :authority (an absolute-form target's, else its Host). */
  authority: string;
  method: string;
  path: string;
  /** The endpoint the request went to (`ip:port`), once chosen: response header values only. */
  upstream: string | null;
  /** The response's status (0: none yet, as for request header values). */
  responseCode: number;
  /** The upstream cluster chosen (Envoy picks it with the route, before request headers are formatted); '' none. */
  cluster?: () => string;
  /** The response flags so far, Envoy's short form (`-` for none). */
  flags?: () => string;
}

/** The commands localmesh evaluates; any other one is empty here (validate-istio warns IST0025). */
export const EVALUATED_COMMANDS = new Set([
  'DOWNSTREAM_REMOTE_ADDRESS',
  'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_REMOTE_PORT',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS',
  'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_DIRECT_REMOTE_PORT',
  'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT',
  'DOWNSTREAM_LOCAL_PORT',
  'HOSTNAME',
  'PROTOCOL',
  'START_TIME',
  'REQ',
  'ENVIRONMENT',
  'UPSTREAM_HOST',
  'UPSTREAM_REMOTE_ADDRESS',
  'UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT',
  'UPSTREAM_REMOTE_PORT',
  'RESPONSE_CODE',
  'RESPONSE_FLAGS',
  'UPSTREAM_CLUSTER',
  'UPSTREAM_CLUSTER_RAW'
]);

export interface FormatPiece {
  literal?: string;
  command?: string;
  arg?: string;
  max?: number;
}

/** `%NAME%`, `%NAME(arg)%`, `%NAME(arg):N%` after the opening `%`. */
const COMMAND = /^([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/;

/** The pieces of a format string, or an error for a `%` that opens no command. */
export function parseFormat(value: string): FormatPiece[] | { error: string } {
  const out: FormatPiece[] = [];
  let lit = '';
  let i = 0;
  while (i < value.length) {
    const at = value.indexOf('%', i);
    if (at < 0) {
      lit += value.slice(i);
      break;
    }
    lit += value.slice(i, at);
    if (value[at + 1] === '%') {
      lit += '%';
      i = at + 2;
      continue;
    }
    const m = COMMAND.exec(value.slice(at + 1));
    if (!m) return { error: `"${value}": no command after the % at ${at + 1} (write %% for a literal %)` };
    if (lit) out.push({ literal: lit });
    lit = '';
    out.push({ command: m[1]!, arg: m[2], max: m[3] === undefined ? undefined : Number(m[3]) });
    i = at + 1 + m[0].length;
  }
  if (lit) out.push({ literal: lit });
  return out;
}

const parsed = new Map<string, FormatPiece[] | null>();

/** A header value with Envoy's commands replaced (a value with no `%` is returned as it is). */
export function formatHeaderValue(value: string, facts: FormatFacts): string {
  if (value.indexOf('%') < 0) return value;
  let pieces = parsed.get(value);
  if (pieces === undefined) {
    const p = parseFormat(value);
    pieces = Array.isArray(p) ? p : null;
    if (parsed.size > 1000) parsed.clear();
    parsed.set(value, pieces);
  }
  if (pieces === null) return value; // not a format Envoy would take (validate-istio reports it): left as written
  let s = '';
  for (const p of pieces) {
    if (p.literal !== undefined) s += p.literal;
    else {
      const v = evaluate(p.command!, p.arg, facts);
      s += p.max !== undefined ? v.slice(0, p.max) : v;
    }
  }
  return s;
}

function hostPort(address: string | undefined, port: number | undefined): string {
  if (!address) return '';
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

function evaluate(command: string, arg: string | undefined, f: FormatFacts): string {
  switch (command) {
    case 'DOWNSTREAM_REMOTE_ADDRESS':
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS':
      return hostPort(f.remoteAddress, f.remotePort);
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT':
      return f.remoteAddress ?? '';
    case 'DOWNSTREAM_REMOTE_PORT':
    case 'DOWNSTREAM_DIRECT_REMOTE_PORT':
      return f.remotePort === undefined ? '' : String(f.remotePort);
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return hostPort(f.localAddress, f.localPort);
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return f.localAddress ?? '';
    case 'DOWNSTREAM_LOCAL_PORT':
      return f.localPort === undefined ? '' : String(f.localPort);
    case 'HOSTNAME':
      return os.hostname();
    case 'PROTOCOL':
      return f.protocol;
    case 'START_TIME':
      return arg ? strftime(arg, f.startMs) : new Date(f.startMs).toISOString();
    case 'REQ':
      return requestHeader(arg ?? '', f);
    case 'ENVIRONMENT':
      return (arg && process.env[arg]) ?? '';
    // the endpoint is chosen after the request headers are formatted (empty there, as in Envoy's router)
    case 'UPSTREAM_HOST':
    case 'UPSTREAM_REMOTE_ADDRESS':
      return f.upstream ?? '';
    case 'UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return f.upstream ? splitHostPort(f.upstream)[0] : '';
    case 'UPSTREAM_REMOTE_PORT':
      return f.upstream ? splitHostPort(f.upstream)[1] : '';
    case 'RESPONSE_CODE':
      return f.responseCode ? String(f.responseCode) : '';
    case 'RESPONSE_FLAGS':
      return f.flags?.() ?? '-';
    // Istio sets no alt_stat_name by default, so both are the cluster's name
    case 'UPSTREAM_CLUSTER':
    case 'UPSTREAM_CLUSTER_RAW':
      return f.cluster?.() ?? '';
    default:
      return '';
  }
}

/** `ip:port` (an IPv6 address in brackets) as [ip, port]. */
function splitHostPort(hp: string): [string, string] {
  const colon = hp.lastIndexOf(':');
  if (colon < 0 || colon < hp.lastIndexOf(']')) return [hp.replace(/^\[|\]$/g, ''), ''];
  return [hp.slice(0, colon).replace(/^\[|\]$/g, ''), hp.slice(colon + 1)];
}

/**
 * %REQ(A?B)%: header A, else B (pseudo-headers :authority, :path, :method, :scheme too); a header as Envoy's formatter
 * reads it (h1.ts formatterHeader: of one sent on several lines, the first).
 */
function requestHeader(arg: string, f: FormatFacts): string {
  for (const name of arg.split('?')) {
    const key = name.trim().toLowerCase();
    let v: string | undefined;
    if (key === ':authority' || key === 'host') v = f.authority;
    else if (key === ':path') v = f.path;
    else if (key === ':method') v = f.method;
    else if (key === ':scheme') v = 'http';
    else v = formatterHeader(f.requestHeaders, key, ENVOY_INLINE_REQUEST_HEADERS);
    if (v !== undefined && v !== '') return v;
  }
  return '';
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** START_TIME's format (absl::FormatTime in UTC, with Envoy's %E<n>S and %<n>f for sub-seconds). */
function strftime(fmt: string, ms: number): string {
  const d = new Date(ms);
  const frac = (digits: number) =>
    String(ms % 1000)
      .padStart(3, '0')
      .padEnd(digits, '0')
      .slice(0, digits);
  return fmt.replace(/%(E(\d)S|(\d)f|[YmdHMSsjzZ%])/g, (_m, spec: string, eDigits?: string, fDigits?: string) => {
    if (eDigits !== undefined) return `${pad(d.getUTCSeconds())}.${frac(Number(eDigits))}`;
    if (fDigits !== undefined) return frac(Number(fDigits));
    switch (spec) {
      case 'Y':
        return String(d.getUTCFullYear());
      case 'm':
        return pad(d.getUTCMonth() + 1);
      case 'd':
        return pad(d.getUTCDate());
      case 'H':
        return pad(d.getUTCHours());
      case 'M':
        return pad(d.getUTCMinutes());
      case 'S':
        return pad(d.getUTCSeconds());
      case 's':
        return String(Math.floor(ms / 1000));
      case 'j': {
        const day = Math.floor((ms - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
        return pad(day, 3);
      }
      case 'z':
        return '+0000';
      case 'Z':
        return 'UTC';
      default:
        return '%';
    }
  });
}
