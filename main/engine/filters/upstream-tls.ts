/**
 * How a client sidecar secures one connection to an endpoint (istio-semantics §1.3 tls): auto-mTLS when the
 * DestinationRule sets no tls mode (ISTIO_MUTUAL to endpoints with a sidecar whose PeerAuthentication is not
 * DISABLE, plaintext otherwise), or the DestinationRule's DISABLE / SIMPLE / MUTUAL / ISTIO_MUTUAL.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Identity } from '../tls/identity.js';
import type { ClientTLSSettings } from '../../contract/istio-schema.js';
import { policyComponent, type MergedDestinationRule } from '../config/compile.js';
import type { ServiceEndpoint, ServiceInfo, WorkloadInfo } from '../registry.js';
import type { SidecarHost } from '../sidecar/host.js';
import { spiffeFromSan } from '../tls/ca.js';

export interface UpstreamTls {
  mode: 'ISTIO_MUTUAL' | 'SIMPLE' | 'MUTUAL';
  options: tls.ConnectionOptions;
  describe: string;
  /** The caller's own SPIFFE ID when it presented the mesh certificate. */
  localPrincipal: string | null;
}

type Settings = ClientTLSSettings | undefined;

/** The DestinationRule's tls settings for a destination (policyComponent: subset > port-level > top level). */
export function destinationTls(
  dr: MergedDestinationRule | undefined,
  subset: string | undefined,
  port: number
): Settings {
  return policyComponent(dr, subset, port, 'tls');
}

/** The host of a Host header value (`name`, `name:port`, `[v6]:port`), without the port or brackets. */
function hostOfAuthority(authority: string): string {
  const v6 = /^\[([^\]]*)\]/.exec(authority);
  if (v6) return v6[1]!;
  const colon = authority.indexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

const readFile = (f: string | undefined) => (f ? fs.readFileSync(f, 'utf8') : undefined);

/**
 * The client TLS context of a mesh identity, built once per identity (a rotation makes a new Identity) and CA root
 * instead of parsing the key and certificates again for every new connection. The PEM strings stay in the options
 * too: the agent pools connections by them, so a rotated certificate still gets connections of its own.
 */
const clientContexts = new WeakMap<Identity, { ca: string; context: tls.SecureContext }>();
function clientContext(me: Identity, ca: string): tls.SecureContext {
  let c = clientContexts.get(me);
  if (!c || c.ca !== ca) {
    c = { ca, context: tls.createSecureContext({ key: me.cert.key, cert: me.cert.cert, ca }) };
    clientContexts.set(me, c);
  }
  return c.context;
}

interface UpstreamTlsInput {
  dr: MergedDestinationRule | undefined;
  subset: string | undefined;
  port: number;
  endpoint: ServiceEndpoint;
  service: ServiceInfo | undefined;
  caller: WorkloadInfo | undefined;
  host: SidecarHost;
  /**
   * The Host header of the HTTP request sent upstream (after rewrites), where there is one: SIMPLE and MUTUAL take
   * their SNI and the name they verify from it when the DestinationRule names no `sni` (Istio's auto_sni and
   * auto_san_validation). A TCP stream has none: the endpoint's host stands in.
   */
  requestHost?: string | undefined;
}

/**
 * Answers for mesh destinations (auto mTLS, ISTIO_MUTUAL, DISABLE), per endpoint object (endpoints belong to one
 * config version) and the rest of the input; reused while the DestinationRule, the caller's identity (a rotation
 * makes a new one) and the CA root are the same. SIMPLE and MUTUAL origination read the user's files every time, as
 * they always did.
 */
const answers = new WeakMap<
  ServiceEndpoint,
  Map<
    string,
    {
      dr: MergedDestinationRule | undefined;
      service: ServiceInfo | undefined;
      me: Identity | undefined;
      ca: string;
      answer: UpstreamTls | null;
    }
  >
>();

export function upstreamTls(a: UpstreamTlsInput): UpstreamTls | null {
  const settings = destinationTls(a.dr, a.subset, a.port);
  if (settings?.mode === 'SIMPLE' || settings?.mode === 'MUTUAL') return decide(a, settings);
  const me = a.caller ? a.host.identities.get(a.caller.namespace, a.caller.serviceAccount) : undefined;
  const ca = a.host.identities.ca.root.cert;
  const key = `${a.port}|${a.subset ?? ''}|${a.caller?.name ?? ''}`;
  let byKey = answers.get(a.endpoint);
  if (!byKey) answers.set(a.endpoint, (byKey = new Map()));
  const c = byKey.get(key);
  if (c && c.dr === a.dr && c.service === a.service && c.me === me && c.ca === ca) return c.answer;
  const answer = decide(a, settings);
  byKey.set(key, { dr: a.dr, service: a.service, me, ca, answer });
  return answer;
}

function decide(a: UpstreamTlsInput, settings: Settings): UpstreamTls | null {
  // a `tls` block without a mode is DISABLE, the field's zero value: only a policy without `tls` is auto mTLS (Istio's
  // buildUpstreamTLSSettings returns any non-nil settings whose mode is DISABLE as they are)
  let mode = settings ? (settings.mode ?? 'DISABLE') : undefined;
  let why = `DestinationRule ${a.dr?.key ?? ''} tls ${mode}`;
  if (!mode) {
    const w = a.endpoint.workload;
    if (!w || !w.sidecar || !a.endpoint.instance || a.service?.external) return null;
    const pa = a.host.mtlsMode(w, a.endpoint.instance.port);
    if (pa.mode === 'DISABLE') return null;
    mode = 'ISTIO_MUTUAL';
    why = `auto mTLS (${pa.source})`;
  }
  if (mode === 'DISABLE') return null;
  if (mode === 'ISTIO_MUTUAL') {
    const me = a.caller ? a.host.identities.get(a.caller.namespace, a.caller.serviceAccount) : undefined;
    if (!me) return null;
    // the destination's service accounts (a ServiceEntry's subjectAltNames among them), unless the DestinationRule
    // names the SANs to accept
    const expected = new Set(
      settings?.subjectAltNames?.length
        ? settings.subjectAltNames
        : [
            ...(a.service?.subjectAltNames ?? []),
            ...(a.service?.endpoints ?? [])
              .filter((e) => e.workload)
              .map((e) => a.host.identities.idFor(e.workload!.namespace, e.workload!.serviceAccount))
          ]
    );
    // the DestinationRule's `sni`, else the cluster's name (Istio's buildUpstreamTLSSettings)
    const sni = settings?.sni || `outbound_.${a.port}_.${a.subset ?? ''}_.${a.service?.fqdn ?? ''}`;
    return {
      mode,
      localPrincipal: me.id,
      describe: `${why}: ISTIO_MUTUAL as ${me.id}, expecting ${[...expected].join(' or ') || 'any mesh identity'}`,
      options: {
        key: me.cert.key,
        cert: me.cert.cert,
        ca: a.host.identities.ca.root.cert,
        secureContext: clientContext(me, a.host.identities.ca.root.cert),
        servername: sni,
        ALPNProtocols: ['istio-http/1.1', 'istio'],
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => {
          const id = spiffeFromSan(cert.subjectaltname);
          if (expected.size > 0 && (!id || !expected.has(id))) {
            return Object.assign(
              new Error(`server identity ${id ?? 'none'} is not one of ${[...expected].join(', ')}`),
              { code: 'ERR_TLS_SAN_MISMATCH' }
            );
          }
          return undefined;
        }
      }
    };
  }
  // SIMPLE / MUTUAL naming a secret (`credentialName`, other than a `configmap://` CA) in a rule without a
  // workloadSelector: Istio builds no TLS context for a sidecar (a secret is only handed to the workloads a rule
  // selects), so the sidecar sends plaintext
  const credential = settings?.credentialName;
  if (credential && !credential.startsWith('configmap://') && !a.dr?.workloadSelector) return null;
  // SIMPLE / MUTUAL: TLS origination with the user's files. Options left unset are left out: an explicit
  // `checkServerIdentity: undefined` replaces Node's default check and makes tls.connect fail an internal assertion.
  // the names to verify: the DestinationRule's, else the ServiceEntry's
  const sans = settings?.subjectAltNames?.length ? settings.subjectAltNames : a.service?.subjectAltNames;
  const options: tls.ConnectionOptions = { rejectUnauthorized: settings?.insecureSkipVerify !== true };
  // Istio (ENABLE_AUTO_SNI, VERIFY_CERTIFICATE_AT_CLIENT): without a DestinationRule `sni` Envoy sends the upstream
  // request's Host as SNI and verifies the certificate against it when no subjectAltNames are given; with an explicit
  // `sni` and no subjectAltNames it verifies the chain only. SNI is a host name (RFC 6066): none for an IP address
  const autoName = a.requestHost !== undefined ? hostOfAuthority(a.requestHost) : a.endpoint.host;
  const servername = settings?.sni ?? autoName;
  if (net.isIP(servername) === 0) options.servername = servername;
  if (settings?.sni && !sans?.length) options.checkServerIdentity = () => undefined;
  const ca = readFile(settings?.caCertificates);
  if (ca !== undefined) options.ca = ca;
  // caCrl: the server's chain is checked against it (Envoy's crl, every certificate of the chain: one its CRL revokes,
  // or issued by a CA the file has no CRL of, fails the handshake); skipped with insecureSkipVerify, as the whole
  // validation context is
  const crl = settings?.insecureSkipVerify === true ? undefined : readFile(settings?.caCrl);
  if (crl !== undefined) options.crl = crl;
  if (mode === 'MUTUAL') {
    const cert = readFile(settings?.clientCertificate);
    const key = readFile(settings?.privateKey);
    if (cert !== undefined) options.cert = cert;
    if (key !== undefined) options.key = key;
  }
  if (sans?.length)
    options.checkServerIdentity = (_host, cert) => {
      const names = (cert.subjectaltname ?? '').split(',').map((x) => x.trim().replace(/^(DNS|URI|IP Address):/, ''));
      return sans.some((s) => names.includes(s))
        ? undefined
        : Object.assign(new Error(`certificate names ${names.join(', ')} match none of ${sans.join(', ')}`), {
            code: 'ERR_TLS_SAN_MISMATCH'
          });
    };
  return {
    mode,
    localPrincipal: null,
    describe: `${why}${settings?.sni ? ` (SNI ${settings.sni})` : ''}`,
    options
  };
}
