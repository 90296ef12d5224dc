import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatPath, objectKeysAt, parseYaml, suggest, zodIssuesToValidation } from './yaml-source.js';

const TEXT = ['a:', '  b:', '  - x: 1', '    y: {z: 2}', '  c:', '---', '# only a comment', '---', 'q: 1', ''].join(
  '\n'
);

describe('parseYaml positions', () => {
  const src = parseYaml(TEXT, '/tmp/f.yaml', 'X001');
  const doc = src.documents[0]!;

  it('parses every document with its value', () => {
    expect(src.issues).toEqual([]);
    expect(src.documents).toHaveLength(3);
    expect(doc.value).toEqual({ a: { b: [{ x: 1, y: { z: 2 } }], c: null } });
    expect(src.documents[1]!.value).toBeNull();
    expect(src.documents[2]!.value).toEqual({ q: 1 });
    expect(src.documents[2]!.start).toEqual({ file: '/tmp/f.yaml', line: 9, column: 1 });
  });

  it('finds nodes by path (1-based line and column)', () => {
    expect(doc.posOf(['a', 'b'])).toEqual({ file: '/tmp/f.yaml', line: 3, column: 3 });
    expect(doc.posOf(['a', 'b', 0])).toMatchObject({ line: 3, column: 5 });
    expect(doc.posOf(['a', 'b', 0, 'y'])).toMatchObject({ line: 4, column: 8 });
    expect(doc.posOf(['a', 'b', 0, 'y', 'z'])).toMatchObject({ line: 4, column: 12 });
  });

  it('points at the key when the value is empty', () => {
    expect(doc.posOf(['a', 'c'])).toMatchObject({ line: 5, column: 3 });
  });

  it('keyPosOf points at the key of a map entry', () => {
    expect(doc.keyPosOf(['a', 'b', 0, 'y'])).toMatchObject({ line: 4, column: 5 });
    expect(doc.keyPosOf(['a'])).toMatchObject({ line: 1, column: 1 });
  });

  it('falls back to the nearest existing ancestor, then the document start', () => {
    expect(doc.posOf(['a', 'nope', 'x'])).toMatchObject({ line: 2, column: 3 });
    expect(doc.posOf(['a', 'b', 7])).toMatchObject({ line: 3, column: 3 });
    expect(doc.posOf(['zzz'])).toMatchObject({ line: 1, column: 1 });
    expect(doc.posOf([])).toMatchObject({ line: 1, column: 1 });
  });
});

describe('parseYaml syntax errors', () => {
  it('reports the exact line and column from the yaml library', () => {
    const src = parseYaml('a: 1\nb:\n\tc: 2\n', '/tmp/bad.yaml', 'X002');
    expect(src.issues).toHaveLength(1);
    expect(src.issues[0]).toMatchObject({
      severity: 'error',
      code: 'X002',
      where: { file: '/tmp/bad.yaml', line: 3, column: 1 }
    });
    expect(src.issues[0]!.message).toMatch(/Tabs are not allowed/);
    expect(src.documents[0]!.hasErrors).toBe(true);
    expect(src.documents[0]!.value).toBeUndefined();
  });

  it('reports duplicate keys at the repeated key', () => {
    const src = parseYaml('kind: A\nname: x\nkind: B\n', '/tmp/d.yaml', 'X002');
    expect(src.issues[0]).toMatchObject({ where: { line: 3, column: 1 } });
    expect(src.issues[0]!.message).toMatch(/unique/);
  });

  it('keeps other documents when one is broken', () => {
    const src = parseYaml('a: [1\n---\nb: 2\n', '/tmp/m.yaml', 'X002');
    expect(src.issues.length).toBeGreaterThan(0);
    expect(src.documents[1]!.value).toEqual({ b: 2 });
  });

  it('handles an empty stream', () => {
    const src = parseYaml('', '/tmp/e.yaml', 'X002');
    expect(src.documents).toEqual([]);
    expect(src.issues).toEqual([]);
  });
});

describe('formatPath', () => {
  it('writes dotted paths with indexes and quotes odd keys', () => {
    expect(formatPath(['spec', 'services', 0, 'workloads', 1, 'instances', 0])).toBe(
      'spec.services[0].workloads[1].instances[0]'
    );
    expect(formatPath(['match', 0, 'headers', 'end-user'])).toBe('match[0].headers["end-user"]');
    expect(formatPath([])).toBe('');
  });
});

describe('zod issues', () => {
  const Schema = z.strictObject({ spec: z.strictObject({ sidecar: z.boolean(), port: z.number() }) });

  it('names unknown keys, suggests the likely field and points at the key', () => {
    const src = parseYaml('spec:\n  port: 1\n  sidecar: true\n  sidcar: false\n', '/tmp/z.yaml', 'X');
    const doc = src.documents[0]!;
    const r = Schema.safeParse(doc.value);
    expect(r.success).toBe(false);
    const issues = zodIssuesToValidation(r.error!, { code: 'Z1', doc, input: doc.value, schema: Schema });
    expect(issues).toEqual([
      {
        severity: 'error',
        code: 'Z1',
        message: 'unknown field "sidcar" (did you mean "sidecar"?)',
        path: 'spec.sidcar',
        where: { file: '/tmp/z.yaml', line: 4, column: 3 }
      }
    ]);
  });

  it('says which field is missing and what a wrong value is', () => {
    const src = parseYaml('spec:\n  port: "80"\n', '/tmp/z.yaml', 'X');
    const doc = src.documents[0]!;
    const r = Schema.safeParse(doc.value);
    const issues = zodIssuesToValidation(r.error!, { code: 'Z1', doc, input: doc.value });
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
    expect(byPath['spec.sidecar']!.message).toBe('missing required field "sidecar" (true or false)');
    expect(byPath['spec.sidecar']!.where).toMatchObject({ line: 2, column: 3 });
    expect(byPath['spec.port']!.message).toBe('must be a number, found the string "80"');
    expect(byPath['spec.port']!.where).toMatchObject({ line: 2, column: 9 });
  });

  it('lists keys of nested object schemas and suggests close names only', () => {
    expect(objectKeysAt(Schema, ['spec'])).toEqual(['sidecar', 'port']);
    expect(suggest('prot', ['port', 'sidecar'])).toBe('port');
    expect(suggest('completelydifferent', ['port', 'sidecar'])).toBeUndefined();
  });
});
