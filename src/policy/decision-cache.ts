/**
 * Allow decisions remembered per policy set. `evaluate` is pure: the same policy set and request
 * give the same decision, so one computed under a set holds for as long as that set is the
 * current one (a reload builds a new set, and the first decision asked under it empties the
 * cache). Policies are still evaluated on every request in effect: a change applies at once.
 *
 * Kept: only allow decisions that did not consult the source address (a rule with a `when`
 * condition makes the decision depend on more than the key). Denials are computed every time:
 * they are rare, and names chosen by a caller must not be able to churn the cache.
 */
import { evaluateFrom, SourceAddress } from "./evaluate.js";
import type { Decision, EvaluationRequest, PolicySet } from "./types.js";

export class DecisionCache {
  private policy: PolicySet | undefined;
  private readonly allowed = new Map<string, Decision>();

  /** @param maxEntries when full, the cache is emptied (default 10 000). */
  constructor(private readonly maxEntries = 10_000) {}

  decide(policy: PolicySet, request: EvaluationRequest): Decision {
    if (policy !== this.policy) {
      this.policy = policy;
      this.allowed.clear();
    }
    // Server ids and actions hold no NUL, so the key is unambiguous whatever the path holds.
    const key = `${request.serverId}\u0000${request.action}\u0000${request.secretPath}`;
    const cached = this.allowed.get(key);
    if (cached !== undefined) return cached;
    const source = new SourceAddress(request.sourceIp);
    const decision = evaluateFrom(policy, request, source);
    if (decision.allowed && !source.consulted) {
      if (this.allowed.size >= this.maxEntries) this.allowed.clear();
      this.allowed.set(key, decision);
    }
    return decision;
  }
}
