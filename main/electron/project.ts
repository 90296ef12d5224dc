/**
 * Which mesh file to open: a picked folder or file → its localmesh.yaml; at start, the one asked for, else the most
 * recent project that still exists, else the bundled bookinfo example. No electron import: main.ts passes app.isPackaged and paths.
 */
import fs from 'node:fs';
import path from 'node:path';

export const MESH_FILE_NAMES = ['localmesh.yaml', 'localmesh.yml'];

/** A folder holding a mesh file, or a .yaml/.yml file → the absolute mesh file path; undefined when neither. */
export function meshFileFor(picked: string): string | undefined {
  const abs = path.resolve(picked);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    return undefined;
  }
  if (stat.isDirectory()) {
    for (const name of MESH_FILE_NAMES) {
      const candidate = path.join(abs, name);
      if (isFile(candidate)) return candidate;
    }
    return undefined;
  }
  return stat.isFile() && /\.ya?ml$/i.test(abs) ? abs : undefined;
}

/** The bundled example: beside app.asar when packaged (extraResources), in the checkout otherwise. */
export function exampleMeshFile(where: { isPackaged: boolean; resourcesPath: string; appRoot: string }): string {
  return where.isPackaged
    ? path.join(where.resourcesPath, 'examples', 'bookinfo', 'localmesh.yaml')
    : path.join(where.appRoot, 'resources', 'examples', 'bookinfo', 'localmesh.yaml');
}

/**
 * The project to open at start: the one asked for (LOCALMESH_PROJECT, set by `npm start`: a mesh file or a folder
 * holding one), else the first recent project that still exists, else the example.
 */
export function initialProject(
  choice: { requested?: string; recent: readonly string[]; example: string },
  exists: (p: string) => boolean = isFile
): string {
  const requested = choice.requested ? meshFileFor(choice.requested) : undefined;
  return requested ?? choice.recent.find((r) => exists(r)) ?? choice.example;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** `--seed N`, `--seed=N` or LOCALMESH_SEED=N: reproduce a run's random draws (weights, fault percentages). */
export function seedFrom(argv: readonly string[], env: Record<string, string | undefined>): number | undefined {
  let raw: string | undefined = env.LOCALMESH_SEED;
  argv.forEach((arg, i) => {
    if (arg === '--seed') raw = argv[i + 1];
    else if (arg.startsWith('--seed=')) raw = arg.slice('--seed='.length);
  });
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isInteger(n) ? n : undefined;
}
