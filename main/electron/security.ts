/**
 * URL decisions of the shell, as pure functions (checked by security.test.ts without Electron):
 * which frames may call the IPC api, where the window may navigate, which links may open in the user's browser.
 */

/** True for our own page (`indexUrl`, a file:// URL) whatever its #hash or ?query; false for anything else. */
export function isOwnPage(url: string, indexUrl: string): boolean {
  const a = parse(url);
  const b = parse(indexUrl);
  return (
    a !== undefined &&
    b !== undefined &&
    a.protocol === 'file:' &&
    b.protocol === 'file:' &&
    a.host === b.host &&
    a.pathname === b.pathname
  );
}

/** Links the shell hands to the user's browser: https only (no http, file, javascript, custom schemes). */
export function isSafeExternalUrl(url: string): boolean {
  const u = parse(url);
  return u !== undefined && u.protocol === 'https:' && u.username === '' && u.password === '' && u.hostname !== '';
}

/** Requests the renderer may make: its own files and DevTools; never the network (no remote content). */
export function isAllowedRendererRequest(url: string): boolean {
  const u = parse(url);
  return u !== undefined && ['file:', 'devtools:', 'data:', 'blob:', 'chrome-extension:'].includes(u.protocol);
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
