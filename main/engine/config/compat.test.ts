import { describe, expect, it } from 'vitest';
import { compatFor, parseMinor, shadowHost } from './compat.js';

describe('compatFor', () => {
  it('each switch flips at the release istio-semantics §1.9 names', () => {
    const at = (v: string | null) => compatFor(v);
    expect([at('1.23').retry503ByDefault, at('1.24').retry503ByDefault, at(null).retry503ByDefault]).toEqual([
      true,
      false,
      false
    ]);
    expect([at('1.23').inboundRetry, at('1.24').inboundRetry]).toEqual([false, true]);
    expect([at('1.21').b3ByDefault, at('1.22').b3ByDefault]).toEqual([true, false]);
    expect([at('1.14').weightsSumTo100, at('1.15').weightsSumTo100]).toEqual([true, false]);
    expect([at('1.6').consecutiveErrorsAsGateway, at('1.7').consecutiveErrorsAsGateway]).toEqual([true, false]);
    expect([at('1.19').ejectBelowMaxPercent, at('1.20').ejectBelowMaxPercent]).toEqual([true, false]);
    expect([at('1.22').jwtParamRemoved, at('1.23').jwtParamRemoved, at(null).jwtParamRemoved]).toEqual([
      false,
      true,
      true
    ]);
    expect([at('1.27').mirrorShadowHost, at('1.28').mirrorShadowHost, at(null).mirrorShadowHost]).toEqual([
      true,
      false,
      false
    ]);
  });
  it('reads 1.<minor> only', () => {
    expect(parseMinor('1.9')).toBe(9);
    expect(() => parseMinor('1.2.3')).toThrow(/1\.<minor>/);
  });
});

describe('shadowHost', () => {
  it('puts -shadow after the host name, before a port', () => {
    expect(shadowHost('reviews:9080')).toBe('reviews-shadow:9080');
    expect(shadowHost('reviews.default.svc.cluster.local')).toBe('reviews.default.svc.cluster.local-shadow');
    expect(shadowHost('[::1]:8080')).toBe('[::1]-shadow:8080');
    expect(shadowHost('[::1]')).toBe('[::1]-shadow');
  });
});
