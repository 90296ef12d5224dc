import { describe, expect, it } from 'vitest';
import { formatHeaderValue, parseFormat, type FormatFacts } from './header-format.js';

const facts: FormatFacts = {
  remoteAddress: '127.0.0.1',
  remotePort: 50123,
  localAddress: '::1',
  localPort: 15001,
  protocol: 'HTTP/1.1',
  startMs: Date.UTC(2026, 10, 25, 4, 5, 6, 789),
  requestHeaders: { 'user-agent': 'curl/8.5.0', 'x-two': ['a', 'b'] },
  authority: 'reviews:9080',
  method: 'GET',
  path: '/r?x=1',
  upstream: null,
  responseCode: 0
};

describe("Envoy's header value format", () => {
  it('leaves a value without % as it is, and reads %% as one %', () => {
    expect(formatHeaderValue('plain', facts)).toBe('plain');
    expect(formatHeaderValue('100%%', facts)).toBe('100%');
    expect(formatHeaderValue('%%%%', facts)).toBe('%%');
  });
  it('downstream addresses (IPv6 in brackets), protocol, request headers with alternatives and a length cap', () => {
    expect(formatHeaderValue('%DOWNSTREAM_REMOTE_ADDRESS%', facts)).toBe('127.0.0.1:50123');
    expect(formatHeaderValue('ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;', facts)).toBe('ip=127.0.0.1;');
    expect(formatHeaderValue('%DOWNSTREAM_LOCAL_ADDRESS%', facts)).toBe('[::1]:15001');
    expect(formatHeaderValue('%DOWNSTREAM_LOCAL_PORT%', facts)).toBe('15001');
    expect(formatHeaderValue('%PROTOCOL%', facts)).toBe('HTTP/1.1');
    expect(formatHeaderValue('%REQ(:AUTHORITY)% %REQ(:method)% %REQ(:path)%', facts)).toBe('reviews:9080 GET /r?x=1');
    expect(formatHeaderValue('%REQ(x-missing?User-Agent):4%', facts)).toBe('curl');
    // a header on two lines: the first line's value, as Envoy's HeaderFormatter takes it
    expect(formatHeaderValue('%REQ(x-two)%', facts)).toBe('a');
  });
  it('the upstream endpoint once chosen (response header values), empty before', () => {
    expect(formatHeaderValue('[%UPSTREAM_REMOTE_ADDRESS%]', facts)).toBe('[]');
    expect(formatHeaderValue('[%RESPONSE_CODE%]', facts)).toBe('[]');
    const up = { ...facts, upstream: '127.0.0.1:9081', responseCode: 503 };
    expect(formatHeaderValue('%RESPONSE_CODE%', up)).toBe('503');
    expect(formatHeaderValue('%UPSTREAM_HOST% %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_REMOTE_PORT%', up)).toBe(
      '127.0.0.1:9081 127.0.0.1 9081'
    );
  });
  it('UPSTREAM_CLUSTER (and _RAW) and RESPONSE_FLAGS read the request so far; empty cluster, flags "-" without them', () => {
    expect(formatHeaderValue('[%UPSTREAM_CLUSTER%][%RESPONSE_FLAGS%]', facts)).toBe('[][-]');
    const chosen = {
      ...facts,
      cluster: () => 'outbound|9080|v1|reviews.default.svc.cluster.local',
      flags: () => 'UF,URX'
    };
    expect(formatHeaderValue('%UPSTREAM_CLUSTER% %UPSTREAM_CLUSTER_RAW% %RESPONSE_FLAGS%', chosen)).toBe(
      'outbound|9080|v1|reviews.default.svc.cluster.local outbound|9080|v1|reviews.default.svc.cluster.local UF,URX'
    );
  });
  it('START_TIME: ISO with milliseconds by default, or a strftime format in UTC', () => {
    expect(formatHeaderValue('%START_TIME%', facts)).toBe('2026-11-25T04:05:06.789Z');
    expect(formatHeaderValue('%START_TIME(%Y/%m/%d %H:%M:%E3S|%s|%6f)%', facts)).toBe(
      '2026/11/25 04:05:06.789|1795579506|789000'
    );
  });
  it('a command localmesh does not evaluate is empty; a % opening no command leaves the value as written', () => {
    expect(formatHeaderValue('[%UPSTREAM_METADATA(["istio"])%]', facts)).toBe('[]');
    expect(parseFormat('50% off%')).toEqual({ error: expect.stringMatching(/no command after the %/) });
    expect(formatHeaderValue('50% off%', facts)).toBe('50% off%');
  });
});
