/**
 * Errors as the UI shows them: every failed action renders `code` + `message` next to the control that caused it.
 * Over HTTP the client throws a MeshError; over Electron IPC the rejection may arrive as a plain Error whose message
 * still carries the code ("Error invoking remote method 'x': MeshError: LM202 …"), so both shapes are read here.
 */
export interface ErrorInfo {
  code: string;
  message: string;
}

const CODE_RE = /\b(LM\d{3}|IST\d{4})\b/;
const IPC_PREFIX_RE = /^Error invoking remote method '[^']+': (?:\w*Error: )?/;

export function toErrorInfo(err: unknown): ErrorInfo {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown };
    const message = typeof e.message === 'string' ? e.message.replace(IPC_PREFIX_RE, '') : String(err);
    if (typeof e.code === 'string' && e.code !== '') return { code: e.code, message };
    const m = CODE_RE.exec(message);
    if (m) return { code: m[1]!, message: message.replace(`${m[1]}: `, '').replace(`${m[1]} `, '') };
    return { code: 'LM500', message };
  }
  return { code: 'LM500', message: String(err) };
}
