import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { httpInspect, sniMatches } from './tcp.js';
import { clientHelloAlpn, clientHelloSni } from './sniff.js';
import { authorize, type ApplicablePolicy, type AuthzRequest } from '../security/authorization.js';

describe('httpInspect (http_inspector)', () => {
  const k = (s: string | Buffer) => httpInspect(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'));
  it('an HTTP/1 request line is HTTP; a line that is not, or binary, is TCP', () => {
    expect(k('GET /x HTTP/1.1\r\nHost: a\r\n')).toBe('http');
    expect(k('M-SEARCH * HTTP/1.1\r\n')).toBe('http');
    expect(k('*1\r\n$4\r\nPING\r\n')).toBe('tcp');
    expect(k('PING\r\n')).toBe('tcp');
    expect(k('GET /x\r\n')).toBe('tcp'); // no version
    expect(k('hello world\n')).toBe('tcp');
    expect(k(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]))).toBe('tcp'); // a Postgres SSLRequest
  });
  it('waits for more while the first bytes could still start a request line', () => {
    expect(k('GE')).toBe('more');
    expect(k('GET /long/path')).toBe('more');
    expect(k('GET /x HTTP/1.1')).toBe('more');
    expect(k('GET /x\x01')).toBe('tcp');
    expect(k('A'.repeat(30))).toBe('tcp');
  });
});

describe('AuthorizationPolicy on TCP (istio.io: Authorization for TCP traffic)', () => {
  const policy = (action: ApplicablePolicy['action'], rules: unknown[]): ApplicablePolicy =>
    ({
      name: `${action.toLowerCase()}-p`,
      namespace: 'default',
      action,
      dryRun: false,
      spec: { action, rules }
    }) as ApplicablePolicy;
  const conn = (port: number): AuthzRequest => ({
    tcp: true,
    principal: 'cluster.local/ns/default/sa/sleep',
    sourceNamespace: 'default',
    sourceIp: '127.0.0.1',
    remoteIp: '127.0.0.1',
    requestPrincipal: '',
    claims: null,
    host: '',
    port,
    method: '',
    path: '',
    header: () => undefined,
    sni: ''
  });
  it('ALLOW: a rule with an HTTP-only field is ignored; ports alone work', () => {
    const ports = policy('ALLOW', [{ to: [{ operation: { ports: ['9000', '9001'] } }] }]);
    expect(authorize([ports], conn(9000)).allowed).toBe(true);
    expect(authorize([ports], conn(9002)).allowed).toBe(false);
    const withMethods = policy('ALLOW', [{ to: [{ operation: { methods: ['GET'], ports: ['9000'] } }] }]);
    expect(authorize([withMethods], conn(9000)).allowed).toBe(false);
  });
  it('DENY: HTTP-only fields are dropped, so methods alone deny everything and methods + ports deny that port', () => {
    expect(authorize([policy('DENY', [{ to: [{ operation: { methods: ['GET'] } }] }])], conn(9001)).allowed).toBe(
      false
    );
    const both = policy('DENY', [{ to: [{ operation: { methods: ['GET'], ports: ['9000'] } }] }]);
    expect(authorize([both], conn(9000)).allowed).toBe(false);
    expect(authorize([both], conn(9001)).allowed).toBe(true);
    // a request.* condition is dropped too; a principal still applies
    const cond = policy('DENY', [
      {
        from: [{ source: { principals: ['cluster.local/ns/default/sa/other'] } }],
        when: [{ key: 'request.headers[x]', values: ['1'] }]
      }
    ]);
    expect(authorize([cond], conn(9000)).allowed).toBe(true);
  });
});

/** The first bytes a TLS client sends (its ClientHello), captured by a plain TCP server on loopback. */
async function clientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => s.once('data', (d: Buffer) => resolve(d)))
  );
  const c = tls.connect({ ...opts, host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

describe('ClientHello: SNI and ALPN (tls_inspector)', () => {
  it('reads the server name (lower-cased) and the ALPN list a real client offers; none when it sends none', async () => {
    const named = await clientHello({ servername: 'API.Example.TEST', ALPNProtocols: ['h2', 'http/1.1'] });
    expect(clientHelloSni(named)).toBe('api.example.test');
    expect(clientHelloAlpn(named)).toEqual(['h2', 'http/1.1']);
    const bare = await clientHello({ servername: '' });
    expect(clientHelloSni(bare)).toBeUndefined();
    expect(clientHelloAlpn(bare)).toEqual([]);
    expect(clientHelloSni(Buffer.from('GET / HTTP/1.1\r\n'))).toBeUndefined();
    expect(clientHelloSni(named.subarray(0, 60))).toBeUndefined(); // cut short
  });
});

describe('sniMatches (sniHosts)', () => {
  it('exact names in any case, * for all, *.suffix for names below it (not the suffix itself)', () => {
    expect(sniMatches('a.example.test', 'a.example.test')).toBe(true);
    expect(sniMatches('A.Example.test', 'a.example.test')).toBe(true);
    expect(sniMatches('a.example.test', 'b.example.test')).toBe(false);
    expect(sniMatches('*', 'anything.test')).toBe(true);
    expect(sniMatches('*.example.test', 'a.example.test')).toBe(true);
    expect(sniMatches('*.example.test', 'x.y.example.test')).toBe(true);
    expect(sniMatches('*.example.test', 'example.test')).toBe(false);
    expect(sniMatches('*.example.test', 'badexample.test')).toBe(false);
  });
});
