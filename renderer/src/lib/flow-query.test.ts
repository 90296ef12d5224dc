import { describe, expect, it } from 'vitest';
import { flow } from '../store/fake-api.js';
import { filtersActive, filtersToQuery, matchesFilter, NO_FILTERS, sameFilters, serviceMatches } from './flow-query.js';

const f = (over: Parameters<typeof flow>[0]) => flow(over);

describe('filters → FlowQuery', () => {
  it('no filter is an empty query', () => {
    expect(filtersToQuery(NO_FILTERS)).toEqual({});
    expect(filtersActive(NO_FILTERS)).toBe(false);
  });

  it('maps every server-side filter and trims the text', () => {
    expect(
      filtersToQuery({
        service: 'reviews',
        caller: 'productpage-v1',
        workload: 'reviews-v2',
        status: '5xx',
        flag: 'UF',
        text: '  /reviews/0 ',
        session: 3
      })
    ).toEqual({
      service: 'reviews',
      caller: 'productpage-v1',
      workload: 'reviews-v2',
      status: '5xx',
      flag: 'UF',
      text: '/reviews/0',
      session: 3
    });
  });

  it('keeps status "none" and flag "any"/"none" out of the query (client-side)', () => {
    expect(filtersToQuery({ ...NO_FILTERS, status: 'none', flag: 'any' })).toEqual({});
    expect(filtersToQuery({ ...NO_FILTERS, flag: 'none' })).toEqual({});
    expect(filtersActive({ ...NO_FILTERS, flag: 'none' })).toBe(true);
  });

  it('session 0 is a session, null is all', () => {
    expect(filtersToQuery({ ...NO_FILTERS, session: 0 })).toEqual({ session: 0 });
    expect(filtersActive({ ...NO_FILTERS, session: 0 })).toBe(true);
  });

  it('sameFilters ignores surrounding whitespace of the text only', () => {
    expect(sameFilters({ ...NO_FILTERS, text: 'a ' }, { ...NO_FILTERS, text: 'a' })).toBe(true);
    expect(sameFilters({ ...NO_FILTERS, text: 'a' }, { ...NO_FILTERS, text: 'b' })).toBe(false);
    expect(sameFilters(NO_FILTERS, { ...NO_FILTERS, session: 1 })).toBe(false);
  });
});

describe('matchesFilter (live events)', () => {
  const x = f({
    id: 'x',
    source: 'productpage-v1',
    destination: 'reviews-v2',
    destinationService: 'reviews.default.svc.cluster.local',
    path: '/reviews/0?u=1',
    status: 503,
    flags: 'UF,URX',
    requestHeaders: { 'x-user': 'Jason' },
    responseHeaders: { 'content-type': 'application/json' },
    sessionId: 4
  });

  it('service: short name, name.namespace or FQDN', () => {
    expect(serviceMatches(x, 'reviews')).toBe(true);
    expect(serviceMatches(x, 'reviews.default')).toBe(true);
    expect(serviceMatches(x, 'reviews.default.svc.cluster.local')).toBe(true);
    expect(serviceMatches(x, 'ratings')).toBe(false);
    expect(serviceMatches(f({ id: 'ext', destinationService: 'example.com:443' }), 'example.com:443')).toBe(true);
    expect(serviceMatches(f({ id: 'none', destinationService: null }), 'reviews')).toBe(false);
  });

  it('caller (unknown = no sidecar) and workload on either end', () => {
    expect(matchesFilter(x, { ...NO_FILTERS, caller: 'productpage-v1' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, caller: 'reviews-v2' })).toBe(false);
    expect(matchesFilter(f({ id: 'n', source: null }), { ...NO_FILTERS, caller: 'unknown' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, workload: 'reviews-v2' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, workload: 'productpage-v1' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, workload: 'ratings-v1' })).toBe(false);
  });

  it('status class, one flag, any flag, no flag, no response', () => {
    expect(matchesFilter(x, { ...NO_FILTERS, status: '5xx' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, status: '2xx' })).toBe(false);
    expect(matchesFilter(x, { ...NO_FILTERS, flag: 'URX' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, flag: 'UR' })).toBe(false);
    expect(matchesFilter(x, { ...NO_FILTERS, flag: 'any' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, flag: 'none' })).toBe(false);
    expect(matchesFilter(f({ id: 'z', status: 0 }), { ...NO_FILTERS, status: 'none' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, status: 'none' })).toBe(false);
  });

  it('text: case-insensitive substring of the path, a header name or value, or a text body', () => {
    expect(matchesFilter(x, { ...NO_FILTERS, text: 'REVIEWS/0' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, text: 'x-user' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, text: 'jason' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, text: 'application/json' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, text: 'ratings' })).toBe(false);
    const withBody = {
      ...x,
      responseBody: { encoding: 'utf8' as const, data: 'Reviewer1', size: 9, truncated: false }
    };
    expect(matchesFilter(withBody, { ...NO_FILTERS, text: 'reviewer1' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, text: 'ratings' }, { text: false })).toBe(true);
  });

  it('session: the stamp, else the current session when it is known', () => {
    expect(matchesFilter(x, { ...NO_FILTERS, session: 4 })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, session: 5 })).toBe(false);
    const unstamped = f({ id: 'u' });
    expect(matchesFilter(unstamped, { ...NO_FILTERS, session: 5 }, { currentSession: 5 })).toBe(true);
    expect(matchesFilter(unstamped, { ...NO_FILTERS, session: 4 }, { currentSession: 5 })).toBe(false);
    expect(matchesFilter(unstamped, { ...NO_FILTERS, session: 4 })).toBe(true);
  });

  it('all filters must hold', () => {
    expect(matchesFilter(x, { ...NO_FILTERS, caller: 'productpage-v1', service: 'reviews', status: '5xx' })).toBe(true);
    expect(matchesFilter(x, { ...NO_FILTERS, caller: 'productpage-v1', service: 'ratings' })).toBe(false);
  });
});
