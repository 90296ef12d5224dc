/**
 * YAML with positions. Parses a (possibly multi-document) YAML file into plain JS values and keeps, per document, a
 * way back from a field path (["spec", "http", 0, "route"]) to the 1-based line/column of that node, so every issue
 * can point at the exact place in the user's file. Also turns zod issues into ValidationIssues at their nodes.
 */
import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type YAMLError } from 'yaml';
import type { z } from 'zod';
import type { Severity, ValidationIssue } from '../../contract/api.js';
import type { SourcePos } from '../../contract/errors.js';
import { suggest } from '../../contract/suggest.js';

export { suggest };

export type PathSegment = string | number;
export type YamlPath = readonly PathSegment[];

/** One document of a YAML stream. */
export interface YamlDocument {
  /** 0-based index of the document in the file. */
  index: number;
  /** Plain JS value (undefined for an empty document or one with syntax errors). */
  value: unknown;
  /** True when the document had syntax errors (they are in `YamlSource.issues`). */
  hasErrors: boolean;
  /** Where the document's content starts. */
  start: SourcePos;
  /** Position of the node at `path`; falls back to the nearest existing ancestor, then the document start. */
  posOf(path: YamlPath): SourcePos;
  /** Position of the *key* of the map entry at `path` (for "unknown field" issues); else like posOf. */
  keyPosOf(path: YamlPath): SourcePos;
}

export interface YamlSource {
  file: string;
  documents: YamlDocument[];
  /** YAML syntax errors (severity error) and warnings, with the yaml library's exact positions. */
  issues: ValidationIssue[];
}

type YamlNode = unknown;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const YAML_POSITION_SUFFIX = / at line \d+, column \d+:?$/;

/** "spec.http[0].route[1].weight"; keys that are not identifiers are quoted: headers["end-user"]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      out += IDENTIFIER.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Build a ValidationIssue. */
export function makeIssue(
  severity: Severity,
  code: string,
  message: string,
  path: readonly PropertyKey[] | string,
  where: SourcePos,
  resource?: string
): ValidationIssue {
  const issue: ValidationIssue = {
    severity,
    code,
    message,
    path: typeof path === 'string' ? path : formatPath(path),
    where
  };
  if (resource !== undefined) issue.resource = resource;
  return issue;
}

/** Parse YAML text. `syntaxCode` is the issue code used for syntax errors (LM002 for the mesh file, …). */
export function parseYaml(text: string, file: string, syntaxCode: string): YamlSource {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  const posAt = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const issues: ValidationIssue[] = [];
  const report = (severity: Severity, e: YAMLError): void => {
    issues.push(makeIssue(severity, syntaxCode, yamlErrorMessage(e), '', posAt(e.pos[0])));
  };

  if (!Array.isArray(parsed) || ('empty' in parsed && parsed.empty)) {
    const info = parsed as unknown as { errors?: YAMLError[]; warnings?: YAMLError[] };
    for (const e of info.errors ?? []) report('error', e);
    for (const e of info.warnings ?? []) report('warning', e);
    return { file, documents: [], issues };
  }

  const documents = parsed.map((doc, index) => {
    for (const e of doc.errors) report('error', e);
    for (const e of doc.warnings) report('warning', e);
    return toYamlDocument(doc, index, posAt);
  });
  return { file, documents, issues };
}

/** Read and parse a YAML file. Throws the fs error when the file cannot be read. */
export function readYamlFile(file: string, syntaxCode: string): YamlSource {
  return parseYaml(readFileSync(file, 'utf8'), file, syntaxCode);
}

function yamlErrorMessage(e: YAMLError): string {
  const first = e.message.split('\n')[0] ?? e.message;
  return `YAML syntax error: ${first.replace(YAML_POSITION_SUFFIX, '')}`;
}

function toYamlDocument(doc: Document.Parsed, index: number, posAt: (offset: number) => SourcePos): YamlDocument {
  const hasErrors = doc.errors.length > 0;
  const contents = doc.contents as { range?: [number, number, number] } | null;
  const start = posAt(contents?.range?.[0] ?? doc.range[0]);
  const value = hasErrors || doc.contents === null ? undefined : doc.toJS({ maxAliasCount: 1000 });

  const locate = (path: YamlPath, wantKey: boolean): SourcePos => {
    const found = walk(doc, path);
    const offset = wantKey && found.complete && found.keyOffset !== undefined ? found.keyOffset : found.offset;
    return offset === undefined ? start : posAt(offset);
  };

  return {
    index,
    value,
    hasErrors,
    start,
    posOf: (path) => locate(path, false),
    keyPosOf: (path) => locate(path, true)
  };
}

interface WalkResult {
  /** Offset of the deepest node reached (the node itself when complete). */
  offset: number | undefined;
  /** Offset of the key of the last map entry reached. */
  keyOffset: number | undefined;
  /** True when every segment of the path was found. */
  complete: boolean;
}

function nodeStart(node: YamlNode): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? range[0] : undefined;
}

/** A scalar with an empty range (e.g. `key:` with no value) has no useful position of its own. */
function isEmptyScalar(node: YamlNode): boolean {
  if (!isScalar(node)) return false;
  const range = node.range;
  return node.value === null && range !== undefined && range !== null && range[0] === range[1];
}

function walk(doc: Document.Parsed, path: YamlPath): WalkResult {
  let node: YamlNode = doc.contents;
  let offset = nodeStart(node);
  let keyOffset: number | undefined;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return { offset, keyOffset, complete: false };
      keyOffset = nodeStart(pair.key);
      node = pair.value;
      const valueStart = node === null || isEmptyScalar(node) ? undefined : nodeStart(node);
      offset = valueStart ?? keyOffset ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: YamlNode = node.items[seg];
      if (item === undefined) return { offset, keyOffset, complete: false };
      node = item;
      keyOffset = undefined;
      offset = nodeStart(node) ?? offset;
    } else {
      return { offset, keyOffset, complete: false };
    }
  }
  return { offset, keyOffset, complete: true };
}

// ---------------------------------------------------------------------------------------------------------------
// zod issues → ValidationIssues at their YAML nodes
// ---------------------------------------------------------------------------------------------------------------

export interface ZodIssueContext {
  code: string;
  severity?: Severity;
  /** Locates nodes; paths are relative to the document root. */
  doc: Pick<YamlDocument, 'posOf' | 'keyPosOf'>;
  /** Prepended to every zod path (e.g. ["spec"] when only the spec was validated). */
  prefix?: YamlPath;
  /** The value that was validated (used to quote what was found). */
  input: unknown;
  /** The schema that was validated (used to suggest field names for unknown fields). */
  schema?: z.ZodType;
  resource?: string;
}

/** One ValidationIssue per zod issue; one per key for unknown keys, pointing at the key itself. */
export function zodIssuesToValidation(error: z.ZodError, ctx: ZodIssueContext): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const prefix = ctx.prefix ?? [];
  const severity = ctx.severity ?? 'error';
  for (const issue of error.issues) {
    const rel = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      const known = ctx.schema ? objectKeysAt(ctx.schema, rel) : [];
      for (const key of issue.keys) {
        const full = [...prefix, ...rel, key];
        const hint = suggest(key, known);
        const message = `unknown field "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}${known.length && !hint ? `; allowed fields: ${known.join(', ')}` : ''}`;
        out.push(makeIssue(severity, ctx.code, message, full, ctx.doc.keyPosOf(full), ctx.resource));
      }
      continue;
    }
    const full = [...prefix, ...rel];
    const found = valueAt(ctx.input, rel);
    out.push(makeIssue(severity, ctx.code, zodMessage(issue, full, found), full, ctx.doc.posOf(full), ctx.resource));
  }
  return out;
}

/**
 * When the only problems zod found are unknown fields: the value without them, parsed, so that the checks after the
 * schema still read the rest (`validate` reports every problem, not just the typo). undefined otherwise.
 */
export function parseWithoutUnknownKeys<T>(schema: z.ZodType<T>, value: unknown, error: z.ZodError): T | undefined {
  if (!error.issues.every((i) => i.code === 'unrecognized_keys')) return undefined;
  const copy: unknown = structuredClone(value);
  for (const issue of error.issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const at = valueAt(copy, issue.path as PathSegment[]);
    if (at !== null && typeof at === 'object') for (const k of issue.keys) delete (at as Record<string, unknown>)[k];
  }
  const again = schema.safeParse(copy);
  return again.success ? again.data : undefined;
}

function valueAt(value: unknown, path: readonly PathSegment[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg as string];
  }
  return cur;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}

const TYPE_WORDS: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  record: 'a map'
};

type AnyZodIssue = z.ZodError['issues'][number];

function zodMessage(issue: AnyZodIssue, path: readonly PathSegment[], found: unknown): string {
  const field = path.length ? String(path[path.length - 1]) : 'document';
  switch (issue.code) {
    case 'invalid_type': {
      const want = TYPE_WORDS[issue.expected] ?? issue.expected;
      if (found === undefined) return `missing required field "${field}" (${want})`;
      return `must be ${want}, found ${describe(found)}`;
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => JSON.stringify(v));
      const what = found === undefined ? `missing required field "${field}"; ` : '';
      return values.length === 1
        ? `${what}must be ${values[0]}${found === undefined ? '' : `, found ${describe(found)}`}`
        : `${what}must be one of ${values.join(', ')}${found === undefined ? '' : `, found ${describe(found)}`}`;
    }
    case 'too_small':
      return tooSmall(issue.origin, Number(issue.minimum), issue.inclusive ?? true);
    case 'too_big':
      return tooBig(issue.origin, Number(issue.maximum), issue.inclusive ?? true);
    case 'invalid_union':
      return `must be ${unionTypes(issue)}, found ${describe(found)}`;
    default:
      return isDefaultZodMessage(issue.message) ? `invalid value ${describe(found)}: ${issue.message}` : issue.message;
  }
}

function tooSmall(origin: string, min: number, inclusive: boolean): string {
  const n = inclusive ? min : min + 1;
  if (origin === 'array') return n <= 1 ? 'must not be empty (at least 1 item)' : `must have at least ${n} items`;
  if (origin === 'string') return n <= 1 ? 'must not be empty' : `must be at least ${n} characters long`;
  return `must be ${inclusive ? '≥' : '>'} ${min}`;
}

function tooBig(origin: string, max: number, inclusive: boolean): string {
  if (origin === 'array') return `must have at most ${inclusive ? max : max - 1} items`;
  if (origin === 'string') return `must be at most ${inclusive ? max : max - 1} characters long`;
  return `must be ${inclusive ? '≤' : '<'} ${max}`;
}

function unionTypes(issue: AnyZodIssue): string {
  const errors = (issue as { errors?: { code: string; expected?: string }[][] }).errors ?? [];
  const types = errors
    .flat()
    .filter((e) => e.code === 'invalid_type' && e.expected)
    .map((e) => TYPE_WORDS[e.expected!] ?? e.expected!);
  const unique = [...new Set(types)];
  if (unique.length === 0) return 'one of the allowed forms';
  return unique.length === 1 ? unique[0]! : `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

const DEFAULT_MESSAGE = /^(Invalid|Too (small|big)|Unrecognized)/;

function isDefaultZodMessage(message: string): boolean {
  return DEFAULT_MESSAGE.test(message);
}

/** Keys of the object schema at `path` inside `schema` (wrappers, arrays and records are looked through). */
export function objectKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let cur: ZodDefLike | undefined = unwrap(schema as unknown as ZodDefLike);
  for (const seg of path) {
    if (!cur) return [];
    const def = cur._zod.def;
    if (def.type === 'object' && def.shape) cur = unwrap(def.shape[String(seg)]);
    else if (def.type === 'array' && def.element) cur = unwrap(def.element);
    else if (def.type === 'record' && def.valueType) cur = unwrap(def.valueType);
    else return [];
  }
  const def = cur?._zod.def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

interface ZodDefLike {
  _zod: {
    def: {
      type: string;
      shape?: Record<string, ZodDefLike>;
      element?: ZodDefLike;
      valueType?: ZodDefLike;
      innerType?: ZodDefLike;
      in?: ZodDefLike;
    };
  };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

function unwrap(schema: ZodDefLike | undefined): ZodDefLike | undefined {
  let cur = schema;
  for (let i = 0; cur && i < 10; i++) {
    const def = cur._zod.def;
    if (WRAPPERS.has(def.type) && def.innerType) cur = def.innerType;
    else if (def.type === 'pipe' && def.in) cur = def.in;
    else break;
  }
  return cur;
}
