/** Keeps the first bytes of a body for the flow record (the UI's detail pane), without holding up the stream. */
import type { BodyView } from '../../contract/api.js';

export const CAPTURE_CAP = 64 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class BodyCapture {
  private chunks: Buffer[] = [];
  private kept = 0;
  size = 0;

  add(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.kept >= CAPTURE_CAP) return;
    const part = chunk.length + this.kept > CAPTURE_CAP ? chunk.subarray(0, CAPTURE_CAP - this.kept) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  view(): BodyView | null {
    if (this.size === 0) return null;
    const buf = Buffer.concat(this.chunks);
    const truncated = this.size > buf.length;
    try {
      // a cut in the middle of a multi-byte character is fine: decode what is complete
      const text = utf8.decode(truncated ? trimPartialUtf8(buf) : buf);
      if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) return { encoding: 'utf8', data: text, size: this.size, truncated };
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
