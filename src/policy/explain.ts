import {
  conditionHolds,
  describeCondition,
  describeSource,
  evaluate,
  matchesAnyGlob,
  SourceAddress,
} from "./evaluate.js";
import { isValidSecretPath, secretPathBase } from "./glob.js";
import type { Decision, EvaluationRequest, PolicySet, RuleRef, ServerRule } from "./types.js";

/**
 * The long answer to "why was this allowed or denied?", for `credbroker policy explain`: the
 * decision, plus every rule of the server in evaluation order (denies first, then allows) with
 * whether it matched and, if not, which part did not (secret glob, action, condition).
 */

export interface ConsideredRule {
  readonly rule: RuleRef;
  /** For a deny: it applies to this request. For an allow: it would grant this request. */
  readonly matched: boolean;
  readonly why: string;
}

export interface Explanation {
  /** The same decision that {@link evaluate} returns for this request. */
  readonly decision: Decision;
  readonly considered: ConsideredRule[];
}

/**
 * Explains one request. `considered` is empty when the server is unknown or the path invalid,
 * since no rule was looked at.
 */
export function explain(policy: PolicySet, request: EvaluationRequest): Explanation {
  const decision = evaluate(policy, request);
  const server = policy.servers.get(request.serverId);
  if (server === undefined || !isValidSecretPath(request.secretPath)) return { decision, considered: [] };

  const basePath = secretPathBase(request.secretPath);
  const source = new SourceAddress(request.sourceIp);
  const considered = [...server.deny, ...server.allow].map((rule) => consider(rule, request, basePath, source));
  return { decision, considered };
}

function consider(rule: ServerRule, request: EvaluationRequest, basePath: string, source: SourceAddress): ConsideredRule {
  const secrets = rule.secrets.map((glob) => JSON.stringify(glob.pattern)).join(", ");
  const actions = rule.actions.join(", ");
  if (!matchesAnyGlob(rule.secrets, basePath)) {
    return { rule: rule.ref, matched: false, why: `${JSON.stringify(basePath)} matches none of its secrets (${secrets})` };
  }
  if (!rule.actions.includes(request.action)) {
    return { rule: rule.ref, matched: false, why: `it covers ${actions}, not ${String(request.action)}` };
  }
  const holds = conditionHolds(rule, source);
  const deny = rule.ref.effect === "deny";
  if (holds === true) {
    const condition = rule.sourceCidrs === undefined ? "" : `, and ${describeSource(source)} (${describeCondition(rule)})`;
    return { rule: rule.ref, matched: true, why: `secret and action match${condition}` };
  }
  if (holds === undefined && deny) {
    // Mirrors evaluate: a deny whose condition cannot be checked applies (fail closed).
    return {
      rule: rule.ref,
      matched: true,
      why: `secret and action match; it applies ${describeCondition(rule)}, ${describeSource(source)}, so it applies anyway (fail closed)`,
    };
  }
  return {
    rule: rule.ref,
    matched: false,
    why: `secret and action match, but it applies only ${describeCondition(rule)} and ${describeSource(source)}`,
  };
}
