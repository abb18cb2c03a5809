import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { describe, expect, it } from "vitest";

import { loadPolicySources } from "../../src/policy/load.js";
import { postgresRoleProblem } from "../../src/policy/rotation-options.js";
import { sharedPath } from "../../src/policy/rotation-claims.js";
import { inWindow, parseWindow, shortestCronIntervalSeconds } from "../../src/policy/rotation-schedule.js";
import { compileSecretGlob } from "../../src/policy/glob.js";
import { formatProblem, policyOf, problemsOf, yaml } from "./helpers.js";

const F = "policies/test.yaml";
const PG = "{ connection_url: 'postgresql://admin@db:5432/app', password_secret: broker/pg";

/** One rotation rule on line 2 onwards; `extra` lines follow `strategy`. */
const rule = (strategy: string, ...extra: string[]) => yaml("rotation:", '  - secrets: ["prod/db"]', "    every: 30d", `    strategy: ${strategy}`, ...extra);

describe("policy check: rotation rules, each problem at file:line:column", () => {
  // [what, YAML, expected problems]
  const table: Array<[string, string, string[]]> = [
    [
      "bad cron",
      yaml("rotation:", '  - secrets: ["prod/**"]', '    cron: "0 3 1 13 *"', "    strategy: { generate: {} }"),
      [`${F}:3:11 rotation[0].cron: invalid cron expression "0 3 1 13 *": Constraint error, got value 13 expected range 1-12`],
    ],
    [
      "unknown strategy",
      rule("{ rotate-magic: {} }"),
      [
        `${F}:4:15 rotation[0].strategy: strategy must have exactly one of: generate, postgres-password, vault-kv, aws, command, webhook`,
        `${F}:4:17 rotation[0].strategy: unknown key "rotate-magic" (expected one of: generate, postgres-password, vault-kv, aws, command, webhook)`,
      ],
    ],
    [
      "grace longer than every",
      rule("{ generate: {} }", "    grace: 31d"),
      [`${F}:5:12 rotation[0].grace: grace 31d is longer than the interval (every 30d): the previous version would outlive the next rotation`],
    ],
    [
      "grace longer than a cron's shortest interval (February)",
      yaml("rotation:", '  - secrets: ["prod/db"]', '    cron: "0 3 1 * *"', "    strategy: { generate: {} }", "    grace: 30d"),
      [`${F}:5:12 rotation[0].grace: grace 30d is longer than the interval (cron "0 3 1 * *" runs as often as every 4w): the previous version would outlive the next rotation`],
    ],
    [
      "notify_before as long as the interval",
      rule("{ generate: {} }", "    notify_before: 30d"),
      [`${F}:5:20 rotation[0].notify_before: notify_before 30d must be shorter than the interval (every 30d)`],
    ],
    [
      "unknown time zone",
      rule("{ generate: {} }", "    timezone: Mars/Olympus"),
      [`${F}:5:15 rotation[0].timezone: unknown time zone "Mars/Olympus": use an IANA name such as UTC or Europe/Berlin`],
    ],
    [
      "bad window",
      rule("{ generate: {} }", '    window: "2-5"'),
      [`${F}:5:13 rotation[0].window: invalid window "2-5": expected HH:MM-HH:MM (24-hour), such as 02:00-05:00 or 22:00-04:00`],
    ],
    [
      "a cron whose runs all fall outside the window (read in the rule's time zone)",
      yaml("rotation:", '  - secrets: ["prod/db"]', '    cron: "0 3 * * *"', "    timezone: America/New_York", '    window: "08:00-09:00"', "    strategy: { generate: {} }"),
      [`${F}:5:13 rotation[0].window: no run of cron "0 3 * * *" starts within the window (in America/New_York), so it would never rotate`],
    ],
    [
      "hostile role name",
      rule(`{ postgres-password: ${PG}, role: 'app"; DROP ROLE admin; --' } }`),
      [`${F}:4:122 rotation[0].strategy.postgres-password.role: invalid role "app\\"; DROP ROLE admin; --": use letters, digits, "_", "$" and "-", starting with a letter or "_"`],
    ],
    [
      "role PostgreSQL would truncate",
      rule(`{ postgres-password: ${PG}, alternate: [app_a, ${"a".repeat(64)}] } }`),
      [`${F}:4:135 rotation[0].strategy.postgres-password.alternate[1]: invalid role "${"a".repeat(64)}": a role name is at most 63 bytes (PostgreSQL would truncate it to another name)`],
    ],
    [
      "grace on a single role",
      rule(`{ postgres-password: ${PG}, role: app } }`, "    grace: 1h"),
      [`${F}:5:12 rotation[0].grace: a single role has one password, so the previous one stops working at once: use alternate: [role_a, role_b] for a grace period`],
    ],
    [
      "alternate with a bare password value",
      rule(`{ postgres-password: ${PG}, alternate: [app_a, app_b], value: password } }`),
      [`${F}:4:150 rotation[0].strategy.postgres-password.value: with alternate the value must name the user too: use url or fields`],
    ],
    [
      "a password in the connection url, and the connection user as target",
      rule("{ postgres-password: { connection_url: 'postgresql://app:pw@db/app', password_secret: broker/pg, role: app } }"),
      [
        `${F}:4:36 rotation[0].strategy.postgres-password: the connection user "app" cannot rotate its own password (its password_secret would go stale)`,
        `${F}:4:54 rotation[0].strategy.postgres-password.connection_url: connection_url must not hold a password: name a broker secret in password_secret`,
      ],
    ],
    [
      "too little entropy, an alphabet that repeats, a required class the alphabet lacks",
      yaml(
        "rotation:",
        '  - { secrets: [a], every: 30d, strategy: { generate: { length: 16, charset: hex } } }',
        '  - { secrets: [b], every: 30d, strategy: { generate: { alphabet: "aab" } } }',
        '  - { secrets: [c], every: 30d, strategy: { generate: { charset: hex, require: [upper] } } }',
      ),
      [
        `${F}:2:65 rotation[0].strategy.generate.length: 16 characters from an alphabet of 16 give 64 bits; at least 128 are needed (use a longer length)`,
        `${F}:3:67 rotation[1].strategy.generate.alphabet: alphabet must not repeat a character (a repeated one would be drawn more often)`,
        `${F}:4:80 rotation[2].strategy.generate.require: require upper: the alphabet has no upper character`,
      ],
    ],
    [
      "webhook over plain http to another host, without a signing key",
      rule('{ webhook: { url: "http://hooks.example.com/rotate" } }'),
      [
        `${F}:4:26 rotation[0].strategy.webhook.signing_key_secret: required, but missing`,
        `${F}:4:33 rotation[0].strategy.webhook.url: webhook url must use https:// (http:// only for localhost, 127.0.0.1 and [::1]): the request carries the new value`,
      ],
    ],
    [
      "command found through PATH, steps without set",
      rule("{ command: { argv: [rotate.sh], steps: [test] } }"),
      [
        `${F}:4:35 rotation[0].strategy.command.argv[0]: the program must be an absolute path (got "rotate.sh"): it runs without a shell or PATH lookup`,
        `${F}:4:54 rotation[0].strategy.command.steps: steps must include set (the hook is what applies the new value)`,
      ],
    ],
    [
      "aws lambda mode with a value spec",
      rule("{ aws: { mode: lambda, generate: { length: 40 } } }"),
      [`${F}:4:30 rotation[0].strategy.aws.mode: mode lambda lets the rotation Lambda make the value: key and generate do not apply`],
    ],
    [
      "two rules claiming one secret (one glob inside the other)",
      yaml("rotation:", '  - { secrets: ["prod/**"], every: 30d, strategy: { generate: {} } }', '  - { secrets: ["staging/a", "prod/db/*"], every: 7d, strategy: { generate: {} } }'),
      [
        `${F}:3:30 rotation[1].secrets[1]: "prod/db/*" claims secrets that the rotation rule at ${F}:2 ("prod/**") claims too, e.g. "prod/db/x"; a secret may have one rotation rule`,
      ],
    ],
    [
      "two rules whose globs only cross",
      yaml("rotation:", '  - { secrets: ["prod/*/main"], every: 30d, strategy: { generate: {} } }', '  - { secrets: ["prod/db/*"], every: 7d, strategy: { generate: {} } }'),
      [
        `${F}:3:17 rotation[1].secrets[0]: "prod/db/*" claims secrets that the rotation rule at ${F}:2 ("prod/*/main") claims too, e.g. "prod/db/main"; a secret may have one rotation rule`,
      ],
    ],
  ];

  it.each(table)("%s", (_what, text, expected) => {
    expect(problemsOf(text, F)).toEqual(expected);
  });

  it("reports a claim across files at the later file's rule", () => {
    const result = loadPolicySources([
      { file: "policies/a.yaml", text: yaml("rotation:", '  - { secrets: ["kv/app"], every: 30d, strategy: { generate: {} } }') },
      { file: "policies/b.yaml", text: yaml("servers: {}", "rotation:", '  - { secrets: ["kv/*"], every: 30d, strategy: { generate: {} } }') },
    ]);
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual([
      `policies/b.yaml:3:17 rotation[0].secrets[0]: "kv/*" claims secrets that the rotation rule at policies/a.yaml:2 ("kv/app") claims too, e.g. "kv/app"; a secret may have one rotation rule`,
    ]);
  });

  it("accepts rules on disjoint secrets, globs of one rule that overlap, and every new field", () => {
    const policy = policyOf(
      yaml(
        "rotation:",
        '  - secrets: ["prod/db/**", "prod/db/main"]',
        '    cron: "0 3 * * 1"',
        "    timezone: Europe/Berlin",
        '    window: "22:00-04:00"',
        "    strategy: { generate: { length: 40, require: [lower, upper, digit] } }",
        "    grace: 7d",
        "    notify_before: 2d",
        '  - { secrets: ["prod/api/*"], every: 90d, strategy: { generate: {} } }',
      ),
    );
    expect(policy.rotation[0]).toMatchObject({
      timeZone: "Europe/Berlin",
      window: { startMinute: 22 * 60, endMinute: 4 * 60 },
      graceSeconds: 7 * 86_400,
      notifyBeforeSeconds: 2 * 86_400,
      strategy: { kind: "generate", options: { length: 40, require: ["lower", "upper", "digit"] } },
    });
    expect(policy.rotation[1]).toMatchObject({ timeZone: "UTC", window: undefined, notifyBeforeSeconds: undefined });
    expect(Object.isFrozen(policy.rotation[0]!.strategy.options)).toBe(true);
  });
});

describe("sharedPath: a path two globs both match", () => {
  // [a, b, a path both match, or undefined]
  const table: Array<[string, string, string | undefined]> = [
    ["prod/db", "prod/db", "prod/db"],
    ["prod/db", "prod/api", undefined],
    ["prod/**", "prod/db/*", "prod/db/x"],
    ["prod/**", "prod", "prod"], // ** matches zero segments too
    ["**", "a/b/c", "a/b/c"],
    ["**", "**", "x"],
    ["a/**/z", "a/b/**", "a/b/z"],
    ["prod/*/main", "prod/db/*", "prod/db/main"],
    ["github/*-token", "github/ci-*", "github/ci-x-token"],
    ["github/*-token", "github/*-key", undefined],
    ["a/x*y*z", "a/*q*", "a/xyqxz"],
    ["a/*", "a/b/c", undefined],
    ["a/**/c", "b/**", undefined],
    ["**/main", "prod/**/db", undefined],
    ["**/main", "prod/**", "prod/main"],
  ];

  it.each(table)("%s and %s share %s", (a, b, expected) => {
    const found = sharedPath(a, b);
    if (expected === undefined) {
      expect(found).toBeUndefined();
      return;
    }
    expect(found).toBeDefined();
    // Whatever example is found, both globs must really match it.
    expect(compileSecretGlob(a).test(found!)).toBe(true);
    expect(compileSecretGlob(b).test(found!)).toBe(true);
    expect(sharedPath(b, a)).toBeDefined();
  });
});

describe("schedules", () => {
  it.each([
    ["0 3 * * *", 86_400],
    ["0 3 * * 1", 7 * 86_400],
    ["0 3 1 */3 *", 90 * 86_400], // Jan 1 → Apr 1 in a year that is not a leap year
    ["0 3 1 * *", 28 * 86_400],
    ["*/15 * * * *", 900],
    ["0 0 29 2 *", 4 * 365 * 86_400 + 86_400], // leap days only
  ] as const)("the shortest interval of %s", (expression, seconds) => {
    expect(shortestCronIntervalSeconds(expression)).toBe(seconds);
  });

  it.each([
    ["02:00-05:00", { startMinute: 120, endMinute: 300 }, [[120, true], [299, true], [300, false], [60, false]]],
    ["22:00-04:00", { startMinute: 1320, endMinute: 240 }, [[1320, true], [0, true], [239, true], [240, false], [1319, false]]],
    ["00:00-24:00", { startMinute: 0, endMinute: 1440 }, [[0, true], [1439, true]]],
  ] as const)("window %s", (text, expected, probes) => {
    const window = parseWindow(text);
    expect(window).toEqual(expected);
    if (typeof window === "string") return;
    for (const [minute, inside] of probes) expect(inWindow(window, minute)).toBe(inside);
  });

  it.each(["25:00-01:00", "02:00-02:00", "2:00-5:00", "02:00-24:30"])("rejects window %s", (text) => {
    expect(typeof parseWindow(text)).toBe("string");
  });
});

describe("postgresRoleProblem", () => {
  it.each([
    ["app", undefined],
    ["app_rw-2", undefined],
    ["_svc$1", undefined],
    ["", "a role name cannot be empty"],
    ['app"; DROP ROLE admin; --', `use letters, digits, "_", "$" and "-", starting with a letter or "_"`],
    ["app\u0000x", `use letters, digits, "_", "$" and "-", starting with a letter or "_"`],
    ["app role", `use letters, digits, "_", "$" and "-", starting with a letter or "_"`],
    ["1app", `use letters, digits, "_", "$" and "-", starting with a letter or "_"`],
    ["pg_read_server_files", `roles starting with "pg_" are PostgreSQL's own`],
    ["PUBLIC", `"PUBLIC" is reserved by PostgreSQL`],
    ["current_user", `"current_user" is reserved by PostgreSQL`],
    ["a".repeat(63), undefined],
    ["a".repeat(64), "a role name is at most 63 bytes (PostgreSQL would truncate it to another name)"],
    ["é".repeat(32), "a role name is at most 63 bytes (PostgreSQL would truncate it to another name)"],
  ])("%j", (name, problem) => {
    expect(postgresRoleProblem(name)).toBe(problem);
  });
});

describe("documented rotation rules", () => {
  const root = resolve(import.meta.dirname, "../..");
  it.each(["docs/rotation.md", "docs/policy.md"])("the rotation examples in %s pass policy check", (file) => {
    const blocks = [...readFileSync(resolve(root, file), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1]!).filter((block) => block.startsWith("rotation:"));
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) expect(policyOf(block, file).rotation.length).toBeGreaterThan(0);
  });
});
