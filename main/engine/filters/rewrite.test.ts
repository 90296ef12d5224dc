/** Redirect locations (istio-semantics §1.2 redirect): which host and port the location carries. */
import { describe, expect, it } from 'vitest';
import { buildRedirect, rewritePath } from './rewrite.js';

const loc = (rd: Parameters<typeof buildRedirect>[0], authority: string, scheme = 'http') =>
  buildRedirect(rd, undefined, authority, '/old?q=1', scheme).location;

describe('redirect location', () => {
  it('without authority, port or scheme: the request Host as it was, port included (even the default one)', () => {
    expect(loc({ uri: '/new' }, 'web:80')).toBe('http://web:80/new?q=1');
    expect(loc({ uri: '/new' }, 'web:9080')).toBe('http://web:9080/new?q=1');
    expect(loc({ uri: '/new' }, 'web')).toBe('http://web/new?q=1');
  });
  it('an empty uri is unset (the proto default): the path stays', () => {
    expect(loc({ uri: '', redirectCode: 302, authority: 'moved.example' }, 'web:9080')).toBe(
      'http://moved.example/old?q=1'
    );
  });
  it('authority replaces host and port', () => {
    expect(loc({ authority: 'moved.example:8080' }, 'web:9080')).toBe('http://moved.example:8080/old?q=1');
    expect(loc({ authority: 'moved.example' }, 'web:9080')).toBe('http://moved.example/old?q=1');
  });
  it("a scheme change drops the Host's port only when it was the request scheme's default (Envoy's newUri)", () => {
    expect(loc({ scheme: 'https' }, 'web:80')).toBe('https://web/old?q=1');
    expect(loc({ scheme: 'https' }, 'web:443')).toBe('https://web:443/old?q=1');
    expect(loc({ scheme: 'https' }, 'web:9080')).toBe('https://web:9080/old?q=1');
  });
  it('port and derivePort: Istio sets no redirect port for FROM_PROTOCOL_DEFAULT, nor for 80 under http', () => {
    expect(loc({ port: 8443, scheme: 'https' }, 'web:9080')).toBe('https://web:8443/old?q=1');
    expect(loc({ port: 8443 }, 'Web:9080')).toBe('http://Web:8443/old?q=1');
    // no port in the redirect: Envoy keeps the Host as the request sent it
    expect(loc({ port: 80 }, 'web:9080')).toBe('http://web:9080/old?q=1');
    expect(loc({ port: 80 }, 'web')).toBe('http://web/old?q=1');
    expect(loc({ port: 443, scheme: 'https' }, 'web:80')).toBe('https://web/old?q=1');
    expect(loc({ derivePort: 'FROM_PROTOCOL_DEFAULT', scheme: 'https' }, 'web:9080')).toBe('https://web:9080/old?q=1');
    expect(loc({ derivePort: 'FROM_REQUEST_PORT' }, 'web:9080')).toBe('http://web:9080/old?q=1');
  });
  it('derivePort FROM_REQUEST_PORT is the port the request came in on, with a new authority or a Host without port', () => {
    const at = (rd: Parameters<typeof buildRedirect>[0], authority: string) =>
      buildRedirect(rd, undefined, authority, '/old?q=1', 'http', 9080).location;
    expect(at({ derivePort: 'FROM_REQUEST_PORT', authority: 'other.com' }, 'web:9080')).toBe(
      'http://other.com:9080/old?q=1'
    );
    expect(at({ derivePort: 'FROM_REQUEST_PORT' }, 'web')).toBe('http://web:9080/old?q=1');
  });
  it('derivePort FROM_REQUEST_PORT on port 80 under http adds no port: the Host stays as sent (routing.go)', () => {
    const at80 = (authority: string, scheme?: string) =>
      buildRedirect({ derivePort: 'FROM_REQUEST_PORT', scheme }, undefined, authority, '/foo', 'http', 80).location;
    expect(at80('b')).toBe('http://b/foo');
    expect(at80('b:80')).toBe('http://b:80/foo');
    expect(at80('b', 'https')).toBe('https://b:80/foo');
  });
});

describe('rewrite.uri', () => {
  it('on a rule without a uri match replaces the prefix "/" the route matched, as Envoy does', () => {
    expect(rewritePath({ uri: '/all' }, undefined, '/foo/bar?x=1')).toBe('/allfoo/bar?x=1');
    expect(rewritePath({ uri: '/all/' }, undefined, '/foo')).toBe('/all/foo');
  });
});
