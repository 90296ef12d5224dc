/**
 * Load a whole project: the mesh file, then every Istio path it names, then the semantic checks across both.
 * Never throws for a user's mistake: every problem is a ValidationIssue with a code and a place.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ValidationIssue } from '../../contract/api.js';
import type { IstioResource } from '../../contract/istio-schema.js';
import type { MeshFile } from '../../contract/mesh-schema.js';
import { loadMeshFile } from './load-mesh-file.js';
import { loadIstio } from './load-istio.js';
import { validateIstio } from './validate-istio.js';
import { validateSecurity } from './validate-security.js';

export interface LoadedProject {
  /** Present only when no issue blocks the config (see NON_BLOCKING_ERRORS). */
  mesh?: MeshFile;
  baseDir: string;
  /** Absolute Istio paths from the mesh file. */
  istioPaths: string[];
  /** Istio files read. */
  files: string[];
  /**
   * The valid Istio resources read (what runs when `mesh` is set). With a mesh file that has errors, those read
   * through the paths of the mesh as far as it could be read, for `validate`'s count; never run.
   */
  resources: IstioResource[];
  issues: ValidationIssue[];
}

const RANK = { error: 0, warning: 1, info: 2 } as const;

/**
 * Errors that `localmesh validate` reports (exit 1) but that do not stop a config from running, because Istio runs
 * such a config too: a reference to an unknown host or subset is applied and answers 503 NC at request time.
 * Everything else that is an error (schema, regex, conflicting actions, YAML syntax)
 * is what Istio's validation webhook would reject, so it keeps the last good config running.
 */
export const NON_BLOCKING_ERRORS = new Set(['IST0101', 'IST0112']);

export function isBlocking(i: ValidationIssue): boolean {
  return i.severity === 'error' && !NON_BLOCKING_ERRORS.has(i.code);
}

/** `overrides`: Istio file path → unsaved text to validate instead of the file on disk. */
export function loadProject(meshFile: string, overrides?: ReadonlyMap<string, string>): LoadedProject {
  const m = loadMeshFile(meshFile);
  const meshPath = path.resolve(meshFile);
  const issues: ValidationIssue[] = [...m.issues];
  // a mesh file with errors is still read as far as it can be, to check the Istio files against it too
  const mesh = m.mesh ?? m.lenient;
  if (!mesh) return { baseDir: m.baseDir, istioPaths: [], files: [], resources: [], issues };
  const istioPaths = mesh.spec.istio.map((p) => path.resolve(m.baseDir, p));
  // (a missing Istio path of a mesh file with errors is already its LM006)
  const ist = loadIstio(m.mesh ? istioPaths : istioPaths.filter((p) => existsSync(p)), mesh.spec.namespace, overrides);
  issues.push(...ist.issues);
  // resources left out for an unknown field are checked too (every problem at once), but never run
  const checked = ist.lenient.length > 0 ? [...ist.resources, ...ist.lenient] : ist.resources;
  issues.push(...validateIstio(checked, mesh, ist.posOf, { unreadableServices: m.unreadableServices }));
  issues.push(...validateSecurity(checked, ist.posOf));
  // the mesh file's own problems first (the first error is what `up` names when it refuses to start), then by place
  const meshFirst = (i: ValidationIssue) => (i.where.file === meshPath ? 0 : 1);
  issues.sort(
    (a, b) =>
      RANK[a.severity] - RANK[b.severity] ||
      meshFirst(a) - meshFirst(b) ||
      a.where.file.localeCompare(b.where.file) ||
      a.where.line - b.where.line ||
      a.where.column - b.where.column
  );
  const ok = m.mesh !== undefined && !issues.some(isBlocking);
  return {
    mesh: ok ? m.mesh : undefined,
    baseDir: m.baseDir,
    istioPaths,
    files: ist.files,
    resources: ist.resources,
    issues
  };
}
