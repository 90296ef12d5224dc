/**
 * How a captured body is shown: pretty JSON when it is JSON, text when it is text, a hex dump for base64 (binary)
 * bodies. The view shows at most DISPLAY_CAP bytes and says so.
 */
import type { BodyView } from '../../../main/contract/api.js';

export const DISPLAY_CAP = 64 * 1024;

export interface BodyDisplay {
  kind: 'empty' | 'json' | 'text' | 'hex';
  text: string;
  /** Notes for the user: truncated by the sidecar, cut for display, not valid JSON… */
  notes: string[];
}

export function isJsonContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && /[/+]json\b/i.test(contentType);
}

export function displayBody(body: BodyView | null | undefined, contentType?: string): BodyDisplay {
  if (!body || body.size === 0 || body.data === '') return { kind: 'empty', text: '', notes: [] };
  const notes: string[] = [];
  if (body.truncated) notes.push(`The sidecar kept the first part of a ${body.size}-byte body.`);
  if (body.encoding === 'base64') {
    const bytes = base64ToBytes(body.data);
    const shown = bytes.length > DISPLAY_CAP ? bytes.subarray(0, DISPLAY_CAP) : bytes;
    if (shown.length < bytes.length)
      notes.push(`Showing the first ${DISPLAY_CAP / 1024} KiB of ${bytes.length} bytes.`);
    return { kind: 'hex', text: hexDump(shown), notes };
  }
  let text = body.data;
  const encoder = new TextEncoder();
  const byteLength = encoder.encode(text).length;
  let cut = false;
  if (byteLength > DISPLAY_CAP) {
    text = cutUtf8(text, DISPLAY_CAP);
    cut = true;
    notes.push(`Showing the first ${DISPLAY_CAP / 1024} KiB of ${byteLength} bytes.`);
  }
  const trimmed = text.trimStart();
  const looksJson = trimmed.startsWith('{') || trimmed.startsWith('[');
  if (!cut && !body.truncated && (isJsonContentType(contentType) || looksJson)) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2), notes };
    } catch {
      if (isJsonContentType(contentType)) notes.push('Not valid JSON; shown as text.');
    }
  }
  return { kind: 'text', text, notes };
}

/** Cut a string so its UTF-8 encoding fits in `maxBytes`, never in the middle of a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + len > maxBytes) break;
    bytes += len;
    i += ch.length;
  }
  return text.slice(0, i);
}

export function base64ToBytes(b64: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(b64.replace(/\s+/g, ''));
  } catch {
    return new Uint8Array();
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Classic 16-bytes-per-line hex dump: offset, hex bytes in two groups of 8, printable ASCII. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      if (i === 8) hex += ' ';
      if (i < row.length) {
        const b = row[i]!;
        hex += b.toString(16).padStart(2, '0') + ' ';
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}

/** Header value as one line (repeated headers joined the way HTTP/1 would). */
export function headerValue(v: string | string[]): string {
  return Array.isArray(v) ? v.join(', ') : v;
}

export function findHeader(headers: Record<string, string | string[]>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return headerValue(v);
  return undefined;
}
