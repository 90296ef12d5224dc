/** Small pure helpers of the Security view (unit-tested). */
import type { WorkloadSecurityView } from '../../../main/contract/api.js';

/** Does the workload's inbound side already require mutual TLS on every port? */
export function requiresMtls(w: WorkloadSecurityView): boolean {
  return w.mtls.length > 0 && w.mtls.every((m) => m.mode === 'STRICT');
}

/**
 * The command that exports the mesh CA root, for the state directory the running mesh uses: the root lives at
 * `<stateDir>/ca/root-cert.pem`, so `--state-dir` makes the command right from any folder (and never creates a new
 * CA elsewhere). Falls back to the plain command when the path has another shape.
 */
export function caExportCommand(certFile: string): string {
  const m = /^(.*)[\\/]ca[\\/]root-cert\.pem$/.exec(certFile);
  if (!m || m[1] === '') return 'localmesh ca export --out mesh-ca.pem';
  return `localmesh ca export --state-dir ${shellQuote(m[1]!)} --out mesh-ca.pem`;
}

/** Quote a path for a POSIX shell (or cmd/PowerShell, for paths with spaces) only when it needs it. */
export function shellQuote(s: string): string {
  if (/^[\w@%+=:,./\\-]+$/.test(s)) return s;
  return `"${s.replace(/(["\\$`])/g, '\\$1')}"`;
}
