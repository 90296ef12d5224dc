// A captured body's view (BodyView in contract/api.ts): text as utf8 when its bytes decode as UTF-8 without control
// characters, anything else as base64. Plain JavaScript, like flow-writer.mjs, because the writer thread imports it
// without a TypeScript loader; its types are in body-view.d.mts.
//
// Issue 7: a sidecar no longer makes the view of every body it captures. A flow's kept bytes travel with it
// (CAPTURED_BYTES) to the SQLite store, which stores them as they are and makes the view when a body is read; the
// memory store and whoever waits for a flow (a replay) make the views when they take the flow (withBodyViews).
// Decoding and scanning a 1 KiB body took ~1 µs of the engine thread's CPU per flow, for views rarely read.

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Control characters that make decoded "text" binary (tab, newlines, form feed and CR are text). */
const BINARY = /[\u0000-\u0008\u000e-\u001f]/;

/**
 * Where a flow record carries its bodies' kept bytes, until its views are made: { request, response }, each
 * { bytes, size, truncated } or null. A symbol, so that JSON and structured clones of the record leave it out; a
 * registered one, so that every bundle of this file (the desktop app's engine host and writer thread) has the same.
 */
export const CAPTURED_BYTES = Symbol.for('localmesh.capturedBytes');

/**
 * The view of a body's kept bytes.
 * @param {Uint8Array} bytes what was kept (the first bytes, up to the cap)
 * @param {number} size bytes seen on the wire
 * @param {boolean} truncated
 * @returns {import('../../contract/api.js').BodyView}
 */
export function bodyView(bytes, size, truncated) {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  try {
    // a cut in the middle of a multi-byte character is fine: decode what is complete
    const text = utf8.decode(truncated ? trimPartialUtf8(buf) : buf);
    if (!BINARY.test(text)) return { encoding: 'utf8', data: text, size, truncated };
  } catch {
    /* not text */
  }
  return { encoding: 'base64', data: buf.toString('base64'), size, truncated };
}

/**
 * @param {Buffer} buf
 * @returns {Buffer} buf without a multi-byte character cut at its end
 */
function trimPartialUtf8(buf) {
  const end = buf.length;
  let i = end - 1;
  while (i >= 0 && i >= end - 4 && (buf[i] & 0xc0) === 0x80) i--;
  if (i >= 0) {
    const b = buf[i];
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (end - i < need) return buf.subarray(0, i);
  }
  return buf;
}

/**
 * Give a flow record its body views from the bytes it carries (CAPTURED_BYTES), once; a flow without them is left as
 * it is. The bytes stay for the SQLite store's row (toRow), unless `dropBytes` (the memory store, which keeps the
 * record and so would keep both).
 * @template {Record<string | symbol, any>} F
 * @param {F} f
 * @param {boolean} [dropBytes]
 * @returns {F}
 */
export function withBodyViews(f, dropBytes = false) {
  const c = f[CAPTURED_BYTES];
  if (c === undefined) return f;
  const view = (/** @type {any} */ b) => (b === null ? null : bodyView(b.bytes, b.size, b.truncated));
  if (f.requestBody === undefined) {
    /** @type {any} */ (f).requestBody = view(c.request);
    /** @type {any} */ (f).responseBody = view(c.response);
  }
  if (dropBytes) /** @type {any} */ (f)[CAPTURED_BYTES] = undefined;
  return f;
}
