/**
 * Keeps the first bytes of a body for the flow record (the UI's detail pane), without holding up the stream.
 * The cap is the mesh file's `spec.capture.bodyCap` of the config the request started on (a reload applies it to
 * new requests); past it only the byte count grows. Whole chunks within the cap are kept by reference (no copy on
 * the hot path); the chunk that crosses the cap is copied down to the bytes kept, so a large chunk (or the socket
 * buffer it is a slice of) is never held beyond the cap.
 */
import { CAPTURE_DEFAULTS } from '../../contract/mesh-schema.js';
import type { CapturedBody } from '../capture/body-view.mjs';

export class BodyCapture {
  private chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes seen on the wire. */
  size = 0;
  /**
   * The size the message said it has (its content-length): a body that ended short of it (an app that answered
   * before reading all of it, a caller that went away) is recorded as that size, cut short, not as whole.
   */
  declared = 0;

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

  /** The bytes kept, as they came (the flow record carries them; see body-view.mjs); null for no body. */
  bytes(): CapturedBody | null {
    const size = Math.max(this.size, this.declared);
    if (size === 0) return null;
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept);
    return { bytes, size, truncated: size > bytes.length };
  }
}
