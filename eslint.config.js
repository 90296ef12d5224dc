// ESLint flat config for localmesh.
//
// Two jobs:
//   1. typescript-eslint's recommended rules (syntax only, no type information: fast).
//   2. The layer table of architecture.md §3, enforced with `no-restricted-imports`, one override per layer folder.
//      A layer imports only the layers to its left:
//
//        layer       folder                       may import (of ours)                  node builtins  `electron`
//        contract    main/contract/               nothing outside main/contract         no             no
//        engine      main/engine/                 contract                              yes            no
//        transports  main/transports/{http,ipc}/  contract, engine                      yes            only transports/ipc
//        cli         main/cli/                    contract, engine, transports/http     yes            no
//        electron    main/electron/               everything in main/                   yes            yes
//        preload     preload/                     contract                              no             yes
//        renderer    renderer/                    contract                              no             no
//        bench       bench/                       everything in main/ (tooling)         yes            no
//
// Each layer gets three kinds of restriction:
//   - named folders: `group` globs such as `**/engine/**` name a forbidden layer wherever a relative path points.
//     The `main/electron` folder is matched only in relative paths (regex), so `electron/main` (the package's
//     subpath) is never mistaken for it;
//   - packages: node builtins (`node:*` and every bare name in `module.builtinModules`) and `electron` (+ subpaths);
//   - a backstop: a relative path that climbs out of the layer folder must land in a folder the layer may import.
//     This catches what names cannot (e.g. a contract file reaching `../util.js` or `../../test/helpers/...`).
//     It needs the file's depth inside its layer, so each layer gets one override per depth (up to MAX_DEPTH;
//     deeper files still get the named-folder and package rules).
// `no-restricted-imports` sees static `import`/`export ... from`/`import x = require()`. The same options are also
// applied by `layers/no-restricted-dynamic-imports` to `import('…')`, `require('…')` and `import('…').T` types.
import { builtinModules } from 'node:module';
import { defineConfig, globalIgnores } from 'eslint/config';
import { builtinRules } from 'eslint/use-at-your-own-risk';
import tseslint from 'typescript-eslint';

const REF = 'architecture.md §3';
const MAX_DEPTH = 8;
const EXT = '{ts,tsx,mts,cts,js,mjs,cjs}';

/** Forbidden folders of ours, by the name a relative import path would contain. */
const FOLDERS = {
  engine: { group: ['**/engine', '**/engine/**'], seg: 'engine', what: 'the engine (main/engine)' },
  transports: { group: ['**/transports', '**/transports/**'], seg: 'transports', what: 'transports (main/transports)' },
  'transports/ipc': {
    group: ['**/transports/ipc', '**/transports/ipc/**'],
    seg: 'transports/ipc',
    what: 'the IPC transport (main/transports/ipc)'
  },
  cli: { group: ['**/cli', '**/cli/**'], seg: 'cli', what: 'the cli (main/cli)' },
  // Relative paths only: `electron` and `electron/main` are the package, handled separately.
  electron: { regex: '^\\.{1,2}/(?:.*/)?electron(?:/|$)', seg: 'electron', what: 'the Electron shell (main/electron)' },
  renderer: { group: ['**/renderer', '**/renderer/**'], seg: 'renderer', what: 'renderer sources' },
  preload: { group: ['**/preload', '**/preload/**'], seg: 'preload', what: 'preload sources' }
};

const NODE_BUILTINS = [
  ...new Set([
    ...builtinModules.filter((m) => !m.startsWith('node:')),
    // The brief's explicit list, in case a Node version ever drops one from builtinModules.
    ...'fs path http https net tls child_process os crypto stream url util events worker_threads dgram dns readline zlib'.split(
      ' '
    )
  ])
].sort();
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const NODE_BUILTIN_REGEX = `^(?:node:.*|(?:${NODE_BUILTINS.map(escapeRe).join('|')})(?:/.*)?)$`;

/**
 * The layer table. `dir`: the layer's folder; `may`: folders (from the repo root) the layer may import, its own
 * folder included; `forbid`: FOLDERS keys that get a named message; `node`/`electron`: may it import them.
 */
const LAYERS = [
  {
    layer: 'contract',
    dir: 'main/contract',
    may: ['main/contract'],
    mayText: 'nothing of ours outside main/contract; no node builtins, no electron (zod and the like are fine)',
    forbid: ['engine', 'transports', 'cli', 'electron', 'renderer', 'preload'],
    node: false,
    electron: false
  },
  {
    layer: 'engine',
    dir: 'main/engine',
    may: ['main/contract', 'main/engine'],
    mayText: 'contract (and node builtins); never electron',
    forbid: ['transports', 'cli', 'electron', 'renderer', 'preload'],
    node: true,
    electron: false
  },
  {
    layer: 'transports',
    dir: 'main/transports',
    ignores: ['main/transports/ipc/**'],
    may: ['main/contract', 'main/engine', 'main/transports'],
    mayText: 'contract, engine; only main/transports/ipc may import electron',
    forbid: ['cli', 'electron', 'renderer', 'preload'],
    node: true,
    electron: false
  },
  {
    layer: 'transports/ipc',
    dir: 'main/transports/ipc',
    may: ['main/contract', 'main/engine', 'main/transports'],
    mayText: 'contract, engine, electron',
    forbid: ['cli', 'electron', 'renderer', 'preload'],
    node: true,
    electron: true
  },
  {
    layer: 'cli',
    dir: 'main/cli',
    may: ['main/contract', 'main/engine', 'main/transports/http', 'main/cli'],
    mayText: 'contract, engine, transports/http; never transports/ipc or electron',
    forbid: ['transports/ipc', 'electron', 'renderer', 'preload'],
    node: true,
    electron: false
  },
  {
    layer: 'electron',
    dir: 'main/electron',
    may: ['main'],
    mayText: 'everything in main/ and electron; not renderer or preload sources',
    forbid: ['renderer', 'preload'],
    node: true,
    electron: true
  },
  {
    layer: 'preload',
    dir: 'preload',
    may: ['main/contract', 'preload'],
    mayText: 'contract and electron only',
    forbid: ['engine', 'transports', 'cli', 'electron', 'renderer'],
    node: false,
    electron: true
  },
  {
    // tooling, not a layer of the app: the benchmark drives the engine from outside, so it may import all of main/
    layer: 'bench',
    dir: 'bench',
    may: ['main', 'bench'],
    mayText: 'everything in main/ and node builtins; not renderer or preload sources, not electron',
    forbid: ['renderer', 'preload'],
    node: true,
    electron: false
  },
  {
    layer: 'renderer',
    dir: 'renderer',
    may: ['main/contract', 'renderer'],
    mayText: 'contract only: no node builtins, no electron, no engine',
    forbid: ['engine', 'transports', 'cli', 'electron', 'preload'],
    node: false,
    electron: false
  }
];

/**
 * Regex for a relative import that, from a file `depth` folders below `dir`, climbs out of `dir` and lands outside
 * every folder in `may`. Paths that name a forbidden folder are left to the named rule (one message per import).
 */
function backstopRegex({ dir, may, forbid }, depth) {
  const dirSegs = dir.split('/');
  const alts = [];
  for (let up = 1; up <= dirSegs.length; up++) {
    const ancestor = dirSegs.slice(0, dirSegs.length - up).join('/');
    const inside = (p) => ancestor === '' || p === ancestor || p.startsWith(ancestor + '/');
    if (may.some((p) => ancestor !== '' && (ancestor === p || ancestor.startsWith(p + '/')))) continue; // all allowed
    const rests = may.filter(inside).map((p) => escapeRe(ancestor === '' ? p : p.slice(ancestor.length + 1)));
    const allowed = rests.length ? `(?!(?:${rests.join('|')})(?:/|$))` : '';
    alts.push(`(?:\\.\\./){${depth + up}}(?!\\.\\./)${allowed}`);
  }
  alts.push(`(?:\\.\\./){${depth + dirSegs.length + 1}}`); // above the repo root
  const named = forbid.map((k) => escapeRe(FOLDERS[k].seg)).join('|');
  return `^(?:\\./)?(?!.*(?:^|/)(?:${named})(?:/|$))(?:${alts.join('|')})`;
}

function restrictions(spec, depth) {
  const { layer, mayText } = spec;
  const msg = (what) => `${layer} must not import ${what} (${REF}: ${layer} may import ${mayText}).`;
  const patterns = spec.forbid.map((key) => {
    const f = FOLDERS[key];
    return f.regex ? { regex: f.regex, message: msg(f.what) } : { group: f.group, message: msg(f.what) };
  });
  if (!spec.node) patterns.push({ regex: NODE_BUILTIN_REGEX, message: msg('node builtins') });
  if (!spec.electron) patterns.push({ regex: '^electron(?:/.*)?$', message: msg('electron') });
  if (depth !== undefined) {
    patterns.push({
      regex: backstopRegex(spec, depth),
      message: msg(`code outside ${spec.may.join(', ')}`)
    });
  }
  return { patterns };
}

/** The core rule, also run on dynamic `import()`, `require()` calls and `import('…')` types. */
const coreRestrictedImports = builtinRules.get('no-restricted-imports');
const layersPlugin = {
  meta: { name: 'localmesh-layers' },
  rules: {
    'no-restricted-dynamic-imports': {
      meta: {
        ...coreRestrictedImports.meta,
        docs: { description: 'no-restricted-imports, applied to import(), require() and import types' }
      },
      create(context) {
        const core = coreRestrictedImports.create(context);
        const check = (node, source) => {
          let value;
          if (source?.type === 'Literal' && typeof source.value === 'string') value = source.value;
          else if (source?.type === 'TemplateLiteral' && source.expressions.length === 0) {
            value = source.quasis[0].value.cooked;
          }
          if (value === undefined) return;
          const literal = { type: 'Literal', value, loc: source.loc, range: source.range };
          core.ImportDeclaration({
            type: 'ImportDeclaration',
            source: literal,
            specifiers: [],
            loc: node.loc,
            range: node.range,
            parent: node.parent
          });
        };
        return {
          ImportExpression: (node) => check(node, node.source),
          CallExpression: (node) => {
            if (node.callee.type === 'Identifier' && node.callee.name === 'require') check(node, node.arguments[0]);
          },
          TSImportType: (node) => check(node, node.source ?? node.argument?.literal)
        };
      }
    }
  }
};

function layerConfigs(spec) {
  const configs = [];
  const rules = (depth) => {
    const options = restrictions(spec, depth);
    return {
      'no-restricted-imports': ['error', options],
      'layers/no-restricted-dynamic-imports': ['error', options]
    };
  };
  for (let depth = 0; depth <= MAX_DEPTH; depth++) {
    configs.push({
      name: `localmesh/layers/${spec.layer}/depth-${depth}`,
      files: [`${spec.dir}/${'*/'.repeat(depth)}*.${EXT}`],
      ...(spec.ignores ? { ignores: spec.ignores } : {}),
      rules: rules(depth)
    });
  }
  configs.push({
    name: `localmesh/layers/${spec.layer}/deeper`,
    files: [`${spec.dir}/${'*/'.repeat(MAX_DEPTH + 1)}**/*.${EXT}`],
    ...(spec.ignores ? { ignores: spec.ignores } : {}),
    rules: rules(undefined)
  });
  return configs;
}

const SOURCES = [
  'main/**/*.{ts,mts}',
  'main/**/*.js',
  'preload/**/*.ts',
  'renderer/**/*.{ts,tsx}',
  'test/**/*.ts',
  'e2e/**/*.ts',
  'bench/**/*.ts',
  '*.config.{js,ts}'
];

export default defineConfig([
  globalIgnores([
    '**/node_modules/',
    'out/',
    'release/',
    'dist/',
    'resources/examples/**',
    'renderer/index.html',
    'test-results/',
    '.localmesh/'
  ]),
  {
    name: 'localmesh/typescript',
    files: SOURCES,
    extends: [tseslint.configs.recommended],
    languageOptions: { ecmaVersion: 'latest', sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_'
        }
      ]
    }
  },
  { name: 'localmesh/layers/plugin', plugins: { layers: layersPlugin } },
  ...LAYERS.flatMap(layerConfigs)
]);
