/**
 * Host names the way Istio reads them (istio-semantics §1.1): short names are relative to the namespace of the
 * rule that wrote them; a request's authority may use any of the short/long forms, with or without the port.
 */
export const CLUSTER_DOMAIN = 'svc.cluster.local';

/**
 * The FQDN a host written in a rule of namespace `ns` means. As Istio's ResolveShortnameToFQDN: only a name without
 * a dot is qualified (`reviews` → `reviews.<ns>.svc.cluster.local`); anything with a dot, `*` and IPs stay as written.
 */
export function qualifyHost(host: string, ns: string): string {
  const h = host.toLowerCase();
  if (h === '*' || h.includes('.') || h.includes(':')) return h;
  return `${h}.${ns}.${CLUSTER_DOMAIN}`;
}

/**
 * The service FQDN a request authority host may mean (Envoy virtual-host domains): `reviews` (caller's namespace),
 * `reviews.default`, `reviews.default.svc`, or the FQDN itself. Other names are returned unchanged.
 */
export function authorityHostToFqdn(host: string, callerNs: string): string {
  const h = host.toLowerCase();
  if (h.includes(':') || h.endsWith('.' + CLUSTER_DOMAIN)) return h;
  const parts = h.split('.');
  if (parts.length === 1) return `${h}.${callerNs}.${CLUSTER_DOMAIN}`;
  if (parts.length === 2) return `${h}.${CLUSTER_DOMAIN}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${h}.cluster.local`;
  return h;
}

/** Split "host:port" (or "[::1]:port"); port is undefined when absent. */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    const host = a.slice(0, end + 1);
    const rest = a.slice(end + 1);
    return { host, port: rest.startsWith(':') ? Number(rest.slice(1)) : undefined };
  }
  const i = a.lastIndexOf(':');
  if (i > 0 && /^\d+$/.test(a.slice(i + 1))) return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  return { host: a, port: undefined };
}

/** Does `pattern` (an FQDN, possibly a "*.x" wildcard, or "*") cover the FQDN `host`? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/** Is `name` (a k8s-style FQDN) a service name in the form name.ns.svc.cluster.local? Returns {name, ns}. */
export function parseServiceFqdn(fqdn: string): { name: string; namespace: string } | undefined {
  const suffix = `.${CLUSTER_DOMAIN}`;
  if (!fqdn.endsWith(suffix)) return undefined;
  const parts = fqdn.slice(0, -suffix.length).split('.');
  return parts.length === 2 ? { name: parts[0]!, namespace: parts[1]! } : undefined;
}
