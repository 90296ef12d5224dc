import { describe, expect, it } from 'vitest';
import {
  ENVOY_INLINE_REQUEST_HEADERS,
  ENVOY_INLINE_RESPONSE_HEADERS,
  formatterHeader as loggedHeader
} from '../sidecar/h1.js';

describe("loggedHeader: Envoy's %REQ(X)% / %RESP(X)%", () => {
  const request = {
    'x-custom': ['a', 'b'],
    cookie: ['c1=1', 'c2=2'],
    'user-agent': 'one,two',
    'x-forwarded-for': ['10.0.0.1', '10.0.0.2']
  };
  it('a header on several lines logs its first line (the first entry of the header map)', () => {
    expect(loggedHeader(request, 'x-custom', ENVOY_INLINE_REQUEST_HEADERS)).toBe('a');
    expect(loggedHeader(request, 'cookie', ENVOY_INLINE_REQUEST_HEADERS)).toBe('c1=1');
    expect(loggedHeader({ 'set-cookie': ['a=1', 'b=2'] }, 'set-cookie', ENVOY_INLINE_RESPONSE_HEADERS)).toBe('a=1');
  });
  it('an inline header is one entry in Envoy\'s map: logged whole (a list of it joined with ",")', () => {
    expect(loggedHeader(request, 'user-agent', ENVOY_INLINE_REQUEST_HEADERS)).toBe('one,two');
    expect(loggedHeader(request, 'x-forwarded-for', ENVOY_INLINE_REQUEST_HEADERS)).toBe('10.0.0.1,10.0.0.2');
    expect(
      loggedHeader(
        { 'x-envoy-upstream-service-time': ['3', '7'] },
        'x-envoy-upstream-service-time',
        ENVOY_INLINE_RESPONSE_HEADERS
      )
    ).toBe('3,7');
  });
  it('an absent header is undefined (the line shows "-")', () => {
    expect(loggedHeader(request, 'x-request-id', ENVOY_INLINE_REQUEST_HEADERS)).toBeUndefined();
  });
});
