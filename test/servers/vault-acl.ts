/**
 * Vault ACL evaluation for the Vault test server, after Vault's documented policy semantics
 * (https://developer.hashicorp.com/vault/docs/concepts/policies):
 *  - a path rule is exact, ends in `*` (prefix glob, only at the end), or uses `+` for exactly
 *    one path segment;
 *  - rules with the same path across a token's policies have their capabilities merged;
 *  - when several rules match, only the highest-priority one applies (documented priority
 *    order, see {@link comparePriority});
 *  - `deny` on the chosen rule wins over everything; no matching rule means no access.
 */

export type VaultCapability = "create" | "read" | "update" | "patch" | "delete" | "list" | "sudo" | "deny";

/** One `path "..." { capabilities = [...] }` block of a Vault policy. */
export interface VaultPathRule {
  path: string;
  capabilities: readonly VaultCapability[];
}

/** Capabilities a set of rules grants on `requestPath` (no leading slash, as Vault sees it). */
export function grantedCapabilities(rules: readonly VaultPathRule[], requestPath: string): Set<VaultCapability> {
  const merged = new Map<string, Set<VaultCapability>>();
  for (const rule of rules) {
    const caps = merged.get(rule.path) ?? new Set<VaultCapability>();
    for (const cap of rule.capabilities) caps.add(cap);
    merged.set(rule.path, caps);
  }
  let best: string | undefined;
  for (const pattern of merged.keys()) {
    if (!matches(pattern, requestPath)) continue;
    if (best === undefined || comparePriority(pattern, best) > 0) best = pattern;
  }
  if (best === undefined) return new Set();
  const caps = merged.get(best) ?? new Set<VaultCapability>();
  return caps.has("deny") ? new Set() : caps;
}

function matches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith("*");
  const body = glob ? pattern.slice(0, -1) : pattern;
  if (!body.includes("+")) return glob ? path.startsWith(body) : path === body;
  // Segment-wise comparison; `+` stands for exactly one non-empty segment.
  const patternSegments = body.split("/");
  const pathSegments = path.split("/");
  if (!glob && patternSegments.length !== pathSegments.length) return false;
  if (glob && pathSegments.length < patternSegments.length) return false;
  for (let i = 0; i < patternSegments.length; i++) {
    const want = patternSegments[i] ?? "";
    const got = pathSegments[i] ?? "";
    const isLast = i === patternSegments.length - 1;
    if (want === "+") {
      if (got === "") return false;
      continue;
    }
    if (glob && isLast) {
      if (!got.startsWith(want)) return false;
      continue;
    }
    if (want !== got) return false;
  }
  return true;
}

/**
 * Positive when `a` has higher priority than `b`. Vault's documented order: a later first
 * wildcard wins; not ending in `*` wins; fewer `+` segments win; longer wins; lexically greater wins.
 */
function comparePriority(a: string, b: string): number {
  const firstWildcard = (p: string) => {
    const positions = [p.indexOf("+"), p.indexOf("*")].filter((i) => i >= 0);
    return positions.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...positions);
  };
  const wa = firstWildcard(a);
  const wb = firstWildcard(b);
  if (wa !== wb) return wa > wb ? 1 : -1;
  const ga = a.endsWith("*");
  const gb = b.endsWith("*");
  if (ga !== gb) return ga ? -1 : 1;
  const pa = a.split("+").length;
  const pb = b.split("+").length;
  if (pa !== pb) return pa < pb ? 1 : -1;
  if (a.length !== b.length) return a.length > b.length ? 1 : -1;
  return a === b ? 0 : a > b ? 1 : -1;
}

/**
 * The parts of Vault's built-in `default` policy that matter to a credential broker: a token may
 * look itself up, renew and revoke itself, and renew or look up leases. Revoking a lease
 * (`sys/leases/revoke`) is NOT in the default policy, as in Vault.
 */
export const DEFAULT_POLICY_RULES: readonly VaultPathRule[] = [
  { path: "auth/token/lookup-self", capabilities: ["read"] },
  { path: "auth/token/renew-self", capabilities: ["update"] },
  { path: "auth/token/revoke-self", capabilities: ["update"] },
  { path: "sys/capabilities-self", capabilities: ["update"] },
  { path: "sys/leases/renew", capabilities: ["update"] },
  { path: "sys/leases/lookup", capabilities: ["update"] },
  { path: "sys/renew", capabilities: ["update"] },
];
