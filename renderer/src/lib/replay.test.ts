import { describe, expect, it } from 'vitest';
import { flow } from '../store/fake-api.js';
import { bodyEditable, bodyTruncated, buildReplay, formFor, headerLines, parseHeaderLines } from './replay.js';

const captured = flow({
  id: 'f1',
  method: 'POST',
  path: '/reviews/0',
  source: 'productpage-v1',
  requestHeaders: {
    'x-user': 'jason',
    accept: ['a', 'b'],
    'content-length': '5',
    host: 'reviews:9080',
    'x-request-id': 'r1',
    traceparent: '00-aa-bb-01'
  },
  requestBody: { encoding: 'utf8', data: '{"a":1}', size: 7, truncated: false }
});

describe('replay form', () => {
  it('shows the request as editable text (without the headers a replay never copies)', () => {
    const form = formFor(captured);
    expect(form).toEqual({
      method: 'POST',
      path: '/reviews/0',
      headers: 'x-user: jason\naccept: a, b\nhost: reviews:9080',
      body: '{"a":1}',
      as: 'productpage-v1'
    });
    expect(headerLines({})).toBe('');
  });

  it('parses header lines and reports the bad ones', () => {
    expect(parseHeaderLines('X-A: 1\n\nx-b:two: three\r\nbad line\n: nope')).toEqual({
      headers: { 'x-a': '1', 'x-b': 'two: three' },
      bad: [4, 5]
    });
  });

  it('an unchanged form resends as-is', () => {
    expect(buildReplay(captured, formFor(captured))).toEqual({ ok: true, request: { id: 'f1' } });
  });

  it('sends only what changed: method, path, changed/added/removed headers, body, caller', () => {
    const form = {
      ...formFor(captured),
      method: 'put',
      path: '/reviews/1?x=1',
      headers: 'x-user: mallory\naccept: a, b\nx-new: 1',
      body: '{"a":2}',
      as: 'reviews-v2'
    };
    expect(buildReplay(captured, form)).toEqual({
      ok: true,
      request: {
        id: 'f1',
        as: 'reviews-v2',
        edit: {
          method: 'PUT',
          path: '/reviews/1?x=1',
          headers: { 'x-user': 'mallory', 'x-new': '1', host: null },
          body: '{"a":2}',
          bodyEncoding: 'utf8'
        }
      }
    });
  });

  it('refuses a bad method, path or header line', () => {
    const base = formFor(captured);
    expect(buildReplay(captured, { ...base, method: 'GE T' })).toMatchObject({ ok: false });
    expect(buildReplay(captured, { ...base, path: 'reviews' })).toMatchObject({ ok: false });
    expect(buildReplay(captured, { ...base, headers: 'nope' })).toEqual({
      ok: false,
      message: 'Header line 1: write each header as "name: value".'
    });
  });

  it('a binary body is not editable and never sent as an edit; a truncated text body is always sent', () => {
    const bin = flow({ id: 'b', requestBody: { encoding: 'base64', data: 'AAE=', size: 2, truncated: false } });
    expect(bodyEditable(bin)).toBe(false);
    expect(formFor(bin).body).toBe('');
    expect(buildReplay(bin, { ...formFor(bin), body: 'x' })).toEqual({ ok: true, request: { id: 'b' } });
    const cut = flow({ id: 'c', requestBody: { encoding: 'utf8', data: 'abc', size: 9000, truncated: true } });
    expect(bodyEditable(cut)).toBe(true);
    expect(bodyTruncated(cut)).toBe(true);
    expect(buildReplay(cut, formFor(cut))).toEqual({
      ok: true,
      request: { id: 'c', edit: { body: 'abc', bodyEncoding: 'utf8' } }
    });
    expect(bodyEditable(flow({ id: 'n' }))).toBe(true);
  });
});
