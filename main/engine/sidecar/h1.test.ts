import { describe, expect, it } from 'vitest';
import {
  ChunkedScanner,
  envoyRequestHeaders,
  envoyResponseHeaders,
  headerLines,
  MAX_HEAD,
  MAX_HEADERS_COUNT,
  parseRequestHead,
  parseResponseHead
} from './h1.js';

const req = (s: string) => parseRequestHead(Buffer.from(s, 'latin1'));
const res = (s: string) => parseResponseHead(Buffer.from(s, 'latin1'));

describe('parseRequestHead', () => {
  it("reads an origin-form HTTP/1.1 request with the headers Envoy's codec makes of it", () => {
    const text =
      'GET /a?b=1 HTTP/1.1\r\nHost: api\r\nX-Multi: 1\r\nx-multi: 2\r\nCookie: a=1\r\ncookie: b=2\r\nSet-Cookie: s=1\r\nset-cookie: s=2\r\nUser-Agent: first\r\nUser-Agent: second\r\nX-Pad:   spaced value  \r\nContent-Length: 3\r\n\r\nabcGET';
    const h = req(text);
    expect(h).toEqual({
      method: 'GET',
      target: '/a?b=1',
      headers: {
        host: 'api',
        // a line per field for the headers Envoy has no inline slot for, an inline one's values joined with ","
        'x-multi': ['1', '2'],
        cookie: ['a=1', 'b=2'],
        'set-cookie': ['s=1', 's=2'],
        'user-agent': 'first,second',
        'x-pad': 'spaced value',
        'content-length': '3'
      },
      length: text.indexOf('abc'),
      contentLength: 3,
      close: false
    });
  });

  it('says incomplete until the blank line, and reads from an offset', () => {
    expect(req('GET / HTTP/1.1\r\nHost: a\r\n')).toBe('incomplete');
    const two = Buffer.from(
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n'
    );
    const first = parseRequestHead(two);
    if (typeof first === 'string') throw new Error(first);
    expect(parseRequestHead(two, first.length)).toMatchObject({ target: '/2', close: true });
  });

  it('leaves to node:http what it is not sure of', () => {
    const unsupported = [
      'GET / HTTP/1.0\r\nHost: a\r\n\r\n', // another version
      'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', // absolute-form
      'GET * HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n', // no Host
      'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n', // obs-fold
      'GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0001b\r\n\r\n', // control character
      'GET / HTTP/1.1\r\nHost: a\r\nX-A: \u000bb\r\n\r\n', // one at the value's edge (not OWS, so not trimmed)
      'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n', // a lone CR
      'GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n', // an empty name
      'GET / HTTP/1.1\r\nHost: a\r\nX-A v\r\nX-B: 1\r\n\r\n', // a line without colon (the next has one)
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n',
      'G(T / HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /a\u00e9 HTTP/1.1\r\nHost: a\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(MAX_HEAD)}\r\n\r\n`
    ];
    for (const u of unsupported) expect([u, req(u)]).toEqual([u, 'unsupported']);
    // only spaces and tabs around a value are OWS: obs-text there stays, as llhttp keeps it
    expect(req('GET / HTTP/1.1\r\nHost: a\r\nX-A:\t\u00a0v\u00a0 \t\r\nX-B:\r\n\r\n')).toMatchObject({
      headers: { host: 'a', 'x-a': '\u00a0v\u00a0', 'x-b': '' }
    });
    // and a head that is too long is given up on before its end arrives
    expect(req(`GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD)}`)).toBe('unsupported');
  });
});

describe("envoyRequestHeaders (node:http's rawHeaders) and the fast lane agree", () => {
  it('joins an inline header\'s values with "," as Envoy\'s appendToHeader does, and keeps other lines apart', () => {
    const fields: [string, string][] = [
      ['Host', 'a'],
      ['Host', 'b'],
      ['Accept', 'text/html'],
      ['ACCEPT', ''],
      ['accept', 'application/json'],
      ['User-Agent', ''],
      ['User-Agent', 'ua'],
      ['Authorization', 'Bearer x'],
      ['Authorization', 'Bearer y'],
      ['X-Forwarded-For', '10.0.0.1'],
      ['X-Forwarded-For', '10.0.0.2'],
      ['X-Custom', 'a'],
      ['X-Custom', ''],
      ['X-Custom', 'c'],
      ['Cookie', 'a=1'],
      ['Cookie', 'b=2'],
      ['Etag', '"1"'],
      ['Etag', '"2"']
    ];
    const expected = {
      host: 'a', // the first, as before (node:http's rule)
      accept: 'text/html,application/json', // an empty value adds nothing
      'user-agent': 'ua', // a value after an empty one takes its place
      authorization: 'Bearer x,Bearer y', // inline in istio-proxy (the cache filter registers it)
      'x-forwarded-for': '10.0.0.1,10.0.0.2',
      'x-custom': ['a', '', 'c'],
      cookie: ['a=1', 'b=2'], // no inline slot in istio-proxy: a line each, no "; " join
      etag: ['"1"', '"2"'] // node:http would keep only the first
    };
    expect(envoyRequestHeaders(fields.flat())).toEqual(expected);
    const head = req(`GET / HTTP/1.1\r\n${fields.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    expect(typeof head === 'object' && head.headers).toEqual(expected);
  });

  it('leaves a repeated content-length to node:http', () => {
    expect(req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx')).toBe('unsupported');
  });
});

describe("envoyResponseHeaders (node:http's rawHeaders) and the fast lane agree", () => {
  it('joins a header inline in Envoy\'s response map with "," and keeps set-cookie and the rest a line each', () => {
    const fields: [string, string][] = [
      ['Content-Type', 'text/plain'],
      ['Content-Type', 'text/html'],
      ['Set-Cookie', 'a=1'],
      ['Vary', 'Accept'],
      ['vary', ''],
      ['VARY', 'Origin'],
      ['Cache-Control', ''],
      ['Cache-Control', 'no-store'],
      ['Location', '/a'],
      ['Location', '/b'],
      ['Access-Control-Allow-Origin', 'x'],
      ['Access-Control-Allow-Origin', 'y'],
      ['Grpc-Status', '0'],
      ['Grpc-Status', '1'],
      ['X-App', 'a'],
      ['X-App', ''],
      ['X-App', 'c'],
      ['WWW-Authenticate', 'Basic'],
      ['WWW-Authenticate', 'Bearer'],
      ['Cookie', 'a'],
      ['Cookie', 'b'],
      ['Set-Cookie', 'b=2'],
      ['Content-Length', '0']
    ];
    const expected = {
      'content-type': 'text/plain,text/html', // node:http would keep the first
      'set-cookie': ['a=1', 'b=2'],
      vary: 'Accept,Origin', // an empty value adds nothing
      'cache-control': 'no-store', // a value after an empty one takes its place
      location: '/a,/b',
      'access-control-allow-origin': 'x,y', // the cors filter's
      'grpc-status': '0,1',
      'x-app': ['a', '', 'c'], // node:http would join them with ", "
      'www-authenticate': ['Basic', 'Bearer'],
      cookie: ['a', 'b'], // no "; " join in a response
      'content-length': '0'
    };
    expect(envoyResponseHeaders(fields.flat())).toEqual(expected);
    const head = res(`HTTP/1.1 200 OK\r\n${fields.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    expect(typeof head === 'object' && head.headers).toEqual(expected);
    // a single set-cookie is a list too (as node:http reports it)
    expect(envoyResponseHeaders(['Set-Cookie', 'a=1'])).toEqual({ 'set-cookie': ['a=1'] });
  });

  it('a repeated content-length: the fast lane does not proxy it; from node:http (values checked) the first', () => {
    expect(res('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx')).toBe('unsupported');
    expect(envoyResponseHeaders(['Content-Length', '1', 'content-length', '1'])).toEqual({ 'content-length': '1' });
  });
});

describe("Envoy's max_headers_count", () => {
  it('takes 100 header lines and leaves a head with 101 to node:http (whose listener answers 431)', () => {
    const head = (n: number) => Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\n${'x-a: 1\r\n'.repeat(n - 1)}\r\n`, 'latin1');
    const ok = parseRequestHead(head(MAX_HEADERS_COUNT));
    expect(typeof ok === 'object' && ok.headers['x-a']).toEqual(Array(MAX_HEADERS_COUNT - 1).fill('1'));
    expect(parseRequestHead(head(MAX_HEADERS_COUNT + 1))).toBe('unsupported');
    // a response is not counted here
    const many = `HTTP/1.1 200 OK\r\ncontent-length: 0\r\n${'x-a: 1\r\n'.repeat(150)}\r\n`;
    expect(typeof res(many)).toBe('object');
  });
});

describe('parseResponseHead', () => {
  it('reads framing and connection reuse', () => {
    expect(res('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n')).toMatchObject({
      status: 200,
      reason: 'OK',
      contentLength: 5,
      chunked: false,
      close: false
    });
    expect(res('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n')).toMatchObject({
      status: 201,
      contentLength: -1,
      chunked: true
    });
    expect(res('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')).toMatchObject({
      contentLength: -1,
      chunked: false,
      close: true
    });
    expect(res('HTTP/1.0 200 OK\r\n\r\n')).toMatchObject({ close: true });
    expect(res('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n')).toMatchObject({
      close: false,
      contentLength: 0
    });
    expect(res('HTTP/1.1 204\r\n\r\n')).toMatchObject({ status: 204, reason: '' });
    expect(res('HTTP/1.1 200 OK\r\n')).toBe('incomplete');
  });

  it('refuses broken ones', () => {
    for (const u of [
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 2000 OK\r\n\r\n',
      'HTTP/1.1 abc OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'
    ]) {
      expect([u, res(u)]).toEqual([u, 'unsupported']);
    }
  });
});

describe('ChunkedScanner', () => {
  const body = '5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT';

  it('finds the end of a chunked body and decodes it, however the bytes are split', () => {
    const whole = Buffer.from(body);
    for (let cut = 1; cut < whole.length - 4; cut++) {
      for (let cut2 = cut; cut2 < whole.length - 4; cut2 += 7) {
        const s = new ChunkedScanner();
        const data: string[] = [];
        const pieces = [whole.subarray(0, cut), whole.subarray(cut, cut2), whole.subarray(cut2)];
        let end = -1;
        let at = 0;
        for (const p of pieces) {
          const e = s.scan(p, 0, (d) => data.push(d.toString()));
          if (e >= 0) {
            end = at + e;
            break;
          }
          at += p.length;
        }
        expect([cut, cut2, data.join(''), end]).toEqual([cut, cut2, 'hello, world', whole.length - 4]);
      }
    }
  });

  it('fails on broken framing', () => {
    for (const bad of ['zz\r\nhello\r\n0\r\n\r\n', '5\r\nhelloXX0\r\n\r\n', '5\nhello\r\n']) {
      const s = new ChunkedScanner();
      expect(s.scan(Buffer.from(bad), 0, () => undefined)).toBe(-1);
      expect([bad, s.failed]).toEqual([bad, true]);
    }
  });
});

describe('headerLines', () => {
  it('writes a line per value and refuses header injection', () => {
    expect(headerLines({ a: '1', 'set-cookie': ['x', 'y'], n: 3, gone: undefined })).toBe(
      'a: 1\r\nset-cookie: x\r\nset-cookie: y\r\nn: 3\r\n'
    );
    expect(() => headerLines({ a: 'x\r\nInjected: 1' })).toThrow(/Invalid character in header content \["a"\]/);
    expect(() => headerLines({ 'bad name': 'x' })).toThrow(/Invalid character/);
  });
});
