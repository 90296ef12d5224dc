import { describe, expect, it } from 'vitest';
import type { ResourceView } from '../../../main/contract/api.js';
import { displayBody, DISPLAY_CAP, hexBytesPerRow, hexDump, hexRowChars, hexRows } from './body.js';
import { toErrorInfo } from './errors.js';
import { formatDuration, formatRelative, shortService, statusClass } from './format.js';
import { currentWeights, faultFor, hostCoversService, subsetsFor } from './istio.js';
import { diffLines, withContext } from './line-diff.js';
import { buildQuickAction, draftFor } from './quick.js';
import { caExportCommand, requiresMtls } from './security.js';

const res = (kind: string, name: string, spec: unknown, namespace = 'default'): ResourceView => ({
  kind,
  apiVersion: 'networking.istio.io/v1',
  name,
  namespace,
  where: { file: `/p/${name}.yaml`, line: 1, column: 1 },
  spec
});

describe('line diff', () => {
  it('marks added and removed lines with both line numbers', () => {
    const d = diffLines('a\nb\nc\n', 'a\nB\nc\nd\n');
    expect(d.map((l) => `${l.op}:${l.text}:${l.oldNo ?? '-'}:${l.newNo ?? '-'}`)).toEqual([
      'eq:a:1:1',
      'del:b:2:-',
      'add:B:-:2',
      'eq:c:3:3',
      'add:d:-:4'
    ]);
  });
  it('a new file is all additions', () => {
    expect(diffLines('', 'x\ny').every((l) => l.op === 'add')).toBe(true);
  });
  it('folds unchanged stretches beyond the context', () => {
    const before = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n');
    const after = before.replace('l10', 'L10');
    const chunks = withContext(diffLines(before, after), 2);
    expect(chunks.map((c) => (c.type === 'skip' ? `skip ${c.count}` : `lines ${c.lines.length}`))).toEqual([
      'skip 8',
      'lines 6',
      'skip 7'
    ]);
  });
});

describe('bodies', () => {
  it('pretty-prints JSON', () => {
    const b = displayBody({ encoding: 'utf8', data: '{"a":[1,2]}', size: 11, truncated: false }, 'application/json');
    expect(b.kind).toBe('json');
    expect(b.text).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
  });
  it('shows invalid JSON as text with a note', () => {
    const b = displayBody({ encoding: 'utf8', data: '{oops', size: 5, truncated: false }, 'application/json');
    expect(b.kind).toBe('text');
    expect(b.notes).toContain('Not valid JSON; shown as text.');
  });
  it('hex-dumps base64 bodies', () => {
    const b = displayBody({ encoding: 'base64', data: btoa('\u0000\u0001AB'), size: 4, truncated: false });
    expect(b.kind).toBe('hex');
    expect(b.text).toMatch(/^00000000 {2}00 01 41 42 {39}\|\.\.AB\|$/);
  });
  it('caps what it shows at 64 KiB and says so', () => {
    const data = 'x'.repeat(DISPLAY_CAP + 10);
    const b = displayBody({ encoding: 'utf8', data, size: data.length, truncated: false });
    expect(b.text).toHaveLength(DISPLAY_CAP);
    expect(b.notes[0]).toMatch(/first 64 KiB/);
    const bin = displayBody({
      encoding: 'base64',
      data: btoa('y'.repeat(DISPLAY_CAP + 16)),
      size: DISPLAY_CAP + 16,
      truncated: true
    });
    expect(bin.text.split('\n')).toHaveLength(DISPLAY_CAP / 16);
    expect(bin.notes.length).toBe(2);
  });
  it('hexDump of 17 bytes takes two lines', () => {
    expect(hexDump(new Uint8Array(17)).split('\n')).toHaveLength(2);
  });
  it('lays a hex dump out with fewer bytes per row when it is narrow; every row as wide as hexRowChars says', () => {
    const bytes = new Uint8Array([0x47, 0x45, 0x54, 0x20, 0, 1, 2, 0x7e, 0x7f, 0x41]);
    expect(hexDump(bytes, 8).split('\n')).toEqual([
      '00000000  47 45 54 20 00 01 02 7e  |GET ...~|',
      '00000008  7f 41' + ' '.repeat(20) + '|.A|'
    ]);
    for (const n of [16, 8, 4]) {
      const rows = hexDump(new Uint8Array(40), n).split('\n');
      expect(rows).toHaveLength(Math.ceil(40 / n));
      for (const r of rows.slice(0, -1)) expect(r).toHaveLength(hexRowChars(n));
      expect(hexRows(new Uint8Array(40), n)[1]!.offset).toBe(n.toString(16).padStart(8, '0'));
    }
    expect(hexRowChars(16)).toBe(78);
    expect([100, 78, 77, 45, 44, 29, 10].map(hexBytesPerRow)).toEqual([16, 16, 8, 8, 4, 4, 4]);
  });
  it('empty body', () => {
    expect(displayBody(null).kind).toBe('empty');
  });
});

describe('istio helpers', () => {
  it('matches hosts the way Istio qualifies short names', () => {
    expect(hostCoversService('ratings', 'default', 'ratings', 'default')).toBe(true);
    expect(hostCoversService('ratings', 'other', 'ratings', 'default')).toBe(false);
    expect(hostCoversService('ratings.default.svc.cluster.local', 'x', 'ratings', 'default')).toBe(true);
    expect(hostCoversService('*.default.svc.cluster.local', 'x', 'ratings', 'default')).toBe(true);
    expect(hostCoversService('reviews', 'default', 'ratings', 'default')).toBe(false);
  });
  it('finds faults, subsets and current weights', () => {
    const resources = [
      res('DestinationRule', 'reviews', { host: 'reviews', subsets: [{ name: 'v1' }, { name: 'v2' }, { name: 'v3' }] }),
      res('VirtualService', 'reviews', {
        hosts: ['reviews'],
        http: [
          { name: 'slow', fault: { delay: { fixedDelay: '2s', percentage: { value: 100 } } } },
          {
            route: [
              { destination: { host: 'reviews', subset: 'v1' }, weight: 80 },
              { destination: { host: 'reviews', subset: 'v3' }, weight: 20 }
            ]
          }
        ]
      })
    ];
    expect(subsetsFor(resources, 'reviews', 'default')).toEqual(['v1', 'v2', 'v3']);
    expect(currentWeights(resources, 'reviews', 'default', ['v1', 'v2', 'v3'])).toEqual({ v1: 80, v2: 0, v3: 20 });
    expect(faultFor(resources, 'reviews', 'default')?.rules).toEqual([{ index: 0, name: 'slow', text: 'delay 2s' }]);
    expect(faultFor(resources, 'ratings', 'default')).toBeNull();
  });
});

describe('quick action form', () => {
  const d = draftFor('fault', { name: 'ratings', namespace: 'default' }, []);
  it('builds a fault with an optional header', () => {
    expect(
      buildQuickAction({
        ...d,
        delayMs: '1500',
        abortStatus: '',
        percentage: '30',
        headerName: 'end-user',
        headerValue: 'jason'
      })
    ).toEqual({
      type: 'fault',
      service: 'ratings',
      delayMs: 1500,
      percentage: 30,
      header: { name: 'end-user', value: 'jason' }
    });
  });
  it('explains what to fix', () => {
    expect(buildQuickAction({ ...d, abortStatus: '700' })).toEqual({
      error: 'Abort status must be between 200 and 599.'
    });
    expect(buildQuickAction({ ...d, delayMs: '1.5' })).toEqual({ error: 'Delay must be a whole number.' });
    expect(buildQuickAction({ ...d, percentage: '120' })).toEqual({ error: 'Percentage must be between 0 and 100.' });
    expect(buildQuickAction({ ...d, kind: 'shift', weights: {} })).toMatchObject({
      error: expect.stringMatching(/No subsets/)
    });
    expect(buildQuickAction({ ...d, kind: 'shift', weights: { v1: 0 } })).toEqual({
      error: 'At least one weight must be above 0.'
    });
  });
  it('shift, timeout and clear-fault; name.namespace when the mesh spans namespaces', () => {
    expect(buildQuickAction({ ...d, kind: 'shift', weights: { v1: 10, v2: 90 } })).toEqual({
      type: 'shift',
      service: 'ratings',
      weights: { v1: 10, v2: 90 }
    });
    expect(buildQuickAction({ ...d, kind: 'timeout', timeoutMs: '0', retries: '' })).toEqual({
      type: 'timeout',
      service: 'ratings',
      timeoutMs: 0
    });
    expect(buildQuickAction({ ...d, kind: 'clear-fault' }, true)).toEqual({
      type: 'clear-fault',
      service: 'ratings.default'
    });
  });
});

describe('format and errors', () => {
  it('status classes', () => {
    expect([0, 101, 204, 302, 404, 503].map(statusClass)).toEqual(['none', '1xx', '2xx', '3xx', '4xx', '5xx']);
  });
  it('short service names and durations', () => {
    expect(shortService('ratings.default.svc.cluster.local')).toBe('ratings');
    expect(shortService('example.com:443')).toBe('example.com:443');
    expect(formatDuration(0.42)).toBe('0.42 ms');
    expect(formatDuration(12.345)).toBe('12.3 ms');
    expect(formatDuration(15_000)).toBe('15.0 s');
  });
  it('reads MeshError codes, and codes inside IPC error messages', () => {
    expect(toErrorInfo(Object.assign(new Error('nope'), { code: 'LM202' }))).toEqual({
      code: 'LM202',
      message: 'nope'
    });
    expect(toErrorInfo(new Error("Error invoking remote method 'mesh:getFlow': MeshError: LM202: no flow x"))).toEqual({
      code: 'LM202',
      message: 'no flow x'
    });
    expect(toErrorInfo('boom')).toEqual({ code: 'LM500', message: 'boom' });
  });
});

describe('security helpers', () => {
  it('builds the mtls-strict action from the form', () => {
    const d = draftFor('mtls-strict', { name: 'reviews', namespace: 'default' }, []);
    expect(buildQuickAction({ ...d, workload: '' })).toEqual({ error: 'Pick a workload with a sidecar.' });
    expect(buildQuickAction({ ...d, workload: 'reviews-v1' })).toEqual({
      type: 'mtls-strict',
      scope: 'workload',
      workload: 'reviews-v1'
    });
    expect(buildQuickAction({ ...d, workload: 'reviews-v1', scope: 'namespace' }, true)).toEqual({
      type: 'mtls-strict',
      scope: 'namespace',
      workload: 'reviews-v1'
    });
  });

  it('formats relative times coarsely', () => {
    const h = 3_600_000;
    expect(formatRelative(1000, 0)).toBe('just now');
    expect(formatRelative(5 * 60_000, 0)).toBe('in 5 min');
    expect(formatRelative(0, 5 * 60_000)).toBe('5 min ago');
    expect(formatRelative(11 * h + 59 * 60_000, 0)).toBe('in 11 h');
    expect(formatRelative(2 * h + 30 * 60_000, 0)).toBe('in 2 h 30 min');
    expect(formatRelative(3650 * 24 * h, 0)).toBe('in 10 years');
    expect(formatRelative(30 * 24 * h, 0)).toBe('in 30 days');
    expect(formatRelative(Number.NaN, 0)).toBe('–');
  });
});

describe('CA export command', () => {
  it('names the state directory of the running mesh', () => {
    expect(caExportCommand('/tmp/lm-sec/ca/root-cert.pem')).toBe(
      'localmesh ca export --state-dir /tmp/lm-sec --out mesh-ca.pem'
    );
    expect(caExportCommand('/home/me/My Mesh/.localmesh/ca/root-cert.pem')).toBe(
      'localmesh ca export --state-dir "/home/me/My Mesh/.localmesh" --out mesh-ca.pem'
    );
    expect(caExportCommand('C:\\p\\.localmesh\\ca\\root-cert.pem')).toBe(
      'localmesh ca export --state-dir C:\\p\\.localmesh --out mesh-ca.pem'
    );
    expect(caExportCommand('elsewhere.pem')).toBe('localmesh ca export --out mesh-ca.pem');
  });
});

describe('requiresMtls', () => {
  const w = (modes: ('STRICT' | 'PERMISSIVE' | 'DISABLE')[]) => ({
    workload: 'x',
    namespace: 'default',
    serviceAccount: 'x',
    sidecar: true,
    cert: null,
    mtls: modes.map((mode, i) => ({ port: 9000 + i, mode, source: 's' })),
    policies: []
  });
  it('is true only when every port is STRICT', () => {
    expect(requiresMtls(w(['STRICT', 'STRICT']))).toBe(true);
    expect(requiresMtls(w(['STRICT', 'PERMISSIVE']))).toBe(false);
    expect(requiresMtls(w([]))).toBe(false);
  });
});
