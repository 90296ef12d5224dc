/** Path normalization (istio-semantics §1.5: paths are compared normalized, without the query). */
import { describe, expect, it } from 'vitest';
import { absoluteTarget, normalizeTarget, removeDotSegments } from './path.js';

describe('normalizeTarget', () => {
  it('leaves ordinary targets alone (the same string)', () => {
    const t = '/bench/items/42?x=1&y=/../z';
    expect(normalizeTarget(t)).toBe(t);
    expect(normalizeTarget('/file.txt')).toBe('/file.txt');
  });
  it('removes dot segments in the path, never in the query', () => {
    expect(normalizeTarget('/./admin')).toBe('/admin');
    expect(normalizeTarget('/x/../admin')).toBe('/admin');
    expect(normalizeTarget('/../../admin')).toBe('/admin');
    expect(normalizeTarget('/a/b/./c/../d?q=/./x')).toBe('/a/b/d?q=/./x');
    expect(normalizeTarget('/a/..')).toBe('/');
    expect(normalizeTarget('/a/b/.')).toBe('/a/b/');
  });
  it('decodes escaped unreserved characters, keeps other escapes (hex upper-cased)', () => {
    expect(normalizeTarget('/%61dmin')).toBe('/admin');
    expect(normalizeTarget('/%2e%2E/admin')).toBe('/admin');
    expect(normalizeTarget('/a%2fb%20c')).toBe('/a%2Fb%20c');
    expect(normalizeTarget('/x?q=%61')).toBe('/x?q=%61');
  });
  it('drops a fragment', () => {
    expect(normalizeTarget('/admin#frag')).toBe('/admin');
    expect(normalizeTarget('/a?b=1#frag')).toBe('/a?b=1');
  });
  it('keeps double slashes and case', () => {
    expect(removeDotSegments('//a//B/./c')).toBe('//a//B/c');
  });
});

describe('absoluteTarget', () => {
  it('splits an absolute-form target into authority and path; other forms are not absolute', () => {
    expect(absoluteTarget('http://reviews:9080/r/1?x=1')).toEqual({ authority: 'reviews:9080', path: '/r/1?x=1' });
    expect(absoluteTarget('HTTP://Web/')).toEqual({ authority: 'web', path: '/' });
    expect(absoluteTarget('/r/1')).toBeUndefined();
    expect(absoluteTarget('*')).toBeUndefined();
  });
});
