import type { NodeEnd, NodePath, Position } from "./position.js";
import { ADMIN_ROLE, BUILTIN_ROLES, type PolicyProblem } from "./types.js";

/**
 * Roles span files: one file may define a role that another file's approval rule names. These
 * facts are taken from the raw YAML data, so they are known even for a file that has other
 * problems, and every cross-file role problem is reported in the same pass.
 */

/** The roles a file defines and the roles its approval rules name, with where they are written. */
export interface RoleFacts {
  readonly file: string;
  readonly definitions: ReadonlyArray<{ readonly name: string } & Position>;
  readonly references: ReadonlyArray<{ readonly role: string; readonly index: number } & Position>;
}

/** Reads role facts from a file's raw data; anything not shaped as expected is skipped here (the schema reports it). */
export function roleFacts(file: string, data: unknown, locate: (path: NodePath, end?: NodeEnd) => Position): RoleFacts {
  const definitions: Array<{ name: string } & Position> = [];
  const references: Array<{ role: string; index: number } & Position> = [];
  if (isRecord(data)) {
    if (isRecord(data["roles"])) {
      for (const name of Object.keys(data["roles"])) {
        if (name !== ADMIN_ROLE) definitions.push({ name, ...locate(["roles", name], "key") });
      }
    }
    if (Array.isArray(data["approvals"])) {
      data["approvals"].forEach((approval: unknown, index) => {
        const approvers = isRecord(approval) ? approval["approvers"] : undefined;
        const role = isRecord(approvers) ? approvers["role"] : undefined;
        if (typeof role === "string") references.push({ role, index, ...locate(["approvals", index, "approvers", "role"]) });
      });
    }
  }
  return { file, definitions, references };
}

/**
 * Problems across files: a role defined in two places, and an approval naming a role that is
 * neither built in nor defined anywhere.
 *
 * @param incomplete some file could not be read or parsed at all; an unknown role might be
 *   defined there, so unknown roles are not reported until that file is fixed.
 */
export function roleProblems(facts: readonly RoleFacts[], incomplete: boolean): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const firstDefinition = new Map<string, { file: string; line: number }>();
  for (const { file, definitions } of facts) {
    for (const { name, line, column } of definitions) {
      const earlier = firstDefinition.get(name);
      if (earlier === undefined) {
        firstDefinition.set(name, { file, line });
      } else {
        problems.push({
          file,
          line,
          column,
          message: `roles.${name}: role "${name}" is already defined at ${earlier.file}:${earlier.line}; define each role once`,
        });
      }
    }
  }
  if (incomplete) return problems;

  const known = new Set<string>([...Object.keys(BUILTIN_ROLES), ...firstDefinition.keys()]);
  for (const { file, references } of facts) {
    for (const { role, index, line, column } of references) {
      if (known.has(role)) continue;
      problems.push({
        file,
        line,
        column,
        message: `approvals[${index}].approvers.role: unknown role ${JSON.stringify(role)} (known roles: ${[...known].join(", ")})`,
      });
    }
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
