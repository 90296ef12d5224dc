/**
 * HAR files in the renderer: reading one the user picked (checked enough to give a clear error before it is sent
 * to importHar), naming an export, and the text written to disk. Pure; unit-tested.
 */
import type { Har, SessionView } from '../../../main/contract/api.js';
import type { ErrorInfo } from './errors.js';

/** The code of a HAR file the renderer refuses before sending it (the engine uses the same for a bad request). */
export const BAD_HAR = 'LM201';

export class HarError extends Error implements ErrorInfo {
  readonly code = BAD_HAR;
}

/** Parse a HAR file's text: JSON with `log.entries` as an array of objects; an empty log is an error too. */
export function parseHar(text: string, name = 'the file'): Har {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') throw new HarError(`${name} is empty.`);
  let data: unknown;
  try {
    data = JSON.parse(trimmed);
  } catch (err) {
    throw new HarError(`${name} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const log = (data as { log?: unknown } | null)?.log;
  if (typeof log !== 'object' || log === null) throw new HarError(`${name} is not a HAR file: it has no "log".`);
  const entries = (log as { entries?: unknown }).entries;
  if (!Array.isArray(entries)) throw new HarError(`${name} is not a HAR file: "log.entries" is not a list.`);
  if (entries.length === 0) throw new HarError(`${name} holds no requests ("log.entries" is empty).`);
  const bad = entries.findIndex(
    (e) => typeof e !== 'object' || e === null || typeof (e as { request?: unknown }).request !== 'object'
  );
  if (bad >= 0) throw new HarError(`${name}: entry ${bad + 1} has no "request".`);
  return data as Har;
}

const pad = (n: number): string => String(n).padStart(2, '0');

function stamp(d: Date): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
}

/** "localmesh-checkout-bug-20260101-100000.har" (the session's label), "localmesh-20260101-100000.har" otherwise. */
export function harFileName(session: SessionView | null | undefined, now: Date): string {
  const label = session ? slug(session.label ?? `session-${session.id}`) : '';
  return `localmesh-${label ? `${label}-` : ''}${stamp(now)}.har`;
}

/** The file's text (indented: people read HAR files). */
export function harText(har: Har): string {
  return `${JSON.stringify(har, null, 2)}\n`;
}
