import { describe, expect, it } from 'vitest';
import type { SessionView } from '../../../main/contract/api.js';
import { formatDateTime } from './format.js';
import { activeRecording, sessionSpan, sessionTitle } from './sessions.js';

const s = (over: Partial<SessionView>): SessionView => ({
  id: 1,
  label: null,
  kind: 'up',
  startedAt: new Date(2026, 0, 1, 10, 0).toISOString(),
  endedAt: null,
  flows: 0,
  bytes: 0,
  current: false,
  readOnly: false,
  ...over
});

describe('sessions', () => {
  it('title: the label, or "Run <start>"', () => {
    expect(sessionTitle(s({ label: 'checkout' }))).toBe('checkout');
    expect(sessionTitle(s({ label: '  ' }))).toBe('Run 2026-01-01 10:00');
    expect(sessionTitle(s({}))).toBe(`Run ${formatDateTime(s({}).startedAt)}`);
  });

  it('span: "– now" while it runs, the end time (and date on another day)', () => {
    expect(sessionSpan(s({}))).toBe('2026-01-01 10:00 – now');
    expect(sessionSpan(s({ endedAt: new Date(2026, 0, 1, 10, 25).toISOString() }))).toBe('2026-01-01 10:00 – 10:25');
    expect(sessionSpan(s({ endedAt: new Date(2026, 0, 2, 9, 0).toISOString() }))).toBe(
      '2026-01-01 10:00 – 2026-01-02 09:00'
    );
  });

  it('the running recording is the current user session', () => {
    expect(activeRecording([s({ current: true })])).toBeNull();
    const rec = s({ id: 2, kind: 'user', current: true });
    expect(activeRecording([s({}), rec])).toBe(rec);
  });
});
