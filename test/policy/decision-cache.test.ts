/** DecisionCache: allow decisions remembered per policy set, never across a reload or a condition. */
import { describe, expect, it } from "vitest";
import { DecisionCache } from "../../src/policy/decision-cache.js";
import { evaluate } from "../../src/policy/evaluate.js";
import type { EvaluationRequest } from "../../src/policy/types.js";
import { policyOf, yaml } from "./helpers.js";

const POLICY = yaml(
  "servers:",
  "  app-mcp:",
  "    allow:",
  '      - secrets: ["app/**"]',
  "        actions: [read]",
  '      - secrets: ["office/printer"]',
  "        actions: [read]",
  '        when: { source_cidr: ["10.0.0.0/8"] }',
  "    deny:",
  '      - secrets: ["app/admin/**"]',
);
const read = (secretPath: string, sourceIp = "127.0.0.1"): EvaluationRequest => ({ serverId: "app-mcp", secretPath, action: "read", sourceIp });

describe("DecisionCache", () => {
  it("answers an allow decision it computed under the same policy set from memory, equal to evaluate()", () => {
    const policy = policyOf(POLICY);
    const cache = new DecisionCache();
    const first = cache.decide(policy, read("app/key"));
    expect(first).toEqual(evaluate(policy, read("app/key")));
    expect(first.allowed).toBe(true);
    expect(cache.decide(policy, read("app/key"))).toBe(first);
    // Another name, action or server is another key.
    expect(cache.decide(policy, read("app/key#field"))).not.toBe(first);
    expect(cache.decide(policy, { ...read("app/key"), action: "list" }).allowed).toBe(false);
    expect(cache.decide(policy, { ...read("app/key"), serverId: "other-mcp" }).allowed).toBe(false);
  });

  it("forgets everything when the policy set changes: a reload that withdraws a grant denies at once", () => {
    const cache = new DecisionCache();
    expect(cache.decide(policyOf(POLICY), read("app/key")).allowed).toBe(true);
    const withdrawn = policyOf(POLICY.replace('"app/**"', '"app/other"'));
    const decision = cache.decide(withdrawn, read("app/key"));
    expect(decision).toMatchObject({ allowed: false, reason: "no_matching_rule" });
  });

  it("never keeps a decision that depended on the source address", () => {
    const policy = policyOf(POLICY);
    const cache = new DecisionCache();
    expect(cache.decide(policy, read("office/printer", "10.1.2.3")).allowed).toBe(true);
    expect(cache.decide(policy, read("office/printer", "198.51.100.7"))).toMatchObject({ allowed: false, reason: "condition_failed" });
    expect(cache.decide(policy, read("office/printer", "10.1.2.3")).allowed).toBe(true);
  });

  it("computes denials every time, so names a caller makes up cannot push the grants out", () => {
    const policy = policyOf(POLICY);
    const cache = new DecisionCache(2);
    const granted = cache.decide(policy, read("app/key"));
    for (let i = 0; i < 10; i++) expect(cache.decide(policy, read(`app/admin/${i}`)).allowed).toBe(false);
    expect(cache.decide(policy, read("app/admin/0"))).not.toBe(cache.decide(policy, read("app/admin/0")));
    expect(cache.decide(policy, read("app/key"))).toBe(granted);
  });

  it("empties itself when full", () => {
    const policy = policyOf(POLICY);
    const cache = new DecisionCache(2);
    const first = cache.decide(policy, read("app/a"));
    cache.decide(policy, read("app/b"));
    cache.decide(policy, read("app/c"));
    const again = cache.decide(policy, read("app/a"));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});
