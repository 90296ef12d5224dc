/**
 * Load and validate localmesh.yaml (design §2): YAML with positions → zod schema → semantic checks.
 * Every problem becomes a ValidationIssue with a code (LMxxx), the field path and the line/column of the node.
 * `mesh` is returned only when there is no error; the caller keeps running the last good config otherwise.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ValidationIssue } from '../../contract/api.js';
import { ErrorCodes, type SourcePos } from '../../contract/errors.js';
import { MeshFile } from '../../contract/mesh-schema.js';
import {
  makeIssue,
  parseWithoutUnknownKeys,
  readYamlFile,
  zodIssuesToValidation,
  type YamlDocument,
  type YamlPath
} from './yaml-source.js';

export interface LoadMeshFileResult {
  /** The validated mesh (defaults applied); only when `issues` holds no error. Paths stay as written. */
  mesh?: MeshFile;
  /** Directory of the mesh file (absolute): relative paths in the mesh resolve against it. */
  baseDir: string;
  issues: ValidationIssue[];
  /** Position of a node of the mesh file by field path (for issues found later, e.g. a port in use). */
  posOf?: (path: YamlPath) => SourcePos;
  /**
   * With errors: the mesh as far as it could be read (without its unknown fields), so that the Istio files are
   * still checked against it (`validate` reports every problem at once). Never run.
   */
  lenient?: MeshFile;
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
    return { baseDir, issues };
  }

  const doc = docs[0]!;
  const parsed = MeshFile.safeParse(doc.value);
  if (!parsed.success) {
    issues.push(
      ...zodIssuesToValidation(parsed.error, {
        code: ErrorCodes.MESH_SCHEMA,
        doc,
        input: doc.value,
        schema: MeshFile
      }).map((i) =>
        // an instance that is not a loopback host:port has a code of its own (LM005, "bad address")
        /\.instances\[\d+\]$/.test(i.path) ? { ...i, code: ErrorCodes.MESH_BAD_ADDRESS } : i
      )
    );
    const lenient = parseWithoutUnknownKeys(MeshFile, doc.value, parsed.error);
    if (lenient) issues.push(...checkMesh(lenient, doc, baseDir));
    return { baseDir, issues, posOf: doc.posOf, lenient };
  }

  const mesh = parsed.data;
  issues.push(...checkMesh(mesh, doc, baseDir));
  const ok = !issues.some((i) => i.severity === 'error');
  return ok ? { mesh, baseDir, issues, posOf: doc.posOf } : { baseDir, issues, posOf: doc.posOf, lenient: mesh };
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

/** Semantic checks the schema cannot express. */
function checkMesh(mesh: MeshFile, doc: YamlDocument, baseDir: string): ValidationIssue[] {
  return [
    ...checkDuplicateNames(mesh, doc),
    ...checkDuplicateInstances(mesh, doc),
    ...checkIstioPaths(mesh, doc, baseDir)
  ];
}

function lineOf(pos: SourcePos): string {
  return `line ${pos.line}`;
}

function checkDuplicateNames(mesh: MeshFile, doc: YamlDocument): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const services = new Map<string, SourcePos>();
  const workloads = new Map<string, SourcePos>();
  mesh.spec.services.forEach((svc, i) => {
    const ns = svc.namespace ?? mesh.spec.namespace;
    const svcPath = ['spec', 'services', i, 'name'];
    const svcPos = doc.posOf(svcPath);
    const firstSvc = services.get(`${ns}/${svc.name}`);
    if (firstSvc) {
      const msg = `service "${svc.name}" is defined twice in namespace "${ns}" (first at ${lineOf(firstSvc)}); give it another name or merge the two entries`;
      issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_NAME, msg, svcPath, svcPos));
    } else services.set(`${ns}/${svc.name}`, svcPos);

    svc.workloads.forEach((wl, j) => {
      const wlPath = ['spec', 'services', i, 'workloads', j, 'name'];
      const wlPos = doc.posOf(wlPath);
      const firstWl = workloads.get(wl.name);
      if (firstWl) {
        const msg = `workload "${wl.name}" is defined twice (first at ${lineOf(firstWl)}); workload names must be unique in the mesh file`;
        issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_NAME, msg, wlPath, wlPos));
      } else workloads.set(wl.name, wlPos);
    });
  });
  return issues;
}

/** "localhost:9080" and "127.0.0.1:9080" are the same listening address for our purposes. */
function normalizeAddress(address: string): string {
  return address.startsWith('localhost:') ? `127.0.0.1:${address.slice('localhost:'.length)}` : address;
}

function checkDuplicateInstances(mesh: MeshFile, doc: YamlDocument): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Map<string, { workload: string; pos: SourcePos; address: string }>();
  mesh.spec.services.forEach((svc, i) =>
    svc.workloads.forEach((wl, j) =>
      wl.instances.forEach((address, k) => {
        const p = ['spec', 'services', i, 'workloads', j, 'instances', k];
        const pos = doc.posOf(p);
        const key = normalizeAddress(address);
        const first = seen.get(key);
        if (!first) {
          seen.set(key, { workload: wl.name, pos, address });
          return;
        }
        const same = first.address === address ? `"${address}"` : `"${address}" (same as "${first.address}")`;
        const msg = `instance address ${same} is already used by workload "${first.workload}" (${lineOf(first.pos)}); each instance needs its own port`;
        issues.push(makeIssue('error', ErrorCodes.MESH_DUPLICATE_INSTANCE, msg, p, pos));
      })
    )
  );
  return issues;
}

function checkIstioPaths(mesh: MeshFile, doc: YamlDocument, baseDir: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  mesh.spec.istio.forEach((p, i) => {
    const resolved = path.resolve(baseDir, p);
    if (existsSync(resolved)) return;
    const msg = `istio path "${p}" does not exist (resolved to ${resolved}); paths are relative to the folder of localmesh.yaml`;
    issues.push(
      makeIssue('error', ErrorCodes.MESH_ISTIO_PATH_MISSING, msg, ['spec', 'istio', i], doc.posOf(['spec', 'istio', i]))
    );
  });
  return issues;
}
