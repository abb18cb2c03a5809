import { expect } from "vitest";

import { loadPolicySources, loadPolicyText, type PolicySource } from "../../src/policy/load.js";
import type { PolicyProblem, PolicySet } from "../../src/policy/types.js";

/** Loads policy text that must be valid; fails the test with every problem otherwise. */
export function policyOf(text: string, file = "policies/test.yaml"): PolicySet {
  return policyOfFiles([{ file, text }]);
}

export function policyOfFiles(sources: PolicySource[]): PolicySet {
  const result = loadPolicySources(sources);
  if (!result.ok) expect.fail(`expected a valid policy, got:\n${result.problems.map(formatProblem).join("\n")}`);
  return result.policy;
}

/** Loads policy text that must be invalid and returns its problems as `file:line:column message`. */
export function problemsOf(text: string, file = "policies/test.yaml"): string[] {
  const result = loadPolicyText(text, file);
  if (result.ok) expect.fail("expected problems, but the policy loaded");
  return result.problems.map(formatProblem);
}

export function formatProblem(problem: PolicyProblem): string {
  return `${problem.file}:${problem.line}:${problem.column} ${problem.message}`;
}

/** Joins lines, so that a test can show line numbers of YAML at a glance. */
export function yaml(...lines: string[]): string {
  return lines.join("\n") + "\n";
}
