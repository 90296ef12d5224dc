import { describe, expect, it } from 'vitest';
import { expectedTimeoutMs } from './outbound.js';

describe('x-envoy-expected-rq-timeout-ms (Envoy FilterUtility::setTimeoutHeaders)', () => {
  it('is the per-try timeout, else the route timeout, capped by what is left of the route timeout', () => {
    expect(expectedTimeoutMs(300, 100, 0)).toBe(100); // per-try longer than the route: the route's
    expect(expectedTimeoutMs(60, 250, 0)).toBe(60);
    expect(expectedTimeoutMs(60, 250, 200)).toBe(50); // a retry late in the route timeout
    expect(expectedTimeoutMs(0, 2000, 120.7)).toBe(1880); // whole milliseconds elapsed
    expect(expectedTimeoutMs(0, 100, 150)).toBe(1); // out of time: 1, the smallest value
    expect(expectedTimeoutMs(50, 0, 10)).toBe(50); // no route timeout: the per-try one, uncapped
    expect(expectedTimeoutMs(0, 0, 10)).toBe(0); // neither: no header
  });
});
