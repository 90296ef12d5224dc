/**
 * Load Istio YAML from files and folders, unchanged from what a team deploys to a cluster (design §2).
 * Istio networking kinds are validated with their zod schemas; security kinds are kept raw; Kubernetes and other
 * non-Istio kinds (Deployment, Service, …) are skipped with an info note, because services and workloads come from
 * localmesh.yaml. What `kubectl apply` would refuse is an error (IST0106), so that a live reload keeps the running
 * config: an unknown kind in an Istio group, a kind at a version its group does not serve, an unknown metadata
 * field. Real Istio kinds localmesh does not implement (Telemetry, EnvoyFilter, …) are ignored with a warning.
 * Issue codes are documented in ISTIO_ISSUE_CODES (validate-istio.ts).
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ValidationIssue } from '../../contract/api.js';
import type { SourcePos } from '../../contract/errors.js';
import {
  NETWORKING_API_VERSIONS,
  NETWORKING_SPECS,
  SECURITY_API_VERSIONS,
  SECURITY_KINDS,
  SECURITY_SPECS,
  type IstioResource
} from '../../contract/istio-schema.js';
import { IstioCodes } from './validate-istio.js';
import {
  makeIssue,
  parseWithoutUnknownKeys,
  parseYaml,
  suggest,
  zodIssuesToValidation,
  type YamlDocument,
  type YamlPath
} from './yaml-source.js';

export interface LoadIstioResult {
  /** Valid resources in load order (`order` = index here); resources with schema errors are left out. */
  resources: IstioResource[];
  /** Resources left out for unknown fields only, without them: for validation (every problem reported), never run. */
  lenient: IstioResource[];
  issues: ValidationIssue[];
  /** Every file that was read, in load order (absolute paths). */
  files: string[];
  /** Position of a field of a loaded resource, e.g. posOf(r, ['spec', 'http', 0]); falls back to `r.where`. */
  posOf: (resource: IstioResource, path: YamlPath) => SourcePos;
}

const YAML_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const TOP_LEVEL_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
/** Kubernetes ObjectMeta fields; anything else under metadata is rejected by kubectl's strict field validation. */
const METADATA_FIELDS = [
  'name',
  'namespace',
  'labels',
  'annotations',
  'generateName',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'ownerReferences',
  'finalizers',
  'managedFields',
  'selfLink'
];
const NETWORKING_KINDS = Object.keys(NETWORKING_SPECS) as (keyof typeof NETWORKING_SPECS)[];
const SUPPORTED_KINDS = [...NETWORKING_KINDS, ...SECURITY_KINDS].join(', ');
/**
 * The kinds each Istio API group serves (Istio 1.30 CRDs), those localmesh implements and those it does not. A kind
 * outside its group's list is not a resource a cluster accepts: `kubectl apply` fails with "no matches for kind".
 */
const ISTIO_GROUP_KINDS: Record<string, readonly string[]> = {
  'networking.istio.io': [...NETWORKING_KINDS, 'WorkloadEntry', 'WorkloadGroup', 'EnvoyFilter', 'ProxyConfig'],
  'security.istio.io': SECURITY_KINDS,
  'telemetry.istio.io': ['Telemetry'],
  'extensions.istio.io': ['WasmPlugin']
};
const ISTIO_GROUPS = Object.keys(ISTIO_GROUP_KINDS);
const ISTIO_KINDS = new Set(Object.values(ISTIO_GROUP_KINDS).flat());

type Locator = (path: YamlPath) => SourcePos;

interface LoadState {
  defaultNamespace: string;
  overrides?: ReadonlyMap<string, string>;
  resources: IstioResource[];
  issues: ValidationIssue[];
  byKey: Map<string, IstioResource>;
  locators: Map<IstioResource, Locator>;
  /** Resources rejected for unknown fields only, without those fields: validated, never applied. */
  lenient: IstioResource[];
  /** metadata.creationTimestamp (ms) of the resources that carry one (YAML exported from a cluster). */
  created: Map<IstioResource, number>;
}

/** Load every Istio resource under `paths` (absolute files or folders; folders are read recursively). */
/** `overrides`: file path → text to use instead of the file on disk (unsaved editor content; may be a new file). */
export function loadIstio(
  paths: string[],
  defaultNamespace: string,
  overrides?: ReadonlyMap<string, string>
): LoadIstioResult {
  const { files, issues } = collectFiles(paths);
  for (const f of overrides?.keys() ?? []) if (!files.includes(f)) files.push(f);
  const state: LoadState = {
    defaultNamespace,
    overrides,
    resources: [],
    issues,
    byKey: new Map(),
    locators: new Map(),
    lenient: [],
    created: new Map()
  };
  for (const file of files) loadFile(file, state);
  byCreation(state);
  const locators = state.locators;
  return {
    resources: state.resources,
    lenient: state.lenient,
    issues: state.issues,
    files,
    posOf: (resource, p) => locators.get(resource)?.(p) ?? resource.where
  };
}

// ---------------------------------------------------------------------------------------------------------------
// files
// ---------------------------------------------------------------------------------------------------------------

function collectFiles(paths: string[]): { files: string[]; issues: ValidationIssue[] } {
  const files: string[] = [];
  const seen = new Set<string>();
  const issues: ValidationIssue[] = [];
  const add = (f: string): void => {
    if (!seen.has(f)) {
      seen.add(f);
      files.push(f);
    }
  };
  for (const p of paths) {
    const abs = path.resolve(p);
    let isDir: boolean;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      const msg = `Istio path not found: ${abs}; fix spec.istio in localmesh.yaml`;
      issues.push(makeIssue('error', IstioCodes.FILE_UNREADABLE, msg, '', { file: abs, line: 1, column: 1 }));
      continue;
    }
    if (isDir) listYamlFiles(abs, new Set()).forEach(add);
    else add(abs);
  }
  return { files, issues };
}

/** YAML/JSON files under `dir`, recursively, sorted by path. Hidden entries (".git", …) are skipped. */
function listYamlFiles(dir: string, visited: Set<string>): string[] {
  const real = realpathSync(dir);
  if (visited.has(real)) return [];
  visited.add(real);
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && safeIsDir(full));
    if (isDir) out.push(...listYamlFiles(full, visited));
    else if (YAML_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) out.push(full);
  }
  return out.sort(byCodeUnits);
}

function safeIsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The last parse of each file, by its text: a reload re-parses only the files that changed (parsing with positions is
 * most of a reload's time; an edit that changes one file of several then applies sooner). The parsed documents are
 * only read afterwards, never changed.
 */
const parses = new Map<string, { text: string; source: ReturnType<typeof parseYaml> }>();
const MAX_CACHED_PARSES = 2000;

function parsedYaml(file: string, text: string): ReturnType<typeof parseYaml> {
  const hit = parses.get(file);
  if (hit && hit.text === text) return hit.source;
  const source = parseYaml(text, file, IstioCodes.YAML_SYNTAX);
  if (parses.size >= MAX_CACHED_PARSES) parses.clear();
  parses.set(file, { text, source });
  return source;
}

function loadFile(file: string, state: LoadState): void {
  let text: string;
  try {
    text = state.overrides?.get(file) ?? readFileSync(file, 'utf8');
  } catch (e) {
    const msg = `cannot read ${file}: ${(e as Error).message}`;
    state.issues.push(makeIssue('error', IstioCodes.FILE_UNREADABLE, msg, '', { file, line: 1, column: 1 }));
    return;
  }
  const source = parsedYaml(file, text);
  state.issues.push(...source.issues);
  for (const doc of source.documents) {
    if (doc.hasErrors || doc.value === undefined || doc.value === null) continue;
    loadObject(doc.value, doc, [], state);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// documents → resources
// ---------------------------------------------------------------------------------------------------------------

type Kind = 'networking' | 'security' | 'unsupported-istio' | 'unknown-kind' | 'unserved-version' | 'other';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function loadObject(value: unknown, doc: YamlDocument, prefix: YamlPath, state: LoadState): void {
  const at = (p: YamlPath): SourcePos => doc.posOf([...prefix, ...p]);
  if (!isPlainObject(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string') {
    if (isJsonData(value, doc, prefix)) {
      // a JSON file beside the YAML that is data, not a manifest (a JWKS for a RequestAuthentication's jwksUri, …)
      const msg =
        'JSON document without apiVersion and kind (data, such as a JWKS, not a Kubernetes resource): skipped';
      state.issues.push(makeIssue('info', IstioCodes.NOT_A_RESOURCE, msg, prefix, at([])));
      return;
    }
    const missing = isPlainObject(value) ? (typeof value.apiVersion !== 'string' ? 'apiVersion' : 'kind') : undefined;
    const msg = missing
      ? `document has no ${missing}; it is not a Kubernetes resource and is ignored`
      : 'document is not a Kubernetes resource (expected a map with apiVersion and kind) and is ignored';
    state.issues.push(makeIssue('warning', IstioCodes.NOT_A_RESOURCE, msg, prefix, at([])));
    return;
  }
  const { apiVersion, kind } = value;
  if (apiVersion === 'v1' && kind === 'List' && Array.isArray(value.items)) {
    value.items.forEach((item, i) => loadObject(item, doc, [...prefix, 'items', i], state));
    return;
  }
  const name = isPlainObject(value.metadata) && typeof value.metadata.name === 'string' ? value.metadata.name : '';
  const label = `${kind} ${name || '(unnamed)'}`;
  switch (classify(apiVersion, kind)) {
    case 'other': {
      const msg = `${label} (${apiVersion}) skipped: localmesh reads only Istio resources; services and workloads come from localmesh.yaml`;
      state.issues.push(makeIssue('info', IstioCodes.NOT_ISTIO, msg, prefix, at([])));
      return;
    }
    case 'unsupported-istio':
      state.issues.push(
        makeIssue(
          'warning',
          IstioCodes.UNSUPPORTED_KIND,
          unsupportedMessage(apiVersion, kind),
          [...prefix, 'kind'],
          at(['kind'])
        )
      );
      return;
    case 'unknown-kind': {
      // kubectl apply refuses it ("no matches for kind"): an error, so that a live reload keeps the resource as it was
      const group = istioGroupOf(apiVersion)!;
      const kinds = ISTIO_GROUP_KINDS[group]!;
      const hint = suggest(kind, kinds);
      const msg = `unknown kind "${kind}" in ${group}${hint ? ` (did you mean ${hint}?)` : `; its kinds: ${kinds.join(', ')}`}: kubectl apply rejects it (no matches for kind "${kind}" in version "${apiVersion}"), so it is not applied`;
      state.issues.push(makeIssue('error', IstioCodes.SCHEMA, msg, [...prefix, 'kind'], at(['kind']), label));
      return;
    }
    case 'unserved-version': {
      const served = servedVersions(kind);
      const msg = `${apiVersion} is not a served version of ${kind}; use ${served[0]} (served: ${served.join(', ')}): kubectl apply rejects it (no matches for kind "${kind}" in version "${apiVersion}"), so it is not applied`;
      state.issues.push(
        makeIssue('error', IstioCodes.SCHEMA, msg, [...prefix, 'apiVersion'], at(['apiVersion']), label)
      );
      // the rest of it is still checked against its kind's schema (every problem at once), never applied
      addResource(value, doc, prefix, state, false);
      return;
    }
    case 'networking':
    case 'security':
      addResource(value, doc, prefix, state);
  }
}

/** The Istio API group an apiVersion names ("networking.istio.io/v1", or a bare "networking.istio.io"), if any. */
function istioGroupOf(apiVersion: string): string | undefined {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : apiVersion;
  return group === 'istio.io' || group.endsWith('.istio.io') ? group : undefined;
}

function isImplemented(kind: string): boolean {
  return kind in NETWORKING_SPECS || (SECURITY_KINDS as readonly string[]).includes(kind);
}

function servedVersions(kind: string): readonly string[] {
  return kind in NETWORKING_SPECS ? NETWORKING_API_VERSIONS : SECURITY_API_VERSIONS;
}

function classify(apiVersion: string, kind: string): Kind {
  if (NETWORKING_API_VERSIONS.includes(apiVersion) && kind in NETWORKING_SPECS) return 'networking';
  if (SECURITY_API_VERSIONS.includes(apiVersion) && (SECURITY_KINDS as readonly string[]).includes(kind))
    return 'security';
  const group = istioGroupOf(apiVersion);
  if (group === undefined) {
    // a misspelt Istio group ("networking.istio.oi/v1") with a kind localmesh runs: not applied either
    const written = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
    return isImplemented(kind) && written !== '' && suggest(written, ISTIO_GROUPS) ? 'unserved-version' : 'other';
  }
  // a kind localmesh runs, at a version or in a group that does not serve it
  if (isImplemented(kind)) return 'unserved-version';
  // a kind its group does not have (a typo: "VirtualServce", "virtualservice"); real Istio kinds localmesh does not
  // implement (Telemetry, EnvoyFilter, …) and groups it does not know keep their warning
  const kinds = ISTIO_GROUP_KINDS[group];
  if (kinds && !ISTIO_KINDS.has(kind)) return 'unknown-kind';
  return 'unsupported-istio';
}

/**
 * A document of a .json file that is not a manifest at all (neither apiVersion nor kind): data kept beside the
 * Istio YAML, such as the JWKS a RequestAuthentication's jwksUri points at.
 */
function isJsonData(value: unknown, doc: YamlDocument, prefix: YamlPath): boolean {
  if (prefix.length > 0 || path.extname(doc.start.file).toLowerCase() !== '.json') return false;
  return !isPlainObject(value) || (value.apiVersion === undefined && value.kind === undefined);
}

function unsupportedMessage(apiVersion: string, kind: string): string {
  return `${kind} (${apiVersion}) is not supported by localmesh and is ignored; supported kinds: ${SUPPORTED_KINDS}`;
}

interface Metadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** metadata.creationTimestamp in ms, when it is a valid time. */
  created?: number;
}

/**
 * Put the resources in creation order, which decides where Istio lets the oldest win (one PeerAuthentication per
 * scope, duplicate VirtualService hosts, the first DestinationRule's policy). Load order stands in for it; resources
 * that carry metadata.creationTimestamp (exported with `kubectl get -o yaml`) go by it, before those without one
 * (as far as localmesh knows, created when the folder is applied). Two created in the same second go by name, then
 * namespace, as Istio's sortConfigByCreationTime orders them; those without one stay in load order. `order` stays
 * the index.
 */
function byCreation(state: LoadState): void {
  if (state.created.size === 0) return;
  const at = (r: IstioResource) => state.created.get(r) ?? Infinity;
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  state.resources.sort(
    (a, b) =>
      at(a) - at(b) ||
      (at(a) !== Infinity && (cmp(a.name, b.name) || cmp(a.namespace, b.namespace))) ||
      a.order - b.order
  );
  state.resources.forEach((r, i) => (r.order = i));
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isPlainObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function readMetadata(value: Record<string, unknown>, state: LoadState): Metadata | string {
  const meta = value.metadata;
  if (!isPlainObject(meta)) return 'metadata with a name is required';
  if (typeof meta.name !== 'string' || meta.name === '') return 'metadata.name is required';
  if (meta.namespace !== undefined && (typeof meta.namespace !== 'string' || meta.namespace === '')) {
    return 'metadata.namespace must be a non-empty string';
  }
  return {
    name: meta.name,
    namespace: (meta.namespace as string | undefined) ?? state.defaultNamespace,
    labels: stringMap(meta.labels),
    annotations: stringMap(meta.annotations),
    created: timestamp(meta.creationTimestamp)
  };
}

function timestamp(v: unknown): number | undefined {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/** `apply` false: the resource is checked (every problem at once) but neither run nor validated further. */
function addResource(
  value: Record<string, unknown>,
  doc: YamlDocument,
  prefix: YamlPath,
  state: LoadState,
  apply = true
): void {
  const kind = value.kind as string;
  const apiVersion = value.apiVersion as string;
  const at = (p: YamlPath): SourcePos => doc.posOf([...prefix, ...p]);
  const meta = readMetadata(value, state);
  const label = typeof meta === 'string' ? kind : `${kind} ${meta.namespace}/${meta.name}`;
  const issuesBefore = state.issues.length;
  checkKnownKeys(value, ['metadata'], METADATA_FIELDS, doc, prefix, label, state);
  if (typeof meta === 'string') {
    const p = isPlainObject(value.metadata) ? ['metadata', 'name'] : ['metadata'];
    state.issues.push(makeIssue('error', IstioCodes.SCHEMA, `${kind}: ${meta}`, [...prefix, ...p], at(p), kind));
    return;
  }
  checkKnownKeys(value, [], TOP_LEVEL_FIELDS, doc, prefix, label, state);
  const spec = validateSpec(kind, value.spec, doc, prefix, label, state);
  if (!apply) return;
  const key = `${kind}|${meta.namespace}|${meta.name}`;
  const earlier = state.byKey.get(key);
  const make = (s: unknown): IstioResource => ({
    kind,
    apiVersion,
    name: meta.name,
    namespace: meta.namespace,
    annotations: meta.annotations,
    labels: meta.labels,
    spec: s,
    where: at([]),
    order: earlier ? earlier.order : state.resources.length
  });
  if (spec instanceof Invalid || state.issues.length > issuesBefore) {
    // unknown fields alone: the rest of the resource is still checked (validate reports every problem), never applied
    const rest = spec instanceof Invalid ? spec.withoutUnknownKeys : spec;
    if (rest !== undefined && !state.issues.slice(issuesBefore).some((i) => !i.message.startsWith('unknown field'))) {
      const r = make(rest);
      state.lenient.push(r);
      state.locators.set(r, (p) => doc.posOf([...prefix, ...p]));
    }
    return;
  }
  const resource = make(spec);
  if (earlier) {
    // `kubectl apply -f <folder>` applies the files in name order, each document in turn: a later copy of the same
    // kind, namespace and name replaces the earlier one (an update: its place in creation order stays)
    // the first copy's name, as the places of issues are given (its file relative to this one's folder)
    const first = state.locators.get(earlier)?.(['metadata', 'name']) ?? earlier.where;
    const firstFile = path.relative(path.dirname(resource.where.file), first.file) || path.basename(first.file);
    const msg = `${label} is defined twice: first at ${firstFile}:${first.line}:${first.column}, again here; this later copy replaces it, as kubectl apply of the folder would (files in name order)`;
    state.issues.push(
      makeIssue(
        'warning',
        IstioCodes.DUPLICATE_RESOURCE,
        msg,
        [...prefix, 'metadata', 'name'],
        at(['metadata', 'name']),
        label
      )
    );
    state.resources[state.resources.indexOf(earlier)] = resource;
    state.locators.delete(earlier);
  } else state.resources.push(resource);
  if (meta.created !== undefined) state.created.set(resource, meta.created);
  state.byKey.set(key, resource);
  state.locators.set(resource, (p) => doc.posOf([...prefix, ...p]));
}

/**
 * Unknown keys of a resource (`at` []: its top level) or of its metadata (`at` ['metadata']: kubectl's strict field
 * validation rejects them, and read as nothing `namespce: prod` would put the resource in another namespace): errors
 * with the nearest known name, never silently dropped.
 */
function checkKnownKeys(
  value: Record<string, unknown>,
  at: YamlPath,
  known: readonly string[],
  doc: YamlDocument,
  prefix: YamlPath,
  label: string,
  state: LoadState
): void {
  const obj = at.length === 0 ? value : value[at[0] as string];
  if (!isPlainObject(obj)) return;
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const hint = suggest(key, [...known]);
    const list = at.length === 0 ? '' : `; ${at.join('.')} fields: ${known.join(', ')}`;
    const msg = `unknown field "${key}"${hint ? ` (did you mean "${hint}"?)` : list}`;
    const p = [...prefix, ...at, key];
    state.issues.push(makeIssue('error', IstioCodes.SCHEMA, msg, p, doc.keyPosOf(p), label));
  }
}

/** A spec its schema rejected: the spec without its unknown fields when that much parses (else undefined). */
class Invalid {
  constructor(readonly withoutUnknownKeys: unknown) {}
}

function validateSpec(
  kind: string,
  spec: unknown,
  doc: YamlDocument,
  prefix: YamlPath,
  label: string,
  state: LoadState
): unknown {
  const schema =
    kind in NETWORKING_SPECS
      ? NETWORKING_SPECS[kind as keyof typeof NETWORKING_SPECS]
      : SECURITY_SPECS[kind as keyof typeof SECURITY_SPECS];
  if (!schema) return spec ?? {};
  const parsed = schema.safeParse(spec);
  if (parsed.success) return parsed.data;
  state.issues.push(
    ...zodIssuesToValidation(parsed.error, {
      code: IstioCodes.SCHEMA,
      doc,
      prefix: [...prefix, 'spec'],
      input: spec,
      schema,
      resource: label
    })
  );
  return new Invalid(parseWithoutUnknownKeys(schema, spec, parsed.error));
}
