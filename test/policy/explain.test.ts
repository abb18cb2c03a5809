import { describe, expect, it } from "vitest";

import { explain } from "../../src/policy/explain.js";
import type { EvaluationRequest } from "../../src/policy/types.js";
import { policyOf, yaml } from "./helpers.js";

const policy = policyOf(
  yaml(
    /*  1 */ "servers:",
    /*  2 */ "  github-mcp:",
    /*  3 */ "    allow:",
    /*  4 */ '      - secrets: ["github/token"]',
    /*  5 */ "        actions: [read]",
    /*  6 */ '      - secrets: ["github/**"]',
    /*  7 */ "        actions: [list]",
    /*  8 */ '      - secrets: ["github/**"]',
    /*  9 */ "        actions: [read]",
    /* 10 */ '        when: { source_cidr: ["10.0.0.0/8"] }',
    /* 11 */ "    deny:",
    /* 12 */ '      - secrets: ["github/admin/**"]',
    /* 13 */ '      - secrets: ["github/ci/*"]',
    /* 14 */ '        when: { source_cidr: ["0.0.0.0/0"] }',
  ),
);

describe("explain", () => {
  it("lists every rule of the server, denies first, with what did not match", () => {
    const { decision, considered } = explain(policy, { serverId: "github-mcp", secretPath: "github/repo", action: "read", sourceIp: "192.168.1.1" });
    expect(decision).toMatchObject({ allowed: false, reason: "condition_failed", rule: { line: 8 } });
    expect(considered.map(({ rule, matched, why }) => [`${rule.effect}@${rule.line}`, matched, why])).toEqual([
      ["deny@12", false, `"github/repo" matches none of its secrets ("github/admin/**")`],
      ["deny@13", false, `"github/repo" matches none of its secrets ("github/ci/*")`],
      ["allow@4", false, `"github/repo" matches none of its secrets ("github/token")`],
      ["allow@6", false, "it covers list, not read"],
      ["allow@8", false, "secret and action match, but it applies only from 10.0.0.0/8 and the request came from 192.168.1.1"],
    ]);
  });

  it("says why a conditional rule matched, and that an unverifiable deny applies", () => {
    const inRange = explain(policy, { serverId: "github-mcp", secretPath: "github/repo#token", action: "read", sourceIp: "10.9.9.9" });
    expect(inRange.decision).toMatchObject({ allowed: true, rule: { line: 8 } });
    expect(inRange.considered.find((entry) => entry.rule.line === 8)).toMatchObject({
      matched: true,
      why: "secret and action match, and the request came from 10.9.9.9 (from 10.0.0.0/8)",
    });

    const noAddress = explain(policy, { serverId: "github-mcp", secretPath: "github/ci/key", action: "read" });
    expect(noAddress.decision).toMatchObject({ allowed: false, reason: "explicit_deny", rule: { line: 13 } });
    expect(noAddress.considered.find((entry) => entry.rule.line === 13)?.why).toMatch(/applies anyway \(fail closed\)/);
  });

  it("considers nothing for an unknown server", () => {
    const { decision, considered } = explain(policy, { serverId: "nobody-mcp", secretPath: "github/token", action: "read" });
    expect(decision).toMatchObject({ allowed: false, reason: "unknown_server" });
    expect(decision).not.toHaveProperty("rule");
    expect(considered).toEqual([]);
  });

  // The decision and the rules that matched, for each request: a matched deny decides, else the first matched allow.
  const table: Array<[string, EvaluationRequest, { allowed: boolean; reason?: string; line?: number }, string[]]> = [
    ["an exact allow", { serverId: "github-mcp", secretPath: "github/token", action: "read" }, { allowed: true, line: 4 }, ["allow@4"]],
    ["an allow for another action", { serverId: "github-mcp", secretPath: "github/token", action: "list" }, { allowed: true, line: 6 }, ["allow@6"]],
    ["a deny over a matching allow", { serverId: "github-mcp", secretPath: "github/admin/x", action: "list" }, { allowed: false, reason: "explicit_deny", line: 12 }, ["deny@12", "allow@6"]],
    ["a conditional deny over a conditional allow", { serverId: "github-mcp", secretPath: "github/ci/x", action: "read", sourceIp: "10.0.0.1" }, { allowed: false, reason: "explicit_deny", line: 13 }, ["deny@13", "allow@8"]],
    ["a conditional allow", { serverId: "github-mcp", secretPath: "github/other", action: "read", sourceIp: "10.0.0.1" }, { allowed: true, line: 8 }, ["allow@8"]],
    ["no rule", { serverId: "github-mcp", secretPath: "gitlab/token", action: "read", sourceIp: "10.0.0.1" }, { allowed: false, reason: "no_matching_rule" }, []],
  ];
  it.each(table)("decides %s and marks the rules that matched", (_title, request, expected, matched) => {
    const { decision, considered } = explain(policy, request);
    expect(decision.allowed).toBe(expected.allowed);
    if (!decision.allowed) expect(decision.reason).toBe(expected.reason);
    expect(decision.rule?.line).toBe(expected.line);
    expect(considered.filter((entry) => entry.matched).map(({ rule }) => `${rule.effect}@${rule.line}`)).toEqual(matched);
    // Every rule of the server is considered, denies first, whatever the decision.
    expect(considered.map(({ rule }) => rule.line)).toEqual([12, 13, 4, 6, 8]);
  });
});
