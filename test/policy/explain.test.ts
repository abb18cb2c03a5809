import { describe, expect, it } from "vitest";

import { evaluate } from "../../src/policy/evaluate.js";
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
    expect(explain(policy, { serverId: "nobody-mcp", secretPath: "github/token", action: "read" })).toEqual({
      decision: evaluate(policy, { serverId: "nobody-mcp", secretPath: "github/token", action: "read" }),
      considered: [],
    });
  });

  // explain must never disagree with evaluate: a matched deny means a denial, else the first matched allow decides.
  const requests: EvaluationRequest[] = [
    { serverId: "github-mcp", secretPath: "github/token", action: "read" },
    { serverId: "github-mcp", secretPath: "github/token", action: "list" },
    { serverId: "github-mcp", secretPath: "github/admin/x", action: "list" },
    { serverId: "github-mcp", secretPath: "github/ci/x", action: "read", sourceIp: "10.0.0.1" },
    { serverId: "github-mcp", secretPath: "github/other", action: "read", sourceIp: "10.0.0.1" },
    { serverId: "github-mcp", secretPath: "gitlab/token", action: "read", sourceIp: "10.0.0.1" },
  ];
  it.each(requests)("agrees with evaluate for %j", (request) => {
    const { decision, considered } = explain(policy, request);
    expect(decision).toEqual(evaluate(policy, request));
    const deny = considered.find((entry) => entry.rule.effect === "deny" && entry.matched);
    const allow = considered.find((entry) => entry.rule.effect === "allow" && entry.matched);
    if (deny) expect(decision).toMatchObject({ allowed: false, rule: deny.rule });
    else if (allow) expect(decision).toMatchObject({ allowed: true, rule: allow.rule });
    else expect(decision.allowed).toBe(false);
  });
});
