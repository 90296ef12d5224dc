/**
 * Load and validate localmesh.yaml (design §2): YAML with positions → zod schema, and beside it the checks the
 * schema cannot express (duplicate names, instance addresses, Istio paths, sidecar ports), which read the file as
 * written so that each reports even when another fails (`validate` lists every problem of the file in one run).
 * Every problem becomes a ValidationIssue with a code (LMxxx), the field path and the line/column of the node.
 * `mesh` is returned only when there is no error; the caller keeps running the last good config otherwise.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import type { ValidationIssue } from '../../contract/api.js';
import { ErrorCodes, type SourcePos } from '../../contract/errors.js';
import { instanceAddress, MeshFile } from '../../contract/mesh-schema.js';
import { makeIssue, readYamlFile, zodIssuesToValidation, type YamlDocument, type YamlPath } from './yaml-source.js';

export interface LoadMeshFileResult {
  /** The validated mesh (defaults applied); only when `issues` holds no error. Paths stay as written. */
  mesh?: MeshFile;
  /** Directory of the mesh file (absolute): relative paths in the mesh resolve against it. */
  baseDir: string;
  issues: ValidationIssue[];
  /** Position of a node of the mesh file by field path (for issues found later, e.g. a port in use). */
  posOf?: (path: YamlPath) => SourcePos;
  /**
   * With errors: the mesh as far as it could be read (unknown fields, values of the wrong type and list items that
   * do not parse left out, defaults in their place), so that the Istio files are still checked against it
   * (`validate` reports every problem at once). Undefined when not even `spec` is a map. Never run.
   */
  lenient?: MeshFile;
  /**
   * With errors: the FQDNs of services the file names but `lenient` could not keep (a field of the wrong type left
   * the whole service out). The Istio files may name them; they are not unknown hosts, only unreadable ones.
   */
  unreadableServices?: string[];
}

export function loadMeshFile(file: string): LoadMeshFileResult {
  const abs = path.resolve(file);
  const baseDir = path.dirname(abs);
  const top: SourcePos = { file: abs, line: 1, column: 1 };

  const source = readSource(abs);
  if ('error' in source) return { baseDir, issues: [source.error] };
  const issues = [...source.issues];

  const docs = source.documents.filter((d) => d.hasErrors || (d.value !== undefined && d.value !== null));
  if (issues.some((i) => i.severity === 'error')) return { baseDir, issues };
  if (docs.length === 0) {
    issues.push(makeIssue('error', ErrorCodes.MESH_SCHEMA, emptyMessage(), '', top));
    return { baseDir, issues };
  }
  if (docs.length > 1) {
    // reported, and the first document is still checked
    const extra = docs[1]!;
    issues.push(
      makeIssue(
        'error',
        ErrorCodes.MESH_SCHEMA,
        'localmesh.yaml must hold exactly one YAML document; remove the documents after the first "---"',
        '',
        extra.start
      )
    );
  }

  const doc = docs[0]!;
  const parsed = MeshFile.safeParse(doc.value);
  if (!parsed.success) issues.push(...schemaIssues(parsed.error, doc));
  // the checks below read the file as written: a schema error elsewhere hides none of them
  issues.push(...checkMesh(doc.value, doc, baseDir));
  if (parsed.success && !issues.some((i) => i.severity === 'error')) {
    return { mesh: parsed.data, baseDir, issues, posOf: doc.posOf };
  }
  const lenient = parsed.success ? parsed.data : salvageMesh(doc.value);
  if (!lenient) return { baseDir, issues, posOf: doc.posOf };
  return { baseDir, issues, posOf: doc.posOf, lenient, unreadableServices: unreadableServices(doc.value, lenient) };
}

/** Services named in the file as written that the salvaged mesh left out, as FQDNs (see unreadableServices). */
function unreadableServices(value: unknown, lenient: MeshFile): string[] {
  const spec = isMap(value) && isMap(value.spec) ? value.spec : undefined;
  const written = Array.isArray(spec?.services) ? spec.services : [];
  const kept = new Set(lenient.spec.services.map((s) => `${s.name}.${s.namespace ?? lenient.spec.namespace}`));
  const out: string[] = [];
  for (const s of written) {
    if (!isMap(s) || typeof s.name !== 'string') continue;
    const ns = typeof s.namespace === 'string' ? s.namespace : lenient.spec.namespace;
    if (!kept.has(`${s.name}.${ns}`)) out.push(`${s.name}.${ns}.svc.cluster.local`);
  }
  return out;
}

function schemaIssues(error: z.ZodError, doc: YamlDocument): ValidationIssue[] {
  const issues = zodIssuesToValidation(error, {
    code: ErrorCodes.MESH_SCHEMA,
    doc,
    input: doc.value,
    schema: MeshFile
  }).map((i) =>
    // an instance that is not a loopback host:port has a code of its own (LM005, "bad address")
    /\.instances\[\d+\]$/.test(i.path) ? { ...i, code: ErrorCodes.MESH_BAD_ADDRESS } : i
  );
  // one LM005 per address: "127.0.0.1" fails both the host:port pattern and the port range, the first says it all
  const seen = new Set<string>();
  return issues.filter((i) => {
    if (i.code !== ErrorCodes.MESH_BAD_ADDRESS) return true;
    if (seen.has(i.path)) return false;
    seen.add(i.path);
    return true;
  });
}

function emptyMessage(): string {
  return 'the mesh file is empty; it needs apiVersion: localmesh.dev/v1alpha1, kind: Mesh and a spec';
}

function readSource(file: string): ReturnType<typeof readYamlFile> | { error: ValidationIssue } {
  try {
    return readYamlFile(file, ErrorCodes.MESH_YAML_SYNTAX);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const where: SourcePos = { file, line: 1, column: 1 };
    const message =
      err.code === 'ENOENT'
        ? `mesh file not found: ${file}; create it or pass the right path`
        : err.code === 'EISDIR'
          ? `${file} is a folder; pass the path of localmesh.yaml`
          : `cannot read mesh file ${file}: ${err.message}`;
    return { error: makeIssue('error', ErrorCodes.MESH_FILE_NOT_FOUND, message, '', where) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// checks the schema cannot express, on the file as written
// ---------------------------------------------------------------------------------------------------------------

/** A workload as written: only what the checks read, with its index in the file (positions stay right). */
interface RawWorkload {
  j: number;
  /** undefined when the name is not a string (an LM003 of its own) */
  name: string | undefined;
  sidecar: boolean;
  /** Every entry of `instances`, by index; an address only when it is a valid instance address. */
  instances: (string | undefined)[];
}

interface RawService {
  i: number;
  name: string | undefined;
  namespace: string;
  workloads: RawWorkload[];
}

interface RawMesh {
  services: RawService[];
  istio: { i: number; path: string }[];
  portBase: number;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** What the checks need from the document, read defensively (anything of the wrong shape is already an LM003). */
function readRaw(value: unknown): RawMesh {
  const spec = isMap(value) && isMap(value.spec) ? value.spec : {};
  const defaultNs = nonEmptyString(spec.namespace) ?? 'default';
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const services = list(spec.services).map((svc, i): RawService => {
    const s = isMap(svc) ? svc : {};
    return {
      i,
      name: nonEmptyString(s.name),
      namespace: nonEmptyString(s.namespace) ?? defaultNs,
      workloads: list(s.workloads).map((wl, j): RawWorkload => {
        const w = isMap(wl) ? wl : {};
        return {
          j,
          name: nonEmptyString(w.name),
          sidecar: w.sidecar !== false,
          instances: list(w.instances).map((a) => (instanceAddress.safeParse(a).success ? (a as string) : undefined))
        };
      })
    };
  });
  const istio = list(spec.istio).flatMap((p, i) => (nonEmptyString(p) ? [{ i, path: p as string }] : []));
  const base = spec.portBase;
  const portBase = typeof base === 'number' && Number.isInteger(base) && base > 0 && base <= 65000 ? base : 0;
  return { services, istio, portBase };
}

function checkMesh(value: unknown, doc: YamlDocument, baseDir: string): ValidationIssue[] {
  const raw = readRaw(value);
  return [
    ...checkDuplicateNames(raw, doc),
    ...checkDuplicateInstances(raw, doc),
    ...checkSidecarPorts(raw, doc),
    ...checkIstioPaths(raw, doc, baseDir)
  ];
}

function lineOf(pos: SourcePos): string {
  return `line ${pos.line}`;
}

function checkDuplicateNames(mesh: RawMesh, doc: YamlDocument): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const services = new Map<string, SourcePos>();
  const workloads = new Map<string, SourcePos>();
  for (const svc of mesh.services) {
    const ns = svc.namespace;
    const svcPath = ['spec', 'services', svc.i, 'name'];
    const svcPos = doc.posOf(svcPath);
    const firstSvc = svc.name === undefined ? undefined : services.get(`${ns}/${svc.name}`);
    if (firstSvc) {
      const msg = `service "${svc.name}" is defined twice in namespace "${ns}" (first at ${lineOf(firstSvc)}); give it another name or merge the two entries`;
      issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_NAME, msg, svcPath, svcPos));
    } else if (svc.name !== undefined) services.set(`${ns}/${svc.name}`, svcPos);

    for (const wl of svc.workloads) {
      if (wl.name === undefined) continue;
      const wlPath = ['spec', 'services', svc.i, 'workloads', wl.j, 'name'];
      const wlPos = doc.posOf(wlPath);
      const firstWl = workloads.get(wl.name);
      if (firstWl) {
        const msg = `workload "${wl.name}" is defined twice (first at ${lineOf(firstWl)}); workload names must be unique in the mesh file`;
        issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_NAME, msg, wlPath, wlPos));
      } else workloads.set(wl.name, wlPos);
    }
  }
  return issues;
}

/** "localhost:9080" and "127.0.0.1:9080" are the same listening address for our purposes. */
function normalizeAddress(address: string): string {
  return address.startsWith('localhost:') ? `127.0.0.1:${address.slice('localhost:'.length)}` : address;
}

function instancePath(svc: RawService, wl: RawWorkload, k: number): YamlPath {
  return ['spec', 'services', svc.i, 'workloads', wl.j, 'instances', k];
}

function checkDuplicateInstances(mesh: RawMesh, doc: YamlDocument): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Map<string, { workload: string; pos: SourcePos; address: string }>();
  for (const svc of mesh.services) {
    for (const wl of svc.workloads) {
      wl.instances.forEach((address, k) => {
        if (address === undefined) return;
        const p = instancePath(svc, wl, k);
        const pos = doc.posOf(p);
        const key = normalizeAddress(address);
        const first = seen.get(key);
        if (!first) {
          seen.set(key, { workload: wl.name ?? '?', pos, address });
          return;
        }
        const same = first.address === address ? `"${address}"` : `"${address}" (same as "${first.address}")`;
        const msg = `instance address ${same} is already used by workload "${first.workload}" (${lineOf(first.pos)}); each instance needs its own port`;
        issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_INSTANCE, msg, p, pos));
      });
    }
  }
  return issues;
}

/**
 * With spec.portBase, the sidecars listen on 127.0.0.1 at consecutive ports from it, in the order the mesh creates
 * them (mesh.ts `wanted`): per workload with a sidecar, its outbound port, one inbound port per instance, then one
 * port per service of the mesh (the <SERVICE>_URL ports). The listener keys, in that order.
 */
function sidecarListeners(mesh: RawMesh): string[] {
  const keys = new Set<string>();
  const services = mesh.services.filter((s) => s.name !== undefined);
  for (const svc of mesh.services) {
    for (const wl of svc.workloads) {
      if (!wl.sidecar || wl.name === undefined) continue;
      keys.add(`out:${wl.name}`);
      wl.instances.forEach((_, k) => keys.add(`in:${wl.name}#${k}`));
      for (const s of services) keys.add(`up:${wl.name}:${s.name}.${s.namespace}`);
    }
  }
  return [...keys];
}

function describeSidecarPort(key: string): string {
  const [kind, a, b] = key.split(':');
  if (kind === 'out') return `the outbound sidecar of workload "${a}"`;
  if (kind === 'in') {
    const [w, k] = a!.split('#');
    return `the inbound sidecar of workload "${w}" instance ${k}`;
  }
  const service = b!.slice(0, b!.indexOf('.'));
  return `the port of workload "${a}" for service ${service} (its ${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_URL)`;
}

/** The port of an instance on 127.0.0.1 (the sidecars' address), else undefined. */
function loopbackPort(address: string): number | undefined {
  const m = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(address);
  return m ? Number(m[2]) : undefined;
}

/**
 * An instance whose port the sidecars take from spec.portBase (LM007): its own inbound sidecar would listen there
 * and forward to itself (a hang), or another sidecar would, or the app could not start.
 */
function checkSidecarPorts(mesh: RawMesh, doc: YamlDocument): ValidationIssue[] {
  const base = mesh.portBase;
  if (base === 0) return [];
  const listeners = sidecarListeners(mesh);
  if (listeners.length === 0) return [];
  const last = base + listeners.length - 1;
  const ports: number[] = [];
  for (const svc of mesh.services)
    for (const wl of svc.workloads)
      for (const a of wl.instances) {
        const port = a === undefined ? undefined : loopbackPort(a);
        if (port !== undefined) ports.push(port);
      }
  // a portBase whose range holds no instance port, to suggest
  let free = base;
  for (let moved = true; moved && free + listeners.length - 1 <= 65535;) {
    moved = false;
    for (const p of ports) {
      if (p >= free && p <= free + listeners.length - 1) {
        free = p + 1;
        moved = true;
      }
    }
  }
  const fix =
    free + listeners.length - 1 <= 65535
      ? `move the instance, or spec.portBase (e.g. portBase: ${free})`
      : 'move the instance or spec.portBase';
  const issues: ValidationIssue[] = [];
  for (const svc of mesh.services) {
    for (const wl of svc.workloads) {
      wl.instances.forEach((address, k) => {
        const port = address === undefined ? undefined : loopbackPort(address);
        if (port === undefined || port < base || port > last) return;
        const own = listeners[port - base]!;
        const loop = own === `in:${wl.name}#${k}` ? ', and would forward to itself (requests hang)' : '';
        const msg = `instance address "${address}" is inside the sidecar ports of spec.portBase ${base} (${base}-${last}, ${listeners.length} ports): ${describeSidecarPort(own)} would listen on port ${port}${loop}; ${fix}`;
        const p = instancePath(svc, wl, k);
        issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_INSTANCE, msg, p, doc.posOf(p)));
      });
    }
  }
  return issues;
}

function checkIstioPaths(mesh: RawMesh, doc: YamlDocument, baseDir: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const { i, path: p } of mesh.istio) {
    const resolved = path.resolve(baseDir, p);
    if (existsSync(resolved)) continue;
    const msg = `istio path "${p}" does not exist (resolved to ${resolved}); paths are relative to the folder of localmesh.yaml`;
    issues.push(
      makeIssue('error', ErrorCodes.MESH_ISTIO_PATH_MISSING, msg, ['spec', 'istio', i], doc.posOf(['spec', 'istio', i]))
    );
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------------------------
// the mesh as far as it can be read (to check the Istio files against when the file has errors)
// ---------------------------------------------------------------------------------------------------------------

/** The parts of a zod schema the salvage reads (zod 4 internals, as yaml-source's objectKeysAt). */
interface SchemaLike {
  safeParse(value: unknown): { success: boolean; data?: unknown };
  _zod: {
    def: {
      type: string;
      shape?: Record<string, SchemaLike>;
      element?: SchemaLike;
      valueType?: SchemaLike;
      innerType?: SchemaLike;
    };
  };
}

type Salvaged = { ok: true; value: unknown } | { ok: false };

/**
 * `value` parsed by `schema` as far as it goes: a field that does not parse takes its default (or is left out when
 * optional), a list keeps the items that parse, a map the entries that do, unknown fields are dropped. Fails when a
 * required field cannot be read (a service without a valid name or port is left out of its list). Length limits of
 * lists are not enforced on what remains (a workload whose only instance is bad keeps its labels).
 */
function salvage(schema: SchemaLike, value: unknown): Salvaged {
  const whole = schema.safeParse(value);
  if (whole.success) return { ok: true, value: whole.data };
  const def = schema._zod.def;
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional': {
      const inner = value === undefined || !def.innerType ? undefined : salvage(def.innerType, value);
      if (inner?.ok) return inner;
      const fallback = schema.safeParse(undefined);
      return fallback.success ? { ok: true, value: fallback.data } : { ok: false };
    }
    case 'object': {
      if (!isMap(value) || !def.shape) return { ok: false };
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape)) {
        const s = salvage(field, value[key]);
        if (!s.ok) return { ok: false };
        if (s.value !== undefined) out[key] = s.value;
      }
      return { ok: true, value: out };
    }
    case 'array': {
      if (!Array.isArray(value) || !def.element) return { ok: false };
      const element = def.element;
      const items = value.map((v) => salvage(element, v)).flatMap((s) => (s.ok ? [s.value] : []));
      return { ok: true, value: items };
    }
    case 'record': {
      if (!isMap(value) || !def.valueType) return { ok: false };
      const valueType = def.valueType;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const s = salvage(valueType, v);
        if (s.ok) out[k] = s.value;
      }
      return { ok: true, value: out };
    }
    default:
      return { ok: false };
  }
}

/** The mesh of a file with errors, as far as it can be read; apiVersion and kind as they should be. */
function salvageMesh(value: unknown): MeshFile | undefined {
  if (!isMap(value) || !isMap(value.spec)) return undefined;
  const fixed = { ...value, apiVersion: 'localmesh.dev/v1alpha1', kind: 'Mesh' };
  const s = salvage(MeshFile as unknown as SchemaLike, fixed);
  return s.ok ? (s.value as MeshFile) : undefined;
}
