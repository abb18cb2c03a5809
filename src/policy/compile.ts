import { createHash } from "node:crypto";

import { parseCidr, type CidrRange } from "./cidr.js";
import { compileSecretGlob, type SecretGlob } from "./glob.js";
import type { ParsedPolicyFile } from "./parse.js";
import { DEFAULT_TIME_ZONE, type AllowRuleInput, type DenyRuleInput, type RotationInput } from "./schema.js";
import {
  BUILTIN_ROLES,
  SERVER_ACTIONS,
  type ApprovalRule,
  type OperatorPermission,
  type PolicySet,
  type RotationRule,
  type RuleRef,
  type ServerPolicy,
  type ServerRule,
} from "./types.js";

/**
 * Turns validated files into one immutable {@link PolicySet}: servers merge in file order, roles
 * defined in files replace or add to the built-in ones, globs and address ranges are compiled.
 * Problems that span files are found before this (see roles.ts); this step cannot fail on input
 * that passed validation.
 */

/** A digest over file names and contents, in load order; equal digests mean the same policy. */
export function digestSources(sources: ReadonlyArray<{ readonly file: string; readonly text: string }>): string {
  const hash = createHash("sha256");
  for (const { file, text } of sources) hash.update(`${file}\0${text.length}\0${text}\0`);
  return hash.digest("hex");
}

/** The policy of an empty or missing folder: no server is known, so every request is denied. */
export function emptyPolicySet(): PolicySet {
  return compilePolicy([]);
}

/** Compiles files already validated one by one (and together), in the given load order. */
export function compilePolicy(files: readonly ParsedPolicyFile[]): PolicySet {
  const roles = new Map<string, ReadonlySet<OperatorPermission>>();
  for (const [name, permissions] of Object.entries(BUILTIN_ROLES)) roles.set(name, new Set(permissions));
  const servers = new Map<string, { description: string | undefined; allow: ServerRule[]; deny: ServerRule[] }>();
  const approvals: ApprovalRule[] = [];
  const rotation: RotationRule[] = [];

  for (const parsed of files) {
    const { file, content } = parsed;
    for (const [name, permissions] of Object.entries(content.roles ?? {})) roles.set(name, new Set(permissions));

    for (const [serverId, input] of Object.entries(content.servers ?? {})) {
      let merged = servers.get(serverId);
      if (merged === undefined) {
        merged = { description: undefined, allow: [], deny: [] };
        servers.set(serverId, merged);
      }
      merged.description ??= input.description;
      const addRules = (effect: "allow" | "deny", rules: ReadonlyArray<AllowRuleInput | DenyRuleInput>, into: ServerRule[]) => {
        rules.forEach((rule, position) => {
          const ref: RuleRef = Object.freeze({
            file,
            line: parsed.locate(["servers", serverId, effect, position]).line,
            server: serverId,
            effect,
            index: into.length,
          });
          into.push(compileServerRule(ref, rule));
        });
      };
      addRules("allow", input.allow ?? [], merged.allow);
      addRules("deny", input.deny ?? [], merged.deny);
    }

    (content.approvals ?? []).forEach((input, position) => {
      approvals.push(
        Object.freeze({
          ref: Object.freeze({ file, line: parsed.locate(["approvals", position]).line, index: approvals.length }),
          actions: Object.freeze([...input.actions]),
          secrets: compileGlobs(input.secrets ?? []),
          servers: compileGlobs(input.servers ?? []),
          approvers: Object.freeze({ role: input.approvers.role, count: input.approvers.count }),
        }),
      );
    });

    (content.rotation ?? []).forEach((input, position) => {
      rotation.push(compileRotationRule(input, { file, line: parsed.locate(["rotation", position]).line, index: rotation.length }));
    });
  }

  const serverPolicies = new Map<string, ServerPolicy>();
  for (const [id, merged] of servers) {
    serverPolicies.set(
      id,
      Object.freeze({ id, description: merged.description, allow: Object.freeze(merged.allow), deny: Object.freeze(merged.deny) }),
    );
  }
  return Object.freeze({
    servers: serverPolicies,
    roles,
    approvals: Object.freeze(approvals),
    rotation: Object.freeze(rotation),
    files: Object.freeze(files.map((parsed) => parsed.file)),
    digest: digestSources(files),
  });
}

function compileServerRule(ref: RuleRef, rule: AllowRuleInput | DenyRuleInput): ServerRule {
  const sourceCidrs = rule.when?.source_cidr?.map(mustParseCidr);
  return Object.freeze({
    ref,
    secrets: compileGlobs(rule.secrets),
    // A deny rule without actions covers every action, so a new action can never slip past it.
    actions: Object.freeze([...(rule.actions ?? SERVER_ACTIONS)]),
    maxTtlSeconds: "max_ttl" in rule ? rule.max_ttl : undefined,
    sourceCidrs: sourceCidrs === undefined ? undefined : Object.freeze(sourceCidrs),
  });
}

function compileRotationRule(input: RotationInput, ref: RotationRule["ref"]): RotationRule {
  return Object.freeze({
    ref: Object.freeze(ref),
    secrets: compileGlobs(input.secrets),
    schedule: Object.freeze(
      input.every !== undefined
        ? { kind: "interval" as const, everySeconds: input.every }
        : { kind: "cron" as const, expression: input.cron ?? "" },
    ),
    timeZone: input.timezone ?? DEFAULT_TIME_ZONE,
    window: input.window === undefined ? undefined : Object.freeze({ ...input.window }),
    strategy: deepFreeze(input.strategy),
    graceSeconds: input.grace,
    notifyBeforeSeconds: input.notify_before,
  });
}

/** Freezes parsed option data (plain objects and arrays) all the way down. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function compileGlobs(patterns: readonly string[]): readonly SecretGlob[] {
  return Object.freeze(patterns.map(compileSecretGlob));
}

function mustParseCidr(text: string): CidrRange {
  const range = parseCidr(text);
  if (typeof range === "string") throw new TypeError(`source_cidr ${JSON.stringify(text)} passed validation but does not parse`);
  return range;
}
