/**
 * The mesh CA and workload certificates (istio-semantics §2): a self-signed root kept in the state dir (10 years,
 * key file mode 0600, reused across runs) and one leaf per workload with an empty subject, a single critical URI SAN
 * `spiffe://<trustDomain>/ns/<ns>/sa/<sa>`, serverAuth + clientAuth, 24 h validity, NotBefore 2 min in the past.
 * EC P-256 by default (fast), RSA 2048 on request. Leaves are rotated when half their life has passed.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { generate } from 'selfsigned';
import { ErrorCodes, MeshError } from '../../contract/errors.js';

export type KeyAlgorithm = 'ec' | 'rsa';

export interface CertKeyPair {
  cert: string;
  key: string;
}

export interface CaInfo {
  subject: string;
  fingerprint256: string;
  validFrom: string;
  validTo: string;
  keyAlgorithm: KeyAlgorithm;
  certFile: string;
}

export interface WorkloadCert extends CertKeyPair {
  spiffeId: string;
  notBefore: number;
  notAfter: number;
  /** When to replace it: half its life (Istio's SECRET_GRACE_PERIOD_RATIO 0.5). */
  renewAt: number;
}

const CA_YEARS = 10;
export const LEAF_TTL_MS = 24 * 3600_000;
const SKEW_GRACE_MS = 2 * 60_000;

function keyOpts(alg: KeyAlgorithm) {
  return alg === 'rsa'
    ? ({ keyType: 'rsa', keySize: 2048, algorithm: 'sha256' } as const)
    : ({ keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } as const);
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export class MeshCa {
  private constructor(
    readonly root: CertKeyPair,
    readonly keyAlgorithm: KeyAlgorithm,
    readonly dir: string
  ) {}

  static files(dir: string) {
    return { cert: path.join(dir, 'ca', 'root-cert.pem'), key: path.join(dir, 'ca', 'root-key.pem') };
  }

  /** Load the CA from `<stateDir>/ca/`, or create it there on first run. */
  static async loadOrCreate(stateDir: string, alg: KeyAlgorithm = 'ec', now = Date.now()): Promise<MeshCa> {
    const f = MeshCa.files(stateDir);
    if (fs.existsSync(f.cert) && fs.existsSync(f.key)) {
      const cert = fs.readFileSync(f.cert, 'utf8');
      const key = fs.readFileSync(f.key, 'utf8');
      let x: crypto.X509Certificate;
      try {
        x = new crypto.X509Certificate(cert);
        if (!x.checkPrivateKey(crypto.createPrivateKey(key)))
          throw new Error('the key does not belong to the certificate');
      } catch (e) {
        throw new MeshError(
          ErrorCodes.CA_UNUSABLE,
          `the mesh CA in ${path.dirname(f.cert)} cannot be used: ${(e as Error).message}; run "localmesh ca rotate" to make a new one`
        );
      }
      if (Date.parse(x.validTo) <= now) return MeshCa.create(stateDir, alg, now);
      const existing = x.publicKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec';
      return new MeshCa({ cert, key }, existing, stateDir);
    }
    return MeshCa.create(stateDir, alg, now);
  }

  /** Make a new root (first run, or `localmesh ca rotate`), replacing any old one. */
  static async create(stateDir: string, alg: KeyAlgorithm = 'ec', now = Date.now()): Promise<MeshCa> {
    const f = MeshCa.files(stateDir);
    const pems = await generate(
      [
        { name: 'organizationName', value: 'localmesh' },
        { name: 'commonName', value: 'localmesh mesh CA' }
      ],
      {
        ...keyOpts(alg),
        notBeforeDate: new Date(now - SKEW_GRACE_MS),
        notAfterDate: new Date(now + CA_YEARS * 365 * 24 * 3600_000),
        extensions: [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
        ]
      }
    );
    fs.mkdirSync(path.dirname(f.cert), { recursive: true, mode: 0o700 });
    writeAtomic(f.key, pems.private, 0o600);
    writeAtomic(f.cert, pems.cert, 0o644);
    return new MeshCa({ cert: pems.cert, key: pems.private }, alg, stateDir);
  }

  info(): CaInfo {
    const x = new crypto.X509Certificate(this.root.cert);
    return {
      subject: x.subject,
      fingerprint256: x.fingerprint256,
      validFrom: new Date(x.validFrom).toISOString(),
      validTo: new Date(x.validTo).toISOString(),
      keyAlgorithm: this.keyAlgorithm,
      certFile: MeshCa.files(this.dir).cert
    };
  }

  /** Issue a workload leaf for a SPIFFE identity (the CA's key type; selfsigned needs CA and leaf alike). */
  async issue(id: string, now = Date.now(), ttlMs = LEAF_TTL_MS): Promise<WorkloadCert> {
    const notBefore = now - SKEW_GRACE_MS;
    const notAfter = now + ttlMs;
    const pems = await generate([], {
      ...keyOpts(this.keyAlgorithm),
      ca: { key: this.root.key, cert: this.root.cert },
      notBeforeDate: new Date(notBefore),
      notAfterDate: new Date(notAfter),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 6, value: id }], critical: true }
      ]
    });
    return { cert: pems.cert, key: pems.private, spiffeId: id, notBefore, notAfter, renewAt: now + ttlMs / 2 };
  }
}

function writeAtomic(file: string, content: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** The SPIFFE ID in a peer certificate's SAN string ("URI:spiffe://…, DNS:…"), or null. */
export function spiffeFromSan(san: string | undefined): string | null {
  if (!san) return null;
  for (const part of san.split(',')) {
    const p = part.trim();
    if (p.startsWith('URI:spiffe://')) return p.slice(4);
  }
  return null;
}
