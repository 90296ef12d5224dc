/**
 * The downstream request body, streamed to one upstream try at a time. When retries or mirrors may need it again,
 * it is also kept in memory up to a cap (Envoy's per-request buffer limit); past the cap the body still streams
 * but can no longer be replayed, so no further try is made. A fast-lane request arrives with its whole body, which
 * is then simply kept.
 */
import type { IncomingMessage, ClientRequest } from 'node:http';
import { FastRequest } from './fast-lane.js';

export const REPLAY_BUFFER_CAP = 1024 * 1024;

export class RequestBody {
  readonly present: boolean;
  private chunks: Buffer[] = [];
  private size = 0;
  private overflow = false;
  private ended = false;
  private sink: ClientRequest | undefined;
  private started = false;

  private readonly req: IncomingMessage;
  private readonly keep: boolean;

  constructor(
    req: IncomingMessage | FastRequest,
    keep: boolean,
    /** Sees every chunk once, as it arrives (body capture for the flow record). */
    private readonly tap?: (chunk: Buffer) => void
  ) {
    if (req instanceof FastRequest) {
      // complete already: kept whatever `keep` says (it is in memory anyway), never read from the request
      this.req = undefined as unknown as IncomingMessage;
      this.keep = true;
      this.present = req.body !== null;
      this.ended = true;
      if (req.body) {
        this.chunks.push(req.body);
        this.size = req.body.length;
        tap?.(req.body);
      }
      return;
    }
    this.req = req;
    this.keep = keep;
    const cl = req.headers['content-length'];
    this.present = req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
    if (!this.present) this.ended = true;
  }

  /** Can the body be sent again for another try (or a mirror)? */
  get replayable(): boolean {
    return !this.present || (this.keep && !this.overflow);
  }

  /** Complete buffered body, when fully received and kept. */
  get buffered(): Buffer | undefined {
    return this.ended && this.replayable ? Buffer.concat(this.chunks) : undefined;
  }

  /** Send the body (what was kept so far, then the rest as it arrives) to this upstream request. */
  sendTo(up: ClientRequest): void {
    if (!this.present) {
      up.end();
      return;
    }
    if (!this.keep) {
      if (this.tap) this.req.on('data', this.tap);
      this.req.pipe(up);
      return;
    }
    this.sink = up;
    for (const c of this.chunks) up.write(c);
    if (this.ended) {
      up.end();
      return;
    }
    if (this.started) {
      this.req.resume();
      return;
    }
    this.started = true;
    this.req.on('data', (c: Buffer) => {
      this.tap?.(c);
      if (!this.overflow) {
        this.size += c.length;
        if (this.size > REPLAY_BUFFER_CAP) {
          this.overflow = true;
          this.chunks = [];
        } else this.chunks.push(c);
      }
      const s = this.sink;
      if (s && !s.destroyed && !s.write(c)) {
        this.req.pause();
        s.once('drain', () => this.req.resume());
      }
    });
    this.req.on('end', () => {
      this.ended = true;
      const s = this.sink;
      if (s && !s.destroyed) s.end();
    });
  }

  /** Wait until the whole body has been received (for mirrors). */
  whenComplete(): Promise<Buffer | undefined> {
    if (this.ended) return Promise.resolve(this.buffered);
    return new Promise((resolve) => this.req.once('end', () => setImmediate(() => resolve(this.buffered))));
  }
}
