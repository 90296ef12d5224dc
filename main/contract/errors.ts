/**
 * Stable error codes. Every error a user can cause carries one of these, a message, and (where known)
 * the place it came from. Transports map them to HTTP status / IPC rejections in one wrapper.
 */
export const ErrorCodes = {
  // mesh file (localmesh.yaml)
  MESH_FILE_NOT_FOUND: 'LM001',
  MESH_YAML_SYNTAX: 'LM002',
  MESH_SCHEMA: 'LM003',
  MESH_DUPLICATE_NAME: 'LM004',
  MESH_BAD_ADDRESS: 'LM005',
  MESH_ISTIO_PATH_MISSING: 'LM006',
  MESH_DUPLICATE_INSTANCE: 'LM007',
  // runtime
  PORT_IN_USE: 'LM101',
  LISTEN_FAILED: 'LM102',
  PROCESS_START_FAILED: 'LM103',
  NOT_RUNNING: 'LM104',
  RELOAD_FAILED: 'LM105',
  STATE_DIR_UNUSABLE: 'LM106',
  UI_NOT_BUILT: 'LM107',
  CA_UNUSABLE: 'LM108',
  // api
  BAD_REQUEST: 'LM201',
  NOT_FOUND: 'LM202',
  FORBIDDEN: 'LM203',
  UNAUTHORIZED: 'LM204',
  OUTSIDE_PROJECT: 'LM205',
  INTERNAL: 'LM500'
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** A place in a user's file. line/column are 1-based. */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

export interface MeshErrorData {
  code: string;
  message: string;
  where?: SourcePos;
  details?: unknown;
}

export class MeshError extends Error {
  readonly code: string;
  readonly where?: SourcePos;
  readonly details?: unknown;
  constructor(code: string, message: string, opts: { where?: SourcePos; details?: unknown; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MeshError';
    this.code = code;
    this.where = opts.where;
    this.details = opts.details;
  }
  toJSON(): MeshErrorData {
    return { code: this.code, message: this.message, where: this.where, details: this.details };
  }
}

export function isMeshError(e: unknown): e is MeshError {
  return e instanceof MeshError;
}
