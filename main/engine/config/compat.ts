/**
 * The Istio release whose behaviour the mesh reproduces (istio-semantics §1.9): the newest by default, or an older
 * one named by the mesh file's `spec.compatibilityVersion` ("1.23"), as Istio's own `compatibilityVersion` install
 * value keeps a cluster on its previous release's defaults while it upgrades. Each switch below is one behaviour
 * that changed, with the release that changed it and the istiod flag (or Envoy change) behind it.
 */

export interface Compat {
  /** The version asked for ("1.23"), or null: the newest behaviour. */
  readonly version: string | null;
  /** Istio's minor version the switches are computed for (Infinity: newest). */
  readonly minor: number;
  /** < 1.24: the default retry policy also retries an upstream 503 (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY=false). */
  readonly retry503ByDefault: boolean;
  /** ≥ 1.24: the server sidecar retries a request reset before it reached the app twice (ENABLE_INBOUND_RETRY_POLICY). */
  readonly inboundRetry: boolean;
  /** < 1.22: a Zipkin tracer is configured by default, so sidecars write B3 headers unless tracing.b3 says otherwise. */
  readonly b3ByDefault: boolean;
  /** < 1.15: route weights must add up to 100 (since then they are relative). */
  readonly weightsSumTo100: boolean;
  /** < 1.7: outlierDetection.consecutiveErrors counts gateway errors (502/503/504); since then it is ignored. */
  readonly consecutiveErrorsAsGateway: boolean;
  /**
   * Envoy < 1.28 (Istio < 1.20): an endpoint may be ejected while the share already ejected is below
   * maxEjectionPercent, so one endpoint of fewer than 10 is ejectable under the default 10 %; since then the share
   * after the ejection must stay within it, so none is.
   */
  readonly ejectBelowMaxPercent: boolean;
  /** < 1.28: a mirrored request's Host gets the `-shadow` suffix (reviews:9080 → reviews-shadow:9080). */
  readonly mirrorShadowHost: boolean;
  /**
   * ≥ 1.23 (Envoy 1.31, jwt_authn_remove_jwt_from_query_params): a verified token found in a query parameter is
   * removed from the path unless the rule forwards it; before, only a header token was removed.
   */
  readonly jwtParamRemoved: boolean;
}

/** `1.<minor>`; the schema checks the form, this the meaning. */
export function parseMinor(version: string): number {
  const m = /^1\.(\d{1,3})$/.exec(version);
  if (!m) throw new Error(`compatibilityVersion "${version}" is not of the form 1.<minor> (e.g. "1.23")`);
  return Number(m[1]);
}

export function compatFor(version: string | undefined | null): Compat {
  const minor = version ? parseMinor(version) : Infinity;
  return {
    version: version ?? null,
    minor,
    retry503ByDefault: minor < 24,
    inboundRetry: minor >= 24,
    b3ByDefault: minor < 22,
    weightsSumTo100: minor < 15,
    consecutiveErrorsAsGateway: minor < 7,
    ejectBelowMaxPercent: minor < 20,
    mirrorShadowHost: minor < 28,
    jwtParamRemoved: minor >= 23
  };
}

export const NEWEST_COMPAT: Compat = compatFor(null);

/** Fields that did not exist before a release: an older istiod's schema rejects them (validation warns). */
export const FIELD_SINCE: { path: string; minor: number; what: string }[] = [
  { path: 'directResponse', minor: 15, what: 'HTTPRoute.directResponse' },
  { path: 'rewrite.uriRegexRewrite', minor: 19, what: 'HTTPRewrite.uriRegexRewrite' },
  { path: 'mirrors', minor: 19, what: 'HTTPRoute.mirrors' },
  { path: 'retries.retryIgnorePreviousHosts', minor: 26, what: 'HTTPRetry.retryIgnorePreviousHosts' },
  { path: 'retries.backoff', minor: 26, what: 'HTTPRetry.backoff' }
];

/** Envoy's shadow host: `-shadow` after the host name, before the port (Envoy's ShadowWriter before 1.28's Istio). */
export function shadowHost(host: string): string {
  const colon = host.lastIndexOf(':');
  // an IPv6 literal's colons are inside brackets; a port follows the closing bracket
  if (colon > host.lastIndexOf(']') && colon > 0) return `${host.slice(0, colon)}-shadow${host.slice(colon)}`;
  return `${host}-shadow`;
}
