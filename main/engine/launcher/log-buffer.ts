/**
 * The recent output of the workloads' processes: one ring buffer per workload (the oldest line goes when it is
 * full), every line stamped with the time it was read and a sequence number that counts up across all workloads,
 * so a client can join the history (listLogs) and the live `log` events without duplicates or gaps.
 */
import { LOG_LINES_KEPT, MAX_LOG_LINE_CHARS, type LogLine } from '../../contract/api.js';

export interface LogBufferOptions {
  /** Lines kept per workload (default LOG_LINES_KEPT). */
  perWorkload?: number;
  /** Characters of a line kept whole (default MAX_LOG_LINE_CHARS). */
  maxLineChars?: number;
  now?: () => number;
}

export interface LogBuffer {
  /** Keep a line: returns it capped and stamped (`at`, `seq`). */
  add(line: Omit<LogLine, 'at' | 'seq'>): LogLine;
  /** The most recent `limit` lines of one workload, or of all of them, oldest first. */
  list(workload: string | undefined, limit: number): LogLine[];
  /** Whether any line of the workload is kept. */
  has(workload: string): boolean;
}

/** A fixed-size ring: `start` is the oldest line once it has wrapped. */
interface Ring {
  lines: LogLine[];
  start: number;
}

export function createLogBuffer(opts: LogBufferOptions = {}): LogBuffer {
  const size = Math.max(1, opts.perWorkload ?? LOG_LINES_KEPT);
  const maxChars = opts.maxLineChars ?? MAX_LOG_LINE_CHARS;
  const now = opts.now ?? Date.now;
  const rings = new Map<string, Ring>();
  let seq = 0;

  /** The ring's lines in order, the newest `limit` of them. */
  const ordered = (ring: Ring, limit: number): LogLine[] => {
    const all = ring.start === 0 ? ring.lines : [...ring.lines.slice(ring.start), ...ring.lines.slice(0, ring.start)];
    return all.slice(Math.max(0, all.length - limit));
  };

  return {
    add(l) {
      const line =
        l.line.length > maxChars
          ? `${l.line.slice(0, maxChars)}… [${l.line.length - maxChars} more characters]`
          : l.line;
      const kept: LogLine = {
        workload: l.workload,
        instance: l.instance,
        stream: l.stream,
        line,
        at: new Date(now()).toISOString(),
        seq: ++seq
      };
      let ring = rings.get(l.workload);
      if (!ring) rings.set(l.workload, (ring = { lines: [], start: 0 }));
      if (ring.lines.length < size) ring.lines.push(kept);
      else {
        ring.lines[ring.start] = kept;
        ring.start = (ring.start + 1) % size;
      }
      return kept;
    },
    list(workload, limit) {
      if (workload !== undefined) {
        const ring = rings.get(workload);
        return ring ? ordered(ring, limit) : [];
      }
      // every workload: each ring's newest `limit`, merged by sequence number, then the newest `limit` of those
      const all = [...rings.values()].flatMap((r) => ordered(r, limit)).sort((a, b) => a.seq - b.seq);
      return all.slice(Math.max(0, all.length - limit));
    },
    has: (workload) => rings.has(workload)
  };
}
