/**
 * Signalling a whole process group. Commands are spawned with `detached: true`, so the shell and
 * everything it starts share one process group whose id is the shell's pid.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const isWindows = process.platform === 'win32';

/** Send a signal to the process group led by `pid`. Returns false when no member is left. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  if (isWindows) {
    // No process groups: taskkill /T walks the tree. Windows has no graceful signal for console apps.
    spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true }).on('error', () => {});
    return true;
  }
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The conventional shell exit code for an exit: the code, or 128 + signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  if (signal !== null) return 128 + (constants.signals[signal] ?? 0);
  return null;
}

export const spawnsDetached = !isWindows;
