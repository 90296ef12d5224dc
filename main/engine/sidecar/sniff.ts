/**
 * The inbound sidecar's single port (istio-semantics §2, permissive detection): peek the first bytes; a TLS
 * ClientHello yields its ALPN list, anything else is plaintext.
 */
import type net from 'node:net';

export type Sniffed = { kind: 'tls'; alpn: string[]; head: Buffer } | { kind: 'plain'; head: Buffer };

const MAX_HELLO = 16 * 1024 + 5;

/**
 * Read the first bytes of a connection without losing them: the caller puts `head` back with `sock.unshift(head)`
 * (an HTTP server and a TLSSocket both take buffered bytes before reading the socket's handle).
 */
export function sniff(sock: net.Socket, done: (s: Sniffed | null) => void): void {
  // a client's FIN ends only its direction (node:http and the fast lane close after their answer; the TCP relay
  // passes it on), as Envoy treats a half-close; Node would otherwise end our side at once
  sock.allowHalfOpen = true;
  let head: Buffer = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    head = head.length === 0 ? c : Buffer.concat([head, c]);
    if (head[0] !== 0x16) return finish({ kind: 'plain', head });
    if (head.length < 5) return;
    const recordLen = head.readUInt16BE(3);
    if (head.length < 5 + recordLen && head.length < MAX_HELLO) return; // wait for the whole ClientHello
    finish({ kind: 'tls', alpn: clientHelloAlpn(head), head });
  };
  const onEnd = () => finish(null);
  const finish = (s: Sniffed | null) => {
    sock.off('data', onData);
    sock.off('end', onEnd);
    sock.off('error', onEnd);
    sock.pause();
    done(s);
  };
  sock.on('data', onData);
  sock.once('end', onEnd);
  sock.once('error', onEnd);
}

/** The body of extension `type` in a TLS ClientHello record (undefined when absent, or not a ClientHello). */
function clientHelloExtension(rec: Buffer, type: number): Buffer | undefined {
  try {
    let p = 5; // record header
    if (rec[p] !== 0x01) return undefined; // handshake type ClientHello
    p += 4 + 2 + 32; // handshake header, client version, random
    p += 1 + rec[p]!; // session id
    p += 2 + rec.readUInt16BE(p); // cipher suites
    p += 1 + rec[p]!; // compression methods
    const extEnd = Math.min(p + 2 + rec.readUInt16BE(p), rec.length);
    p += 2;
    while (p + 4 <= extEnd) {
      const t = rec.readUInt16BE(p);
      const len = rec.readUInt16BE(p + 2);
      p += 4;
      if (t === type) return rec.subarray(p, p + len);
      p += len;
    }
  } catch {
    /* truncated or not a ClientHello */
  }
  return undefined;
}

/** ALPN protocol names offered in a TLS ClientHello record ([] when absent or unparsable). */
export function clientHelloAlpn(rec: Buffer): string[] {
  const ext = clientHelloExtension(rec, 16);
  if (!ext || ext.length < 2) return [];
  const out: string[] = [];
  const end = Math.min(2 + ext.readUInt16BE(0), ext.length);
  for (let q = 2; q < end;) {
    const n = ext[q]!;
    out.push(ext.toString('latin1', q + 1, q + 1 + n));
    q += 1 + n;
  }
  return out;
}

/** The host name a TLS ClientHello record asks for (server_name extension, RFC 6066), lower-cased; undefined if none. */
export function clientHelloSni(rec: Buffer): string | undefined {
  const ext = clientHelloExtension(rec, 0);
  if (!ext || ext.length < 5) return undefined;
  const end = Math.min(2 + ext.readUInt16BE(0), ext.length);
  for (let q = 2; q + 3 <= end;) {
    const kind = ext[q]!;
    const n = ext.readUInt16BE(q + 1);
    if (kind === 0) return ext.toString('latin1', q + 3, q + 3 + n).toLowerCase();
    q += 3 + n;
  }
  return undefined;
}

export const ISTIO_ALPN = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2', 'istio-peer-exchange', 'istio'];
export function isIstioAlpn(alpn: string[]): boolean {
  return alpn.some((a) => ISTIO_ALPN.includes(a));
}
