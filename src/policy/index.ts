/**
 * Policies: which server may read which secret, what operator roles may do, which operations
 * need approval, and when secrets rotate. See docs/policy.md for the file format.
 */
export { parseDuration, formatDuration, durationProblem } from "./duration.js";
export { compileGlob, validateGlob, isValidSecretPath, secretPathBase, type SecretGlob } from "./glob.js";
export type { CidrRange } from "./cidr.js";
export {
  SERVER_ACTIONS,
  OPERATOR_PERMISSIONS,
  APPROVAL_ACTIONS,
  BUILTIN_ROLES,
  ADMIN_ROLE,
  type ServerAction,
  type OperatorPermission,
  type ApprovalAction,
  type BuiltinRole,
  type RuleRef,
  type PolicyRef,
  type ServerRule,
  type ServerPolicy,
  type ApprovalRule,
  type RotationRule,
  type RotationSchedule,
  type RotationStrategy,
  type RotationStrategyKind,
  type RotationOptions,
  type PolicySet,
  type EvaluationRequest,
  type DenialReason,
  type Decision,
  type PolicyProblem,
} from "./types.js";
export { policyFileSchema, SERVER_ID_RE, ROLE_NAME_RE, type PolicyFile } from "./schema.js";
export { emptyPolicySet } from "./compile.js";
export { loadPolicyDir, loadPolicyText, loadPolicySources, type LoadResult, type PolicySource } from "./load.js";
export { evaluate, roleHasPermission, knownRoles, approvalRulesFor, rotationRuleFor } from "./evaluate.js";
export { explain, type Explanation, type ConsideredRule } from "./explain.js";
export { PolicyHolder, type PolicyHolderOptions, type ReloadOutcome } from "./watch.js";
