/**
 * Workload identities for the sidecars: one certificate per SPIFFE ID, issued at startup (and when new workloads
 * appear), rotated at half its life without dropping connections (new connections use the new certificate; open
 * ones keep theirs), all from the mesh CA.
 */
import { MeshCa, spiffeId, type WorkloadCert } from './ca.js';

export interface Identity {
  id: string;
  cert: WorkloadCert;
}

export class IdentityManager {
  private readonly byId = new Map<string, Identity>();
  private readonly pending = new Map<string, Promise<Identity>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    readonly ca: MeshCa,
    readonly trustDomain: string,
    private readonly onRotate: (id: string) => void = () => undefined,
    /** Leaf lifetime (24 h; tests shorten it to watch a rotation). */
    private readonly ttlMs?: number
  ) {}

  idFor(namespace: string, serviceAccount: string): string {
    return spiffeId(this.trustDomain, namespace, serviceAccount);
  }

  /** The identity, issuing it on first use. */
  ensure(namespace: string, serviceAccount: string): Promise<Identity> {
    const id = this.idFor(namespace, serviceAccount);
    const have = this.byId.get(id);
    if (have) return Promise.resolve(have);
    let p = this.pending.get(id);
    if (!p) {
      p = this.issue(id).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }

  /** Already issued (synchronous; the engine ensures every sidecar identity before listening). */
  get(namespace: string, serviceAccount: string): Identity | undefined {
    return this.byId.get(this.idFor(namespace, serviceAccount));
  }

  list(): Identity[] {
    return [...this.byId.values()];
  }

  private async issue(id: string): Promise<Identity> {
    const cert = await this.ca.issue(id, Date.now(), this.ttlMs);
    const identity: Identity = { id, cert };
    this.byId.set(id, identity);
    clearTimeout(this.timers.get(id));
    if (!this.closed) {
      const t = setTimeout(
        () => {
          void this.issue(id).then(() => this.onRotate(id));
        },
        Math.max(50, cert.renewAt - Date.now())
      );
      t.unref();
      this.timers.set(id, t);
    }
    return identity;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
