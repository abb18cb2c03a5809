import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { loadPolicyDir, loadPolicySources, loadPolicyText } from "../../src/policy/load.js";
import { formatProblem, policyOf, problemsOf, yaml } from "./helpers.js";

const F = "policies/test.yaml";

describe("loadPolicyText: problems at file:line:column", () => {
  // [what, YAML, expected problems]; columns are 1-based and point at the offending node.
  const table: Array<[string, string, string[]]> = [
    [
      "YAML syntax error",
      yaml("servers:", "  github-mcp:", "    allow: [", "  other: 1"),
      [`${F}:4:3 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`],
    ],
    [
      "duplicate key",
      yaml("servers:", "  github-mcp: {}", "  github-mcp: {}"),
      [`${F}:3:3 duplicate key: a key may appear only once in a map`],
    ],
    [
      "unknown top-level key",
      yaml("servers: {}", "rules: []"),
      [`${F}:2:1 unknown key "rules" (expected one of: servers, roles, approvals, rotation)`],
    ],
    [
      "unknown key in a rule",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: [a]", "        actions: [read]", "        max-ttl: 15m"),
      [`${F}:6:9 servers.github-mcp.allow[0]: unknown key "max-ttl" (expected one of: secrets, actions, max_ttl, when)`],
    ],
    [
      "max_ttl on a deny rule",
      yaml("servers:", "  github-mcp:", "    deny:", "      - secrets: [a]", "        max_ttl: 15m"),
      [`${F}:5:9 servers.github-mcp.deny[0]: unknown key "max_ttl" (expected one of: secrets, actions, when)`],
    ],
    [
      "bad server id",
      yaml("servers:", "  GitHub_MCP:", "    allow: []"),
      [`${F}:2:3 servers.GitHub_MCP: invalid server id "GitHub_MCP": use 2 to 63 lowercase letters, digits and "-", starting with a letter or digit`],
    ],
    [
      "bad globs",
      yaml("servers:", "  github-mcp:", "    allow:", '      - secrets: ["../x", "a//b"]', "        actions: [read]"),
      [
        `${F}:4:19 servers.github-mcp.allow[0].secrets[0]: invalid secret glob "../x": path segment ".." is not allowed`,
        `${F}:4:27 servers.github-mcp.allow[0].secrets[1]: invalid secret glob "a//b": empty path segment (a leading or trailing "/", or "//")`,
      ],
    ],
    [
      "empty secrets list",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: []", "        actions: [read]"),
      [`${F}:4:18 servers.github-mcp.allow[0].secrets: must list at least one entry`],
    ],
    [
      "allow without actions",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: [a]"),
      [`${F}:4:9 servers.github-mcp.allow[0].actions: required, but missing`],
    ],
    [
      "unknown action",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: [a]", "        actions: [read, write]"),
      [`${F}:5:25 servers.github-mcp.allow[0].actions[1]: "write" is not one of: read, list`],
    ],
    [
      "bad duration",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: [a]", "        actions: [read]", "        max_ttl: 15 minutes"),
      [`${F}:6:18 servers.github-mcp.allow[0].max_ttl: invalid duration "15 minutes": expected a number followed by a unit (s, m, h, d, w), such as 15m, 1h, 90d or 1h30m`],
    ],
    [
      "duration given as a number",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: [a]", "        actions: [read]", "        max_ttl: 900"),
      [`${F}:6:18 servers.github-mcp.allow[0].max_ttl: invalid duration: expected a duration such as 15m, 1h, 90d`],
    ],
    [
      "bad source_cidr",
      yaml("servers:", "  github-mcp:", "    allow:", "      - secrets: [a]", "        actions: [read]", '        when: { source_cidr: ["10/8", "10.0.0.0/33"] }'),
      [
        `${F}:6:31 servers.github-mcp.allow[0].when.source_cidr[0]: invalid source_cidr "10/8": expected an address range such as 10.0.0.0/8 or 2001:db8::/32`,
        `${F}:6:39 servers.github-mcp.allow[0].when.source_cidr[1]: invalid source_cidr "10.0.0.0/33": prefix length must be a whole number from 0 to 32`,
      ],
    ],
    [
      "bad cron",
      yaml("rotation:", '  - secrets: ["prod/**"]', '    cron: "61 * * * *"', "    strategy: { generate: { length: 40 } }"),
      [`${F}:3:11 rotation[0].cron: invalid cron expression "61 * * * *": Constraint error, got value 61 expected range 0-59`],
    ],
    [
      "both every and cron",
      yaml("rotation:", '  - secrets: ["prod/**"]', "    every: 90d", '    cron: "0 3 1 */3 *"', "    strategy: { generate: { length: 40 } }"),
      [`${F}:4:11 rotation[0].cron: set either every or cron, not both`],
    ],
    [
      "neither every nor cron",
      yaml("rotation:", '  - secrets: ["prod/**"]', "    strategy: { generate: { length: 40 } }"),
      [`${F}:2:5 rotation[0]: a rotation rule needs a schedule: every (e.g. 90d) or cron`],
    ],
    [
      "two strategies, and a bad length",
      yaml("rotation:", '  - secrets: ["prod/**"]', "    every: 90d", "    strategy:", "      generate: { length: 8 }", "      command: { argv: [/usr/local/bin/rotate.sh] }"),
      [
        `${F}:5:7 rotation[0].strategy: strategy must have exactly one of: generate, postgres-password, vault-kv, aws, command, webhook (found generate, command)`,
        `${F}:5:27 rotation[0].strategy.generate.length: must be at least 16`,
      ],
    ],
    [
      "unknown strategy",
      yaml("rotation:", '  - secrets: ["prod/**"]', "    every: 90d", "    strategy: { magic: {} }"),
      [
        `${F}:4:15 rotation[0].strategy: strategy must have exactly one of: generate, postgres-password, vault-kv, aws, command, webhook`,
        `${F}:4:17 rotation[0].strategy: unknown key "magic" (expected one of: generate, postgres-password, vault-kv, aws, command, webhook)`,
      ],
    ],
    [
      "webhook url that is not http(s)",
      yaml("rotation:", '  - secrets: ["prod/**"]', "    every: 90d", '    strategy: { webhook: { url: "ftp://example.com/rotate", signing_key_secret: hooks/key } }'),
      [`${F}:4:33 rotation[0].strategy.webhook.url: webhook url must be an http:// or https:// URL`],
    ],
    [
      "unknown role in approvals",
      yaml("approvals:", "  - actions: [rotate]", '    secrets: ["prod/**"]', "    approvers: { role: secops, count: 1 }"),
      [`${F}:4:24 approvals[0].approvers.role: unknown role "secops" (known roles: admin, security, auditor, developer)`],
    ],
    [
      "approver count below one",
      yaml("approvals:", "  - actions: [rotate]", '    secrets: ["prod/**"]', "    approvers: { role: security, count: 0 }"),
      [`${F}:4:41 approvals[0].approvers.count: must be at least 1`],
    ],
    [
      "credentials approval without servers",
      yaml("approvals:", "  - actions: [credentials]", '    secrets: ["prod/**"]', "    approvers: { role: security, count: 1 }"),
      [`${F}:2:5 approvals[0]: an approval rule for credentials needs servers (server id globs)`, `${F}:3:14 approvals[0].secrets: secrets does not apply to the credentials action; name servers`],
    ],
    [
      "servers on a secret-only approval",
      yaml("approvals:", "  - actions: [rotate]", '    secrets: ["prod/**"]', '    servers: ["*"]', "    approvers: { role: security, count: 1 }"),
      [`${F}:4:14 approvals[0].servers: servers applies to the credentials action only`],
    ],
    [
      "credentials and rotate without secrets",
      yaml("approvals:", "  - actions: [credentials, rotate]", '    servers: ["prod-*"]', "    approvers: { role: security, count: 1 }"),
      [`${F}:2:5 approvals[0]: an approval rule for rotate needs secrets`],
    ],
    [
      "an unknown approval action",
      yaml("approvals:", "  - actions: [register]", '    secrets: ["prod/**"]', "    approvers: { role: security, count: 1 }"),
      [`${F}:2:15 approvals[0].actions[0]: "register" is not one of: rotate, delete, read, credentials`],
    ],
    [
      "admin redefined",
      yaml("roles:", "  admin: [read]"),
      [`${F}:2:3 roles.admin: the built-in role "admin" holds every permission and cannot be redefined`],
    ],
    [
      "unknown permission",
      yaml("roles:", "  release: [write, deploy]"),
      [`${F}:2:20 roles.release[1]: "deploy" is not one of: read, write, delete, rotate, approve, revoke, audit, servers, credentials, operators, keys, policy`],
    ],
    [
      "top level is not a map",
      yaml("- servers"),
      [`${F}:1:1 expected a map, got a list`],
    ],
  ];

  it.each(table)("%s", (_what, text, expected) => {
    expect(problemsOf(text, F)).toEqual(expected);
  });

  it("reports every problem of a file in one pass, in line order", () => {
    const problems = problemsOf(
      yaml(
        /*  1 */ "servers:",
        /*  2 */ "  Bad:",
        /*  3 */ "    allow:",
        /*  4 */ '      - secrets: ["../x"]',
        /*  5 */ "        actions: [read]",
        /*  6 */ "        max_ttl: soon",
        /*  7 */ "roles:",
        /*  8 */ "  admin: [read]",
        /*  9 */ "approvals:",
        /* 10 */ "  - actions: [rotate]",
        /* 11 */ "    secrets: [a]",
        /* 12 */ "    approvers: { role: nobody, count: 1 }",
      ),
      F,
    );
    expect(problems.map((problem) => problem.split(" ")[0])).toEqual([
      `${F}:2:3`,
      `${F}:4:19`,
      `${F}:6:18`,
      `${F}:8:3`,
      `${F}:12:24`,
    ]);
  });

  it("accepts the example of the specification", () => {
    const policy = policyOf(
      yaml(
        "servers:",
        "  github-mcp:",
        "    description: GitHub MCP server, read-only token",
        "    allow:",
        '      - secrets: ["github/token"]',
        "        actions: [read]",
        "        max_ttl: 15m",
        "    deny:",
        '      - secrets: ["github/admin/**"]',
        "  analytics-mcp:",
        "    allow:",
        '      - secrets: ["db/analytics-ro"]      # a dynamic credential: a fresh PostgreSQL role per lease',
        "        actions: [read]",
        "        max_ttl: 1h",
        '        when: { source_cidr: ["10.0.0.0/8"] }',
        "roles:",
        "  security: [rotate, approve, revoke, audit]",
        "  auditor: [audit]",
        "approvals:",
        "  - actions: [rotate, delete]",
        '    secrets: ["prod/**"]',
        "    approvers: { role: security, count: 1 }   # never the requester",
        "rotation:",
        '  - secrets: ["prod/**"]',
        '    every: 90d                                # or cron: "0 3 1 */3 *"',
        "    strategy: { generate: { length: 40 } }    # or postgres-password, vault-kv, aws, command, webhook",
        "    grace: 24h                                # the previous version stays valid this long",
      ),
    );
    expect([...policy.servers.keys()]).toEqual(["github-mcp", "analytics-mcp"]);
    expect(policy.servers.get("github-mcp")).toMatchObject({ description: "GitHub MCP server, read-only token" });
    expect(policy.approvals).toHaveLength(1);
    expect(policy.rotation).toHaveLength(1);
  });

  it("accepts an empty file and a file of comments as an empty policy", () => {
    expect(loadPolicyText("", F)).toMatchObject({ ok: true, files: [F] });
    expect(loadPolicyText("# nothing yet\n", F)).toMatchObject({ ok: true, files: [F] });
  });

  it("accepts every rotation strategy", () => {
    const policy = policyOf(
      yaml(
        "rotation:",
        "  - { secrets: [a], every: 30d, strategy: { generate: { length: 64, charset: hex } } }",
        "  - { secrets: [b], every: 30d, strategy: { postgres-password: { connection_url: 'postgresql://admin@db:5432/app', password_secret: broker/pg, role: app } } }",
        "  - { secrets: [c], every: 30d, strategy: { vault-kv: { keys: { password: {} } } } }",
        "  - { secrets: [d], every: 30d, strategy: { aws: { mode: lambda } } }",
        "  - { secrets: [e], every: 30d, strategy: { command: { argv: [/opt/rotate.sh, --force] } } }",
        '  - { secrets: [f], every: 30d, strategy: { webhook: { url: "https://hooks.example.com/rotate", signing_key_secret: hooks/key } } }',
      ),
    );
    const alphanumeric32 = { length: 32, alphabet: expect.stringMatching(/^A.*9$/) as unknown, require: [] };
    expect(policy.rotation.map((rule) => rule.strategy)).toEqual([
      { kind: "generate", options: { length: 64, alphabet: "0123456789abcdef", require: [] } },
      {
        kind: "postgres-password",
        options: {
          connectionUrl: "postgresql://admin@db:5432/app",
          connectionUser: "admin",
          passwordSecret: "broker/pg",
          roles: ["app"],
          value: "password",
          connectTimeoutSeconds: 10,
          generate: alphanumeric32,
        },
      },
      { kind: "vault-kv", options: { keys: { password: alphanumeric32 } } },
      { kind: "aws", options: { mode: "lambda", key: undefined, generate: alphanumeric32 } },
      { kind: "command", options: { argv: ["/opt/rotate.sh", "--force"], timeoutSeconds: 30, steps: ["set"], generate: alphanumeric32 } },
      {
        kind: "webhook",
        options: { url: "https://hooks.example.com/rotate", signingKeySecret: "hooks/key", timeoutSeconds: 10, retries: 2, steps: ["set"], generate: alphanumeric32 },
      },
    ]);
  });
});

describe("loadPolicySources: rules across files", () => {
  it("reports a role defined in two files at the second definition", () => {
    const result = loadPolicySources([
      { file: "policies/a.yaml", text: yaml("roles:", "  release: [write]") },
      { file: "policies/b.yaml", text: yaml("servers: {}", "roles:", "  release: [rotate]") },
    ]);
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
      'policies/b.yaml:3:3 roles.release: role "release" is already defined at policies/a.yaml:2; define each role once',
    ]);
  });

  it("reports a built-in role redefined in two files", () => {
    const result = loadPolicySources([
      { file: "policies/a.yaml", text: yaml("roles:", "  security: [approve]") },
      { file: "policies/b.yaml", text: yaml("roles:", "  security: [rotate]") },
    ]);
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
      'policies/b.yaml:2:3 roles.security: role "security" is already defined at policies/a.yaml:2; define each role once',
    ]);
  });

  it("lets an approval name a role defined in another file", () => {
    const result = loadPolicySources([
      { file: "policies/a.yaml", text: yaml("approvals:", "  - { actions: [delete], secrets: [a], approvers: { role: release, count: 2 } }") },
      { file: "policies/b.yaml", text: yaml("roles:", "  release: [write]") },
    ]);
    expect(result.ok).toBe(true);
  });

  it("reports problems of every file, in file order", () => {
    const result = loadPolicySources([
      { file: "policies/a.yaml", text: yaml("servers:", "  x: {}") },
      { file: "policies/b.yaml", text: yaml("rotation: 5") },
    ]);
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
      'policies/a.yaml:2:3 servers.x: invalid server id "x": use 2 to 63 lowercase letters, digits and "-", starting with a letter or digit',
      "policies/b.yaml:1:11 rotation: expected a list, got 5",
    ]);
  });

  it("still reports a duplicate role when another file has problems, but not unknown roles", () => {
    const result = loadPolicySources([
      { file: "policies/a.yaml", text: yaml("roles:", "  release: [write]") },
      { file: "policies/b.yaml", text: yaml("roles:", "  release: [write]", "  bad: [fly]") },
      { file: "policies/c.yaml", text: yaml("roles: [") },
      { file: "policies/d.yaml", text: yaml("approvals:", "  - { actions: [delete], secrets: [a], approvers: { role: maybe-in-c, count: 1 } }") },
    ]);
    expect(result.ok ? [] : result.problems.map((problem) => problem.message.split(":")[0])).toEqual([
      "roles.release",
      "roles.bad[0]",
      "YAML",
    ]);
  });
});

describe("loadPolicyDir", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "credbroker-policy-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("treats a missing folder as an empty policy", () => {
    const result = loadPolicyDir(join(dir, "missing"));
    expect(result).toMatchObject({ ok: true, files: [] });
    expect(result.ok && result.policy.servers.size).toBe(0);
  });

  it("reads *.yaml and *.yml sorted by name, skipping dotfiles, other files and folders", () => {
    writeFileSync(join(dir, "b.yml"), yaml("servers:", "  app-mcp:", "    allow:", "      - { secrets: [b], actions: [read] }"));
    writeFileSync(join(dir, "a.yaml"), yaml("servers:", "  app-mcp:", "    allow:", "      - { secrets: [a], actions: [read] }"));
    writeFileSync(join(dir, "notes.txt"), "not yaml: [");
    writeFileSync(join(dir, ".#a.yaml"), "editor lock: [");
    mkdirSync(join(dir, "old.yaml"));
    const result = loadPolicyDir(dir);
    if (!result.ok) expect.fail(result.problems.map(formatProblem).join("\n"));
    expect(result.files).toEqual([join(dir, "a.yaml"), join(dir, "b.yml")]);
    expect(result.policy.servers.get("app-mcp")?.allow.map((rule) => rule.ref.file)).toEqual([join(dir, "a.yaml"), join(dir, "b.yml")]);
  });

  it("reports an unreadable file instead of skipping it", () => {
    writeFileSync(join(dir, "a.yaml"), yaml("servers: {}"));
    symlinkSync(join(dir, "nowhere.yaml"), join(dir, "b.yaml"));
    const result = loadPolicyDir(dir);
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
      `${join(dir, "b.yaml")}:1:1 cannot read the policy file: no such file (a dangling link?)`,
    ]);
  });

  it("names files as the folder was given, and changes digest only when content changes", () => {
    writeFileSync(join(dir, "a.yaml"), yaml("servers: {}"));
    const first = loadPolicyDir(dir);
    const again = loadPolicyDir(dir);
    writeFileSync(join(dir, "a.yaml"), yaml("servers: {}", "# a comment"));
    const edited = loadPolicyDir(dir);
    if (!first.ok || !again.ok || !edited.ok) expect.fail("expected valid policies");
    expect(first.policy.digest).toBe(again.policy.digest);
    expect(edited.policy.digest).not.toBe(first.policy.digest);
  });
});
