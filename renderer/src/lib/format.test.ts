import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { formatClock, formatDateClock, startedTitle } from './format.js';

describe('times in the local time zone', () => {
  // a zone away from UTC, so a UTC time shown beside a local one shows up
  beforeAll(() => {
    vi.stubEnv('TZ', 'America/New_York');
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it('formatClock and formatDateClock read the local clock', () => {
    expect(formatClock('2026-11-25T09:50:09.049Z')).toBe('04:50:09.049');
    expect(formatDateClock('2026-11-25T09:50:09.049Z')).toBe('2026-11-25 04:50:09.049');
    expect(formatDateClock('not a time')).toBe('not a time');
  });

  it('the Started tooltip says start and end in the same (local) time as the Started cell', () => {
    expect(startedTitle('2026-11-25T09:50:09.049Z', 1.8, false)).toBe(
      'Started 2026-11-25 04:50:09.049, ended 04:50:09.050 (1.8 ms)'
    );
    expect(startedTitle('2026-11-25T09:50:09.049Z', Number.NaN, true)).toBe(
      'Started 2026-11-25 04:50:09.049, still in flight'
    );
  });
});
