// Types of body-view.mjs.
import type { BodyView, FlowRecord } from '../../contract/api.js';

/** A body's kept bytes: what a sidecar captured, before its view is made. */
export interface CapturedBody {
  bytes: Buffer;
  /** Bytes seen on the wire. */
  size: number;
  truncated: boolean;
}

export declare const CAPTURED_BYTES: unique symbol;

/** A flow record that may carry its bodies' kept bytes instead of their views. */
export type CapturingFlow = FlowRecord & {
  [CAPTURED_BYTES]?: { request: CapturedBody | null; response: CapturedBody | null };
};

export declare function bodyView(bytes: Uint8Array, size: number, truncated: boolean): BodyView;
export declare function withBodyViews<F extends FlowRecord>(f: F, dropBytes?: boolean): F;
