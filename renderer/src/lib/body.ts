/**
 * How a captured body is shown: pretty JSON when it is JSON, text when it is text, a hex dump for base64 (binary)
 * bodies. The view shows at most DISPLAY_CAP bytes and says so.
 */
import type { BodyView } from '../../../main/contract/api.js';

export const DISPLAY_CAP = 64 * 1024;

export interface BodyDisplay {
  kind: 'empty' | 'json' | 'text' | 'hex';
  text: string;
  /** The bytes of a hex dump (kind 'hex'), for a dump laid out again at another width (hexRows). */
  bytes?: Uint8Array;
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
    return { kind: 'hex', text: hexDump(shown), bytes: shown, notes };
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

/** Bytes per row a hex dump may use, widest first: the view picks the widest that fits its width. */
export const HEX_ROW_SIZES = [16, 8, 4] as const;

export interface HexRow {
  /** Offset of the row's first byte, 8 hex digits. */
  offset: string;
  /** The bytes in hex, "xx " each, an extra space between groups of 8, padded to a full row. */
  hex: string;
  /** The bytes as printable ASCII ("." for the others), between bars: "|GET /..|". */
  ascii: string;
}

/** Rows of a hex dump with `perRow` bytes each (16: the classic layout). */
export function hexRows(bytes: Uint8Array, perRow = 16): HexRow[] {
  const rows: HexRow[] = [];
  for (let off = 0; off < bytes.length; off += perRow) {
    const row = bytes.subarray(off, off + perRow);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < perRow; i++) {
      if (i > 0 && i % 8 === 0) hex += ' ';
      if (i < row.length) {
        const b = row[i]!;
        hex += b.toString(16).padStart(2, '0') + ' ';
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    rows.push({ offset: off.toString(16).padStart(8, '0'), hex, ascii: `|${ascii}|` });
  }
  return rows;
}

/** One row as text: offset, two spaces, the hex bytes, a space, the ASCII column. */
export function hexRowText(r: HexRow): string {
  return `${r.offset}  ${r.hex} ${r.ascii}`;
}

/** Characters a row of `perRow` bytes takes (every row of a dump is this wide). */
export function hexRowChars(perRow: number): number {
  return 8 + 2 + perRow * 3 + Math.floor((perRow - 1) / 8) + 1 + perRow + 2;
}

/** The most bytes per row (HEX_ROW_SIZES) whose rows fit in `chars` characters; the fewest if none does. */
export function hexBytesPerRow(chars: number): number {
  return HEX_ROW_SIZES.find((n) => hexRowChars(n) <= chars) ?? HEX_ROW_SIZES[HEX_ROW_SIZES.length - 1]!;
}

/** Classic hex dump, 16 bytes per line by default: offset, hex bytes in groups of 8, printable ASCII. */
export function hexDump(bytes: Uint8Array, perRow = 16): string {
  return hexRows(bytes, perRow).map(hexRowText).join('\n');
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
