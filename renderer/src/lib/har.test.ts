import { describe, expect, it } from 'vitest';
import { flow, toHar } from '../store/fake-api.js';
import { toErrorInfo } from './errors.js';
import { BAD_HAR, harFileName, harText, parseHar } from './har.js';

const session = (over: { id?: number; label?: string | null } = {}) => ({
  id: over.id ?? 3,
  label: over.label === undefined ? 'Checkout bug #12' : over.label,
  kind: 'user' as const,
  startedAt: '2026-01-01T10:00:00.000Z',
  endedAt: null,
  flows: 1,
  bytes: 10,
  current: true,
  readOnly: false
});

function errorOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    return toErrorInfo(err);
  }
  throw new Error('did not throw');
}

describe('HAR files', () => {
  it('parses a HAR file (a BOM and surrounding space are fine)', () => {
    const har = toHar([flow({ id: 'a' })]);
    expect(parseHar(`\uFEFF  ${harText(har)}`).log.entries).toHaveLength(1);
  });

  it('says what is wrong, with the bad-request code', () => {
    expect(errorOf(() => parseHar('', 'a.har'))).toEqual({ code: BAD_HAR, message: 'a.har is empty.' });
    expect(errorOf(() => parseHar('{', 'a.har')).message).toMatch(/^a\.har is not JSON/);
    expect(errorOf(() => parseHar('{"entries":[]}')).message).toContain('has no "log"');
    expect(errorOf(() => parseHar('{"log":{"entries":{}}}')).message).toContain('not a list');
    expect(errorOf(() => parseHar('{"log":{"entries":[]}}')).message).toContain('holds no requests');
    expect(errorOf(() => parseHar('{"log":{"entries":[{"request":{}},3]}}')).message).toContain('entry 2');
  });

  it('names an export after the session, or just the time', () => {
    const now = new Date(2026, 0, 2, 3, 4, 5);
    expect(harFileName(session(), now)).toBe('localmesh-checkout-bug-12-20260102-030405.har');
    expect(harFileName(session({ label: null, id: 9 }), now)).toBe('localmesh-session-9-20260102-030405.har');
    expect(harFileName(null, now)).toBe('localmesh-20260102-030405.har');
  });

  it('writes indented JSON that parses back', () => {
    const har = toHar([flow({ id: 'a' }), flow({ id: 'b' })]);
    const text = harText(har);
    expect(text).toContain('\n  "log"');
    expect(parseHar(text)).toEqual(har);
  });
});
