import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { compilePolicy } from "./compile.js";
import { parsePolicyFile, type ParsedPolicyFile } from "./parse.js";
import { roleProblems, type RoleFacts } from "./roles.js";
import { rotationClaimProblems, type RotationClaim } from "./rotation-claims.js";
import type { PolicyProblem, PolicySet } from "./types.js";

/**
 * Loading a policy folder: read every file, validate each, compile them together, and report
 * every problem of every file at once, each at its file, line and column.
 */

export type LoadResult =
  | { ok: true; policy: PolicySet; files: string[] }
  | { ok: false; problems: PolicyProblem[] };

/** A policy file's name and text, for loading without the file system. */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
}

/** The files of a policy folder that hold policy. */
export const POLICY_FILE_RE = /\.ya?ml$/;

/**
 * Loads every `*.yaml` and `*.yml` file directly in `dir`, sorted by name.
 *
 * - A missing folder is an empty policy, which denies every request (a broker may start before
 *   its policies are written; it then grants nothing).
 * - Names starting with `.` are skipped: editors' lock and swap files (`.#github.yaml`) and
 *   Kubernetes' `..data` links are not policies. Sub-folders are not searched.
 * - A file that cannot be read is a problem at 1:1, never silently skipped: skipping it could
 *   drop a deny rule.
 *
 * File names in problems, in {@link RuleRef}s and in `files` are `join(dir, name)`, so pass the
 * folder as users should see it (e.g. `policies`).
 */
export function loadPolicyDir(dir: string): LoadResult {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return loadPolicySources([]);
    return { ok: false, problems: [{ file: dir, line: 1, column: 1, message: `cannot read the policy folder: ${describeError(error)}` }] };
  }

  const sources: PolicySource[] = [];
  const problems: PolicyProblem[] = [];
  // Plain code-unit order, so the order (and so the first matching allow) never depends on locale.
  const files = names
    .filter((name) => POLICY_FILE_RE.test(name) && !name.startsWith("."))
    .sort()
    .map((name) => join(dir, name));
  for (const file of files) {
    try {
      if (statSync(file).isDirectory()) continue;
      sources.push({ file, text: readFileSync(file, "utf8") });
    } catch (error) {
      problems.push({ file, line: 1, column: 1, message: `cannot read the policy file: ${describeError(error)}` });
    }
  }
  return loadParsed(sources, problems, files);
}

/** Loads one policy file's text, e.g. in tests or for `policy check` on standard input. */
export function loadPolicyText(text: string, fileName = "policy.yaml"): LoadResult {
  return loadPolicySources([{ file: fileName, text }]);
}

/** Loads several files given as text, in the given order, as {@link loadPolicyDir} does. */
export function loadPolicySources(sources: readonly PolicySource[]): LoadResult {
  return loadParsed(sources, [], sources.map((source) => source.file));
}

/** @param order every file name in load order, those that could not be read included */
function loadParsed(sources: readonly PolicySource[], unreadable: PolicyProblem[], order: readonly string[]): LoadResult {
  const parsed: ParsedPolicyFile[] = [];
  const facts: RoleFacts[] = [];
  const problems: PolicyProblem[] = [...unreadable];
  let incomplete = unreadable.length > 0;
  for (const { file, text } of sources) {
    const result = parsePolicyFile(text, file);
    if (result.roles === undefined) incomplete = true;
    else facts.push(result.roles);
    if (result.ok) parsed.push(result.parsed);
    else problems.push(...result.problems);
  }
  problems.push(...roleProblems(facts, incomplete));
  problems.push(...rotationClaimProblems(parsed.flatMap(claimsOf)));
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems, order) };
  const policy = compilePolicy(parsed);
  return { ok: true, policy, files: [...policy.files] };
}

/** Every glob of every rotation rule in a file, with where it is written. */
function claimsOf(parsed: ParsedPolicyFile): RotationClaim[] {
  return (parsed.content.rotation ?? []).flatMap((rule, index) =>
    rule.secrets.map((pattern, glob) => ({ file: parsed.file, rule: index, glob, pattern, ...parsed.locate(["rotation", index, "secrets", glob]) })),
  );
}

/** File order as loaded, then line, then column: the order an editor would walk them. */
function sortProblems(problems: PolicyProblem[], order: readonly string[]): PolicyProblem[] {
  const rankOf = new Map(order.map((file, index) => [file, index]));
  const rank = (problem: PolicyProblem) => rankOf.get(problem.file) ?? -1;
  return [...problems].sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.column - b.column);
}

function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined;
}

function describeError(error: unknown): string {
  const code = errorCode(error);
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "ENOENT") return "no such file (a dangling link?)";
  if (code === "ENOTDIR") return "not a folder";
  if (code === "EISDIR") return "is a folder";
  return error instanceof Error ? error.message : String(error);
}
