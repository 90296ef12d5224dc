/**
 * Keeps the first bytes of a body for the flow record (the UI's detail pane), without holding up the stream.
 * The cap is the mesh file's `spec.capture.bodyCap` of the config the request started on (a reload applies it to
 * new requests); past it only the byte count grows. Whole chunks within the cap are kept by reference (no copy on
 * the hot path); the chunk that crosses the cap is copied down to the bytes kept, so a large chunk (or the socket
 * buffer it is a slice of) is never held beyond the cap.
 */
import type { BodyView } from '../../contract/api.js';
import { CAPTURE_DEFAULTS } from '../../contract/mesh-schema.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Control characters that make decoded "text" binary (tab, newlines, form feed and CR are text). */
const BINARY = /[\u0000-\u0008\u000e-\u001f]/;

export class BodyCapture {
  private chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes seen on the wire. */
  size = 0;

  constructor(private readonly cap: number = CAPTURE_DEFAULTS.bodyCap) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.cap - this.kept;
    if (room <= 0 || chunk.length === 0) return;
    if (chunk.length <= room) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
    } else {
      this.chunks.push(Buffer.from(chunk.subarray(0, room)));
      this.kept = this.cap;
    }
  }

  view(): BodyView | null {
    if (this.size === 0) return null;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept);
    const truncated = this.size > buf.length;
    try {
      // a cut in the middle of a multi-byte character is fine: decode what is complete
      const text = utf8.decode(truncated ? trimPartialUtf8(buf) : buf);
      if (!BINARY.test(text)) return { encoding: 'utf8', data: text, size: this.size, truncated };
    } catch {
      /* not text */
    }
    return { encoding: 'base64', data: buf.toString('base64'), size: this.size, truncated };
  }
}

function trimPartialUtf8(buf: Buffer): Buffer {
  let end = buf.length;
  let i = end - 1;
  while (i >= 0 && i >= end - 4 && (buf[i]! & 0xc0) === 0x80) i--;
  if (i >= 0) {
    const b = buf[i]!;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (end - i < need) end = i;
  }
  return buf.subarray(0, end);
}
