import { describe, expect, it } from "vitest";

import { approvalRulesFor, evaluate, knownRoles, roleHasPermission, rotationRuleFor } from "../../src/policy/evaluate.js";
import { emptyPolicySet } from "../../src/policy/compile.js";
import type { EvaluationRequest, PolicySet, ServerPolicy } from "../../src/policy/types.js";
import { policyOf, policyOfFiles, yaml } from "./helpers.js";

// Line numbers matter: decisions name `policies/test.yaml:LINE`.
const policy = policyOf(
  yaml(
    /*  1 */ "servers:",
    /*  2 */ "  github-mcp:",
    /*  3 */ "    description: GitHub MCP server, read-only token",
    /*  4 */ "    allow:",
    /*  5 */ '      - secrets: ["github/token"]',
    /*  6 */ "        actions: [read]",
    /*  7 */ "        max_ttl: 15m",
    /*  8 */ '      - secrets: ["github/**"]',
    /*  9 */ "        actions: [read, list]",
    /* 10 */ "    deny:",
    /* 11 */ '      - secrets: ["github/admin/**"]',
    /* 12 */ "  analytics-mcp:",
    /* 13 */ "    allow:",
    /* 14 */ '      - secrets: ["db/analytics-ro"]',
    /* 15 */ "        actions: [read]",
    /* 16 */ "        max_ttl: 1h",
    /* 17 */ '        when: { source_cidr: ["10.0.0.0/8", "2001:db8::/32"] }',
    /* 18 */ "  kv-mcp:",
    /* 19 */ "    allow:",
    /* 20 */ '      - secrets: ["kv/app"]',
    /* 21 */ "        actions: [read]",
    /* 22 */ "    deny:",
    /* 23 */ '      - secrets: ["kv/**"]',
    /* 24 */ "        actions: [list]",
    /* 25 */ '      - secrets: ["kv/app"]',
    /* 26 */ '        when: { source_cidr: ["192.168.0.0/16"] }',
    /* 27 */ "  empty-mcp:",
    /* 28 */ "    description: known, but granted nothing",
  ),
);

type Expected =
  | { allowed: true; line: number; maxTtlSeconds?: number }
  | { allowed: false; reason: string; line?: number };

describe("evaluate", () => {
  const table: Array<[string, EvaluationRequest, Expected]> = [
    ["allow with max_ttl", { serverId: "github-mcp", secretPath: "github/token", action: "read" }, { allowed: true, line: 5, maxTtlSeconds: 900 }],
    ["first matching allow wins, in file order", { serverId: "github-mcp", secretPath: "github/other", action: "read" }, { allowed: true, line: 8 }],
    ["allow without max_ttl has none", { serverId: "github-mcp", secretPath: "github/token", action: "list" }, { allowed: true, line: 8 }],
    ["deny wins over every allow", { serverId: "github-mcp", secretPath: "github/admin/key", action: "read" }, { allowed: false, reason: "explicit_deny", line: 11 }],
    ["deny with ** covers its own prefix", { serverId: "github-mcp", secretPath: "github/admin", action: "read" }, { allowed: false, reason: "explicit_deny", line: 11 }],
    ["deny without actions covers list too", { serverId: "github-mcp", secretPath: "github/admin/key", action: "list" }, { allowed: false, reason: "explicit_deny", line: 11 }],
    ["default deny", { serverId: "github-mcp", secretPath: "db/analytics-ro", action: "read" }, { allowed: false, reason: "no_matching_rule" }],
    ["unknown server", { serverId: "nobody-mcp", secretPath: "github/token", action: "read" }, { allowed: false, reason: "unknown_server" }],
    ["known server without rules", { serverId: "empty-mcp", secretPath: "github/token", action: "read" }, { allowed: false, reason: "no_matching_rule" }],
    ["action not granted", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "list", sourceIp: "10.1.2.3" }, { allowed: false, reason: "no_matching_rule" }],
    ["source in range", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "10.1.2.3" }, { allowed: true, line: 14, maxTtlSeconds: 3600 }],
    ["IPv4-mapped IPv6 source matches an IPv4 range", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "::ffff:10.1.2.3" }, { allowed: true, line: 14, maxTtlSeconds: 3600 }],
    ["IPv6 source in an IPv6 range", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "2001:db8::7" }, { allowed: true, line: 14, maxTtlSeconds: 3600 }],
    ["source out of range", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "192.168.1.1" }, { allowed: false, reason: "condition_failed", line: 14 }],
    ["IPv4-mapped source out of range", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "::ffff:192.168.1.1" }, { allowed: false, reason: "condition_failed", line: 14 }],
    ["missing source address fails the condition", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read" }, { allowed: false, reason: "condition_failed", line: 14 }],
    ["garbage source address fails the condition", { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "not-an-ip" }, { allowed: false, reason: "condition_failed", line: 14 }],
    ["#key path matches on the part before #", { serverId: "kv-mcp", secretPath: "kv/app#token", action: "read" , sourceIp: "10.0.0.1" }, { allowed: true, line: 20 }],
    ["#key path is denied like its base path", { serverId: "github-mcp", secretPath: "github/admin/key#password", action: "read" }, { allowed: false, reason: "explicit_deny", line: 11 }],
    ["deny restricted to an action", { serverId: "kv-mcp", secretPath: "kv/app", action: "list" }, { allowed: false, reason: "explicit_deny", line: 23 }],
    ["deny whose condition does not hold does not apply", { serverId: "kv-mcp", secretPath: "kv/app", action: "read", sourceIp: "10.0.0.1" }, { allowed: true, line: 20 }],
    ["deny whose condition holds applies", { serverId: "kv-mcp", secretPath: "kv/app", action: "read", sourceIp: "192.168.3.4" }, { allowed: false, reason: "explicit_deny", line: 25 }],
    ["deny whose condition cannot be checked applies (fail closed)", { serverId: "kv-mcp", secretPath: "kv/app", action: "read" }, { allowed: false, reason: "explicit_deny", line: 25 }],
    ["an invalid path is never granted", { serverId: "github-mcp", secretPath: "github/../github/token", action: "read" }, { allowed: false, reason: "no_matching_rule" }],
    ["an empty path is never granted", { serverId: "github-mcp", secretPath: "", action: "read" }, { allowed: false, reason: "no_matching_rule" }],
  ];

  it.each(table)("%s", (_name, request, expected) => {
    const decision = evaluate(policy, request);
    if (expected.allowed) {
      expect(decision).toMatchObject({ allowed: true, rule: { file: "policies/test.yaml", line: expected.line, effect: "allow", server: request.serverId } });
      expect(decision.allowed && decision.maxTtlSeconds).toBe(expected.maxTtlSeconds ?? undefined);
    } else {
      expect(decision).toMatchObject({ allowed: false, reason: expected.reason });
      if (expected.line === undefined) expect(decision.allowed ? undefined : decision.rule).toBeUndefined();
      else expect(decision.allowed ? undefined : decision.rule).toMatchObject({ file: "policies/test.yaml", line: expected.line });
    }
  });

  it("names server, secret, action and rule in every message", () => {
    expect(evaluate(policy, { serverId: "github-mcp", secretPath: "github/admin/key", action: "read" }).message).toBe(
      'server "github-mcp" may not read "github/admin/key": denied by policies/test.yaml:11',
    );
    expect(evaluate(policy, { serverId: "github-mcp", secretPath: "github/token", action: "read" }).message).toBe(
      'server "github-mcp" may read "github/token": allowed by policies/test.yaml:5',
    );
    expect(evaluate(policy, { serverId: "github-mcp", secretPath: "db/x", action: "read" }).message).toBe(
      'server "github-mcp" may not read "db/x": no rule of server "github-mcp" grants read on it',
    );
    expect(evaluate(policy, { serverId: "nobody-mcp", secretPath: "db/x", action: "list" }).message).toBe(
      'server "nobody-mcp" may not list "db/x": no policy file mentions server "nobody-mcp"',
    );
    expect(evaluate(policy, { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read", sourceIp: "192.168.1.1" }).message).toBe(
      'server "analytics-mcp" may not read "db/analytics-ro": policies/test.yaml:14 grants read only from 10.0.0.0/8 or 2001:db8::/32, and the request came from 192.168.1.1',
    );
    expect(evaluate(policy, { serverId: "analytics-mcp", secretPath: "db/analytics-ro", action: "read" }).message).toMatch(/has no source address$/);
  });

  it("denies everything under the empty policy", () => {
    expect(evaluate(emptyPolicySet(), { serverId: "github-mcp", secretPath: "github/token", action: "read" })).toMatchObject({
      allowed: false,
      reason: "unknown_server",
    });
  });

  it("fails closed with evaluation_error when evaluation throws", () => {
    const throwing: ServerPolicy = {
      id: "broken-mcp",
      description: undefined,
      deny: [],
      allow: [
        {
          ref: { file: "x.yaml", line: 1, server: "broken-mcp", effect: "allow", index: 0 },
          secrets: [{ pattern: "**", test: () => { throw new Error("boom"); } }],
          actions: ["read"],
          maxTtlSeconds: undefined,
          sourceCidrs: undefined,
        },
      ],
    };
    const broken: PolicySet = { ...emptyPolicySet(), servers: new Map([["broken-mcp", throwing]]) };
    const decision = evaluate(broken, { serverId: "broken-mcp", secretPath: "a/b", action: "read" });
    expect(decision).toMatchObject({ allowed: false, reason: "evaluation_error" });
    expect(decision.message).toContain('server "broken-mcp" may not read "a/b"');
  });

  it("merges a server's rules from several files in file order", () => {
    const merged = policyOfFiles([
      { file: "policies/a.yaml", text: yaml("servers:", "  app-mcp:", "    allow:", '      - secrets: ["app/**"]', "        actions: [read]", "        max_ttl: 5m") },
      { file: "policies/b.yaml", text: yaml("servers:", "  app-mcp:", "    allow:", '      - secrets: ["app/key"]', "        actions: [read]", "    deny:", '      - secrets: ["app/secret"]') },
    ]);
    expect(evaluate(merged, { serverId: "app-mcp", secretPath: "app/key", action: "read" })).toMatchObject({
      allowed: true,
      rule: { file: "policies/a.yaml", line: 4, index: 0 },
      maxTtlSeconds: 300,
    });
    expect(evaluate(merged, { serverId: "app-mcp", secretPath: "app/secret", action: "read" })).toMatchObject({
      allowed: false,
      reason: "explicit_deny",
      rule: { file: "policies/b.yaml", line: 7, effect: "deny", index: 0 },
    });
    expect(merged.servers.get("app-mcp")?.allow.map((rule) => `${rule.ref.file}:${rule.ref.line}#${rule.ref.index}`)).toEqual([
      "policies/a.yaml:4#0",
      "policies/b.yaml:4#1",
    ]);
  });

  it("is fast enough to run on every request", () => {
    const request: EvaluationRequest = { serverId: "github-mcp", secretPath: "github/deploy/key#token", action: "read" };
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) evaluate(policy, request);
    // ~1 µs each on a laptop; the bound only catches an accidental slow path.
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("roles", () => {
  const withRoles = policyOf(yaml("roles:", "  security: [rotate, approve]", "  release: [write, rotate]"));

  it.each([
    ["admin", "policy", true],
    ["admin", "keys", true],
    ["security", "approve", true],
    ["security", "revoke", false], // redefined: the file's list replaces the built-in one
    ["auditor", "audit", true],
    ["auditor", "read", false],
    ["developer", "write", true],
    ["developer", "servers", true],
    ["developer", "credentials", false], // managing a server's credentials is reading what it reads
    ["admin", "credentials", true],
    ["developer", "delete", false],
    ["release", "rotate", true],
    ["release", "audit", false],
    ["nobody", "read", false],
  ] as const)("%s has %s: %s", (role, permission, expected) => {
    expect(roleHasPermission(withRoles, role, permission)).toBe(expected);
  });

  it("has the built-in roles without any policy file", () => {
    expect(roleHasPermission(emptyPolicySet(), "security", "revoke")).toBe(true);
    expect(knownRoles(emptyPolicySet())).toEqual(["admin", "security", "auditor", "developer"]);
    expect(knownRoles(withRoles)).toEqual(["admin", "security", "auditor", "developer", "release"]);
  });
});

describe("approvals and rotation", () => {
  const rules = policyOf(
    yaml(
      /*  1 */ "approvals:",
      /*  2 */ "  - actions: [rotate, delete]",
      /*  3 */ '    secrets: ["prod/**"]',
      /*  4 */ "    approvers: { role: security, count: 1 }",
      /*  5 */ "  - actions: [read]",
      /*  6 */ '    secrets: ["prod/root/*"]',
      /*  7 */ "    approvers: { role: admin, count: 2 }",
      /*  8 */ "rotation:",
      /*  9 */ '  - secrets: ["prod/db/*"]',
      /* 10 */ '    cron: "0 3 1 */3 *"',
      /* 11 */ "    strategy: { vault-kv: { keys: { password: {} } } }",
      /* 12 */ '  - secrets: ["prod/api", "prod/web/**"]',
      /* 13 */ "    every: 90d",
      /* 14 */ "    strategy: { generate: { length: 40 } }",
      /* 15 */ "    grace: 24h",
    ),
  );

  it.each([
    ["rotate", "prod/api", [2]],
    ["delete", "prod/api#key", [2]],
    ["read", "prod/api", []],
    ["read", "prod/root/key", [5]],
    ["rotate", "staging/api", []],
  ] as const)("%s %s needs the approval rules at lines %j", (action, path, lines) => {
    expect(approvalRulesFor(rules, action, path).map((rule) => rule.ref.line)).toEqual(lines);
  });

  it("an approval rule can name the credentials action over servers; it covers no secret", () => {
    const policy = policyOf(yaml("approvals:", "  - actions: [credentials]", '    servers: ["prod-*"]', "    approvers: { role: security, count: 2 }"));
    expect(policy.approvals).toHaveLength(1);
    expect(policy.approvals[0]).toMatchObject({ actions: ["credentials"], secrets: [], approvers: { role: "security", count: 2 } });
    expect(policy.approvals[0]!.servers).toHaveLength(1);
    expect(approvalRulesFor(policy, "rotate", "prod/api")).toEqual([]);
  });

  it("returns the rotation rule that claims a secret", () => {
    expect(rotationRuleFor(rules, "prod/db/main")).toMatchObject({
      ref: { line: 9 },
      schedule: { kind: "cron", expression: "0 3 1 */3 *" },
      strategy: { kind: "vault-kv", options: { keys: { password: { length: 32 } } } },
      graceSeconds: undefined,
    });
    expect(rotationRuleFor(rules, "prod/api#token")).toMatchObject({
      ref: { line: 12 },
      schedule: { kind: "interval", everySeconds: 7_776_000 },
      strategy: { kind: "generate", options: { length: 40, require: [] } },
      graceSeconds: 86_400,
    });
    expect(rotationRuleFor(rules, "staging/api")).toBeUndefined();
  });
});
