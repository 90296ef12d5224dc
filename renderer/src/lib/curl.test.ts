import { describe, expect, it } from 'vitest';
import type { FlowRecord } from '../../../main/contract/api.js';
import { curlFor, shellQuote } from './curl.js';

const base = {
  method: 'GET',
  authority: 'reviews:9080',
  path: '/reviews/0?x=1',
  requestHeaders: {
    host: 'reviews:9080',
    'end-user': 'jason',
    'x-request-id': 'abc',
    'x-envoy-attempt-count': '1',
    'x-forwarded-proto': 'http',
    traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01'
  },
  requestBody: null
} as unknown as FlowRecord;

describe('Copy as cURL', () => {
  it("sends it again through the caller's sidecar, with the app's headers only", () => {
    expect(curlFor(base, 15100)).toEqual({
      command: "curl -x http://127.0.0.1:15100 -H 'end-user: jason' 'http://reviews:9080/reviews/0?x=1'",
      bodyLeftOut: false
    });
    expect(curlFor(base).command).toBe("curl -H 'end-user: jason' 'http://reviews:9080/reviews/0?x=1'");
  });

  it('a text body goes along, quoted for the shell; a binary or cut-short one is left out, and said so', () => {
    const post = {
      ...base,
      method: 'POST',
      requestBody: { encoding: 'utf8', data: `{"q":"it's"}`, size: 12, truncated: false }
    } as FlowRecord;
    expect(curlFor(post).command).toBe(
      `curl -X POST -H 'end-user: jason' --data-raw '{"q":"it'\\''s"}' 'http://reviews:9080/reviews/0?x=1'`
    );
    const cut = { ...post, requestBody: { encoding: 'utf8', data: 'abc', size: 9000, truncated: true } } as FlowRecord;
    expect(curlFor(cut)).toMatchObject({ bodyLeftOut: true });
    expect(curlFor(cut).command).not.toContain('--data-raw');
    const binary = {
      ...post,
      requestBody: { encoding: 'base64', data: 'AAE=', size: 2, truncated: false }
    } as FlowRecord;
    expect(curlFor(binary)).toMatchObject({ bodyLeftOut: true });
  });

  it('a request in flight: what was sent so far, no body; one its headers announce is said to be left out', () => {
    const pending = { ...base, requestBody: undefined } as FlowRecord;
    expect(curlFor(pending, 15100)).toEqual({
      command: "curl -x http://127.0.0.1:15100 -H 'end-user: jason' 'http://reviews:9080/reviews/0?x=1'",
      bodyLeftOut: false
    });
    const upload = {
      ...pending,
      method: 'PUT',
      requestHeaders: { ...base.requestHeaders, 'content-type': 'text/plain', 'content-length': '5' }
    } as FlowRecord;
    expect(curlFor(upload)).toEqual({
      command: "curl -X PUT -H 'end-user: jason' -H 'content-type: text/plain' 'http://reviews:9080/reviews/0?x=1'",
      bodyLeftOut: true
    });
    const chunked = { ...pending, method: 'POST', requestHeaders: { 'Transfer-Encoding': 'chunked' } } as FlowRecord;
    expect(curlFor(chunked)).toMatchObject({ bodyLeftOut: true });
    const empty = { ...pending, method: 'POST', requestHeaders: { 'content-length': '0' } } as FlowRecord;
    expect(curlFor(empty)).toMatchObject({ bodyLeftOut: false });
  });

  it('quotes only what needs it', () => {
    expect(shellQuote('http://a:1/b')).toBe('http://a:1/b');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });
});
