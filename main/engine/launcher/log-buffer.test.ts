import { describe, expect, it } from 'vitest';
import { LOG_LINES_KEPT, MAX_LOG_LINE_CHARS } from '../../contract/api.js';
import { createLogBuffer } from './log-buffer.js';

const out = (workload: string, line: string) => ({
  workload,
  instance: '127.0.0.1:19081',
  stream: 'stdout' as const,
  line
});

describe('log buffer', () => {
  it('stamps each line with the time and a sequence number counting across workloads', () => {
    let t = Date.parse('2026-03-01T10:00:00.000Z');
    const buf = createLogBuffer({ now: () => (t += 1000) });
    const a = buf.add(out('a', 'one'));
    const b = buf.add(out('b', 'two'));
    expect(a).toEqual({ ...out('a', 'one'), at: '2026-03-01T10:00:01.000Z', seq: 1 });
    expect(b).toMatchObject({ workload: 'b', at: '2026-03-01T10:00:02.000Z', seq: 2 });
  });

  it('keeps the newest lines of each workload, dropping the oldest, and lists them oldest first', () => {
    const buf = createLogBuffer({ perWorkload: 3 });
    for (let i = 1; i <= 7; i++) buf.add(out('a', `a${i}`));
    buf.add(out('b', 'b1'));
    expect(buf.list('a', 100).map((l) => l.line)).toEqual(['a5', 'a6', 'a7']);
    expect(buf.list('a', 2).map((l) => l.line)).toEqual(['a6', 'a7']);
    expect(buf.list('b', 100).map((l) => l.line)).toEqual(['b1']);
    expect(buf.list('c', 100)).toEqual([]);
    expect([buf.has('a'), buf.has('c')]).toEqual([true, false]);
  });

  it('lists every workload merged by sequence number, the newest `limit` of them', () => {
    const buf = createLogBuffer({ perWorkload: 2 });
    buf.add(out('a', 'a1'));
    buf.add(out('b', 'b1'));
    buf.add(out('a', 'a2'));
    buf.add(out('a', 'a3'));
    buf.add(out('b', 'b2'));
    const all = buf.list(undefined, 100);
    expect(all.map((l) => l.line)).toEqual(['b1', 'a2', 'a3', 'b2']);
    expect(all.map((l) => l.seq)).toEqual([2, 3, 4, 5]);
    expect(buf.list(undefined, 3).map((l) => l.line)).toEqual(['a2', 'a3', 'b2']);
  });

  it('cuts a line over the cap and says how much was left out', () => {
    const buf = createLogBuffer({ maxLineChars: 10 });
    expect(buf.add(out('a', 'x'.repeat(25))).line).toBe(`${'x'.repeat(10)}… [15 more characters]`);
    expect(buf.add(out('a', 'y'.repeat(10))).line).toBe('y'.repeat(10));
  });

  it('defaults to the bounds the contract states', () => {
    const buf = createLogBuffer();
    for (let i = 0; i < LOG_LINES_KEPT + 5; i++) buf.add(out('a', String(i)));
    const kept = buf.list('a', Number.MAX_SAFE_INTEGER);
    expect(kept).toHaveLength(LOG_LINES_KEPT);
    expect(kept[0]!.line).toBe('5');
    expect(buf.add(out('a', 'z'.repeat(MAX_LOG_LINE_CHARS + 1))).line).toMatch(/… \[1 more characters\]$/);
  });
});
