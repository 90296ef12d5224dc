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

/** ALPN protocol names offered in a TLS ClientHello record ([] when absent or unparsable). */
export function clientHelloAlpn(rec: Buffer): string[] {
  try {
    let p = 5; // record header
    if (rec[p] !== 0x01) return []; // handshake type ClientHello
    p += 4 + 2 + 32; // handshake header, client version, random
    p += 1 + rec[p]!; // session id
    p += 2 + rec.readUInt16BE(p); // cipher suites
    p += 1 + rec[p]!; // compression methods
    const extEnd = p + 2 + rec.readUInt16BE(p);
    p += 2;
    while (p + 4 <= extEnd) {
      const type = rec.readUInt16BE(p);
      const len = rec.readUInt16BE(p + 2);
      p += 4;
      if (type === 16) {
        const out: string[] = [];
        const end = p + 2 + rec.readUInt16BE(p);
        let q = p + 2;
        while (q < end) {
          const n = rec[q]!;
          out.push(rec.toString('latin1', q + 1, q + 1 + n));
          q += 1 + n;
        }
        return out;
      }
      p += len;
    }
  } catch {
    /* truncated or not a ClientHello */
  }
  return [];
}

export const ISTIO_ALPN = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2', 'istio-peer-exchange', 'istio'];
export function isIstioAlpn(alpn: string[]): boolean {
  return alpn.some((a) => ISTIO_ALPN.includes(a));
}
