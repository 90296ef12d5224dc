/**
 * StringMatch → a compiled predicate, with Istio/Envoy semantics: exact and prefix are case-sensitive unless asked,
 * regex is RE2 with full-match semantics, `{}` (or regex "*") means "present with any value, even empty".
 */
import { RE2JS } from 're2js';
import type { StringMatch } from '../../contract/istio-schema.js';

export type ValueMatcher = (value: string | undefined) => boolean;

export interface CompiledStringMatch {
  test: ValueMatcher;
  /** For prefix matches: the prefix (used by rewrite). */
  prefix?: string;
  kind: 'exact' | 'prefix' | 'regex' | 'present';
  describe: string;
}

const regexCache = new Map<string, RE2JS>();
/** Compile an RE2 pattern once per config load (cached across versions). */
export function re2(pattern: string, caseInsensitive = false): RE2JS {
  const key = (caseInsensitive ? 'i:' : ':') + pattern;
  let re = regexCache.get(key);
  if (!re) {
    re = RE2JS.compile(pattern, caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
    regexCache.set(key, re);
  }
  return re;
}

export function compileStringMatch(m: StringMatch, ignoreCase = false): CompiledStringMatch {
  if (m.exact !== undefined) {
    const want = ignoreCase ? m.exact.toLowerCase() : m.exact;
    return {
      kind: 'exact',
      describe: `exact "${m.exact}"`,
      test: ignoreCase ? (v) => v !== undefined && v.toLowerCase() === want : (v) => v === want
    };
  }
  if (m.prefix !== undefined) {
    const want = ignoreCase ? m.prefix.toLowerCase() : m.prefix;
    return {
      kind: 'prefix',
      prefix: m.prefix,
      describe: `prefix "${m.prefix}"`,
      test: ignoreCase
        ? (v) => v !== undefined && v.toLowerCase().startsWith(want)
        : (v) => v !== undefined && v.startsWith(want)
    };
  }
  if (m.regex !== undefined && m.regex !== '*') {
    const re = re2(m.regex);
    return { kind: 'regex', describe: `regex "${m.regex}"`, test: (v) => v !== undefined && re.matches(v) };
  }
  return { kind: 'present', describe: 'present', test: (v) => v !== undefined };
}
