/**
 * PeerAuthentication (istio-semantics §1.4): which mTLS mode an inbound sidecar enforces on a port. Scope:
 * workload selector (same namespace) > namespace-wide > mesh-wide (root namespace, no selector); UNSET inherits;
 * nothing anywhere = PERMISSIVE. Only one mesh-wide and one namespace-wide policy count (the oldest); several
 * selector policies ⇒ the oldest. Selector policies in the root namespace are ignored. portLevelMtls needs a
 * selector and is keyed by the workload (target) port.
 */
import type { IstioResource } from '../../contract/istio-schema.js';
import { labelsMatch, type WorkloadInfo } from '../registry.js';
import { ROOT_NAMESPACE } from '../config/compile.js';

export type MtlsMode = 'PERMISSIVE' | 'STRICT' | 'DISABLE';
type RawMode = MtlsMode | 'UNSET';

interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: RawMode };
  portLevelMtls?: Record<string, { mode?: RawMode }>;
}

export interface EffectiveMtls {
  mode: MtlsMode;
  /** "PeerAuthentication default/strict-reviews (port 9080)", or "default (no PeerAuthentication)". */
  source: string;
}

const MODES = new Set(['PERMISSIVE', 'STRICT', 'DISABLE', 'UNSET']);

export function effectiveMtls(resources: IstioResource[], w: WorkloadInfo, port: number): EffectiveMtls {
  const pas = (
    resources.filter((r) => r.kind === 'PeerAuthentication') as IstioResource<PeerAuthenticationSpec>[]
  ).sort((a, b) => a.order - b.order);
  const hasSelector = (r: IstioResource<PeerAuthenticationSpec>) =>
    Object.keys(r.spec?.selector?.matchLabels ?? {}).length > 0;
  const mesh = pas.find((r) => r.namespace === ROOT_NAMESPACE && !hasSelector(r));
  const ns = pas.find((r) => r.namespace === w.namespace && r.namespace !== ROOT_NAMESPACE && !hasSelector(r));
  const wl = pas.find(
    (r) =>
      r.namespace === w.namespace &&
      r.namespace !== ROOT_NAMESPACE &&
      hasSelector(r) &&
      labelsMatch(r.spec.selector?.matchLabels, w.labels)
  );
  const name = (r: IstioResource) => `PeerAuthentication ${r.namespace}/${r.name}`;
  const modeOf = (m: unknown): RawMode => (typeof m === 'string' && MODES.has(m) ? (m as RawMode) : 'UNSET');

  // narrowest first; UNSET falls through to the next wider scope
  const chain: { mode: RawMode; source: string }[] = [];
  if (wl) {
    const portMode = wl.spec.portLevelMtls?.[String(port)]?.mode;
    if (portMode !== undefined) chain.push({ mode: modeOf(portMode), source: `${name(wl)} (port ${port})` });
    chain.push({ mode: modeOf(wl.spec.mtls?.mode), source: name(wl) });
  }
  if (ns) chain.push({ mode: modeOf(ns.spec?.mtls?.mode), source: name(ns) });
  if (mesh) chain.push({ mode: modeOf(mesh.spec?.mtls?.mode), source: `${name(mesh)} (mesh-wide)` });
  for (const c of chain) if (c.mode !== 'UNSET') return { mode: c.mode, source: c.source };
  return {
    mode: 'PERMISSIVE',
    source: chain.length
      ? `${chain[0]!.source}: UNSET, inherits PERMISSIVE`
      : 'default (no PeerAuthentication): PERMISSIVE'
  };
}
