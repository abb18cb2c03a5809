import { cidrContains, parseSourceAddress } from "./cidr.js";
import { isValidSecretPath, secretPathBase, type SecretGlob } from "./glob.js";
import type {
  ApprovalAction,
  ApprovalRule,
  Decision,
  EvaluationRequest,
  OperatorPermission,
  PolicySet,
  RotationRule,
  ServerRule,
} from "./types.js";

/**
 * Deciding whether a server may act on a secret. Runs on every request, so it does no I/O and
 * little allocation: rules are indexed by server, globs are precompiled, and the source address
 * is parsed only when a rule with a condition is reached.
 *
 * Order: unknown server → deny; any matching deny (whose condition holds) → deny, whatever the
 * allows say; else the first matching allow in file order → allow; else deny, saying whether an
 * allow matched but its condition failed.
 */

type Address = NonNullable<ReturnType<typeof parseSourceAddress>>;

/** The source address of a request, parsed at most once and only if a condition needs it. */
export class SourceAddress {
  private parsed: Address | undefined | null = null;
  constructor(readonly text: string | undefined) {}

  get address(): Address | undefined {
    if (this.parsed === null) this.parsed = this.text === undefined ? undefined : parseSourceAddress(this.text);
    return this.parsed;
  }

  /** Whether a condition asked for the address, i.e. the decision depended on it. */
  get consulted(): boolean {
    return this.parsed !== null;
  }
}

/** Whether any of `globs` matches a path already stripped of `#key`. */
export function matchesAnyGlob(globs: readonly SecretGlob[], basePath: string): boolean {
  for (const glob of globs) if (glob.test(basePath)) return true;
  return false;
}

/**
 * Whether a rule's `when` holds. `undefined` means it cannot be told (no or unparseable source
 * address): an allow then does not apply and a deny does (fail closed both ways).
 */
export function conditionHolds(rule: ServerRule, source: SourceAddress): boolean | undefined {
  if (rule.sourceCidrs === undefined) return true;
  const address = source.address;
  if (address === undefined) return undefined;
  for (const range of rule.sourceCidrs) if (cidrContains(range, address)) return true;
  return false;
}

/** `policies/github.yaml:7`, how people find a rule. */
export function ruleLocation(ref: { readonly file: string; readonly line: number }): string {
  return `${ref.file}:${ref.line}`;
}

/**
 * Decides one request. Pure and total: it never throws; any internal error is a denial with
 * reason `evaluation_error` (fail closed).
 */
export function evaluate(policy: PolicySet, request: EvaluationRequest): Decision {
  return evaluateFrom(policy, request, new SourceAddress(request.sourceIp));
}

/** {@link evaluate}, with the source address given, so a caller can tell whether a condition consulted it. */
export function evaluateFrom(policy: PolicySet, request: EvaluationRequest, source: SourceAddress): Decision {
  try {
    return decide(policy, request, source);
  } catch {
    return {
      allowed: false,
      reason: "evaluation_error",
      message: `${subject(request)}: the policy could not be evaluated, so access is denied`,
    };
  }
}

function decide(policy: PolicySet, request: EvaluationRequest, source: SourceAddress): Decision {
  const { serverId, secretPath, action } = request;
  const server = policy.servers.get(serverId);
  if (server === undefined) {
    return {
      allowed: false,
      reason: "unknown_server",
      message: `${subject(request)}: no policy file mentions server ${JSON.stringify(serverId)}`,
    };
  }
  if (!isValidSecretPath(secretPath)) {
    return {
      allowed: false,
      reason: "no_matching_rule",
      message: `${subject(request)}: not a valid secret path, so no rule can grant it`,
    };
  }
  const basePath = secretPathBase(secretPath);

  for (const rule of server.deny) {
    if (!rule.actions.includes(action) || !matchesAnyGlob(rule.secrets, basePath)) continue;
    if (conditionHolds(rule, source) === false) continue;
    return {
      allowed: false,
      reason: "explicit_deny",
      rule: rule.ref,
      message: `${subject(request)}: denied by ${ruleLocation(rule.ref)}`,
    };
  }

  let unmetCondition: ServerRule | undefined;
  for (const rule of server.allow) {
    if (!rule.actions.includes(action) || !matchesAnyGlob(rule.secrets, basePath)) continue;
    if (conditionHolds(rule, source) !== true) {
      unmetCondition ??= rule;
      continue;
    }
    const message = `server ${JSON.stringify(serverId)} may ${action} ${JSON.stringify(secretPath)}: allowed by ${ruleLocation(rule.ref)}`;
    return rule.maxTtlSeconds === undefined
      ? { allowed: true, rule: rule.ref, message }
      : { allowed: true, rule: rule.ref, maxTtlSeconds: rule.maxTtlSeconds, message };
  }

  if (unmetCondition !== undefined) {
    return {
      allowed: false,
      reason: "condition_failed",
      rule: unmetCondition.ref,
      message: `${subject(request)}: ${ruleLocation(unmetCondition.ref)} grants ${action} only ${describeCondition(unmetCondition)}, and ${describeSource(source)}`,
    };
  }
  return {
    allowed: false,
    reason: "no_matching_rule",
    message: `${subject(request)}: no rule of server ${JSON.stringify(serverId)} grants ${action} on it`,
  };
}

/** `server "x" may not read "y"`: the start of every denial message. */
function subject(request: EvaluationRequest): string {
  return `server ${JSON.stringify(request.serverId)} may not ${String(request.action)} ${JSON.stringify(request.secretPath)}`;
}

/** `from 10.0.0.0/8 or 192.168.0.0/16` */
export function describeCondition(rule: ServerRule): string {
  return `from ${(rule.sourceCidrs ?? []).map((range) => range.text).join(" or ")}`;
}

/** `the request came from 1.2.3.4`, or that it had no (usable) address. */
export function describeSource(source: SourceAddress): string {
  if (source.text === undefined) return "the request has no source address";
  if (source.address === undefined) return `the request's source address ${JSON.stringify(source.text)} is not an IP address`;
  return `the request came from ${source.text}`;
}

/**
 * Whether an operator role holds a permission. Unknown roles hold nothing.
 */
export function roleHasPermission(policy: PolicySet, role: string, permission: OperatorPermission): boolean {
  return policy.roles.get(role)?.has(permission) ?? false;
}

/** Every role name, built-in ones first, then those the policy files add, in file order. */
export function knownRoles(policy: PolicySet): string[] {
  return [...policy.roles.keys()];
}

/**
 * Every approval rule that covers `action` on `secretPath` (a `#key` suffix is ignored), in file
 * order. An empty list means the operation needs no approval; with several, the caller must
 * satisfy each of them.
 */
export function approvalRulesFor(policy: PolicySet, action: ApprovalAction, secretPath: string): ApprovalRule[] {
  if (!isValidSecretPath(secretPath)) return [];
  const basePath = secretPathBase(secretPath);
  return policy.approvals.filter((rule) => rule.actions.includes(action) && matchesAnyGlob(rule.secrets, basePath));
}

/**
 * The rotation rule for a secret: the first one, in file order, whose globs match it
 * (a `#key` suffix is ignored). Undefined when the secret has no rotation policy.
 */
export function rotationRuleFor(policy: PolicySet, secretPath: string): RotationRule | undefined {
  if (!isValidSecretPath(secretPath)) return undefined;
  const basePath = secretPathBase(secretPath);
  return policy.rotation.find((rule) => matchesAnyGlob(rule.secrets, basePath));
}
