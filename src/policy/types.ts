import type { CidrRange } from "./cidr.js";
import type { SecretGlob } from "./glob.js";
import type { StrategyConfig } from "./rotation-options.js";
import type { RotationWindow } from "./rotation-schedule.js";

/**
 * The vocabulary of policies: what servers may do, what operators may do, and the compiled,
 * immutable set of rules that the broker evaluates on every request.
 */

/** What a server may do with a secret. */
export const SERVER_ACTIONS = ["read", "list"] as const;
export type ServerAction = (typeof SERVER_ACTIONS)[number];

/** What an operator role may do; a closed union so that a typo in a policy file is a problem. */
export const OPERATOR_PERMISSIONS = [
  "read",
  "write",
  "delete",
  "rotate",
  "approve",
  "revoke",
  "audit",
  "servers",
  "credentials",
  "operators",
  "keys",
  "policy",
] as const;
export type OperatorPermission = (typeof OPERATOR_PERMISSIONS)[number];

/**
 * Operations that an approval rule can put behind a two-person rule. `credentials` is registering
 * a server or rotating or adding its credentials: the power to read what that server reads.
 */
export const APPROVAL_ACTIONS = ["rotate", "delete", "read", "credentials"] as const;
export type ApprovalAction = (typeof APPROVAL_ACTIONS)[number];

/**
 * Roles that exist without any policy file. A policy file may redefine `security`, `auditor`
 * and `developer` (once across all files) or add roles; redefining `admin` is a problem, so
 * that no policy change can lock every administrator out.
 */
export const BUILTIN_ROLES = {
  admin: OPERATOR_PERMISSIONS,
  security: ["rotate", "approve", "revoke", "audit"],
  auditor: ["audit"],
  developer: ["write", "servers"],
} as const satisfies Record<string, readonly OperatorPermission[]>;
export type BuiltinRole = keyof typeof BUILTIN_ROLES;

/** The role that always holds every permission and that no policy file may redefine. */
export const ADMIN_ROLE = "admin" satisfies BuiltinRole;

/**
 * Where a server rule was written. `index` is the rule's 0-based position among the server's
 * rules of the same effect after merging all files in file order (the order allows are tried).
 */
export interface RuleRef {
  readonly file: string;
  readonly line: number;
  readonly server: string;
  readonly effect: "allow" | "deny";
  readonly index: number;
}

/** Where an approval or rotation rule was written; `index` is its 0-based position after merging. */
export interface PolicyRef {
  readonly file: string;
  readonly line: number;
  readonly index: number;
}

/** One compiled allow or deny rule of a server. */
export interface ServerRule {
  readonly ref: RuleRef;
  /** The secret globs as written, compiled; the rule applies to a path matching any of them. */
  readonly secrets: readonly SecretGlob[];
  /** Actions the rule covers; a deny rule without `actions` covers all of them. */
  readonly actions: readonly ServerAction[];
  /** Longest lease an allow rule grants, in seconds; undefined when the rule sets none. */
  readonly maxTtlSeconds: number | undefined;
  /** `when.source_cidr`; undefined when the rule has no source condition. */
  readonly sourceCidrs: readonly CidrRange[] | undefined;
}

/** Everything the policy says about one server, merged over all files. */
export interface ServerPolicy {
  readonly id: string;
  /** The first description found, in file order. */
  readonly description: string | undefined;
  readonly allow: readonly ServerRule[];
  readonly deny: readonly ServerRule[];
}

/** A two-person rule: these actions on these secrets wait for `count` approvers with `role`. */
export interface ApprovalRule {
  readonly ref: PolicyRef;
  readonly actions: readonly ApprovalAction[];
  /** The secrets its secret actions (rotate, delete, read) cover; empty for a credentials-only rule. */
  readonly secrets: readonly SecretGlob[];
  /** The servers (id globs) its `credentials` action covers; empty when it does not name it. */
  readonly servers: readonly SecretGlob[];
  readonly approvers: { readonly role: string; readonly count: number };
}

/** When a secret is due for rotation: a fixed interval after the last rotation, or a cron schedule. */
export type RotationSchedule =
  | { readonly kind: "interval"; readonly everySeconds: number }
  | { readonly kind: "cron"; readonly expression: string };

/** A rotation policy for the secrets matching `secrets`. */
export interface RotationRule {
  readonly ref: PolicyRef;
  readonly secrets: readonly SecretGlob[];
  readonly schedule: RotationSchedule;
  /** IANA time zone of the cron schedule and of the window (default UTC). */
  readonly timeZone: string;
  /** The hours in which a scheduled rotation may start; undefined = any time. */
  readonly window: RotationWindow | undefined;
  /** How a new value is made and applied; exactly one per rule. */
  readonly strategy: StrategyConfig;
  /** How long the previous version stays valid after a rotation, in seconds; undefined = none. */
  readonly graceSeconds: number | undefined;
  /** How long before it is due that a rotation is announced (event and metric), in seconds; undefined = not announced. */
  readonly notifyBeforeSeconds: number | undefined;
}

/**
 * The compiled, immutable result of loading a policy folder. Replaced as a whole on reload,
 * never modified in place, so a request sees either the old set or the new one.
 */
export interface PolicySet {
  /** Rules indexed by server id: a request touches only its own server's rules. */
  readonly servers: ReadonlyMap<string, ServerPolicy>;
  /** Every role (built-in ones included, after redefinitions) and its permissions. */
  readonly roles: ReadonlyMap<string, ReadonlySet<OperatorPermission>>;
  readonly approvals: readonly ApprovalRule[];
  readonly rotation: readonly RotationRule[];
  /** The files it was loaded from, in load order. */
  readonly files: readonly string[];
  /** SHA-256 (hex) over file names and contents: equal digests mean the same policy. */
  readonly digest: string;
}

/** One request to decide. `secretPath` may carry a `#key` suffix; globs match the part before it. */
export interface EvaluationRequest {
  readonly serverId: string;
  readonly secretPath: string;
  readonly action: ServerAction;
  /** The client's address as the socket reports it; IPv4-mapped IPv6 is understood. */
  readonly sourceIp?: string | undefined;
}

export type DenialReason =
  | "explicit_deny"
  | "no_matching_rule"
  | "unknown_server"
  | "condition_failed"
  | "evaluation_error";

/**
 * The outcome of evaluating one request. `message` is a sentence for people and for the audit
 * record: it names the server, the secret, the action and the deciding rule (or its absence).
 */
export type Decision =
  | { readonly allowed: true; readonly rule: RuleRef; readonly maxTtlSeconds?: number; readonly message: string }
  | {
      readonly allowed: false;
      readonly reason: DenialReason;
      readonly rule?: RuleRef;
      readonly message: string;
    };

/** A problem in a policy file, at a 1-based line and column (1:1 when the file could not be read). */
export interface PolicyProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}
