import { randomUUID } from "node:crypto";

import { describe, expect, it } from "vitest";

import { STRATEGY_KINDS } from "../../src/policy/rotation-options.js";
import { strategyFor } from "../../src/rotation/registry.js";
import { testMounts } from "../backends/helpers.js";
import { pendingValuesForTests } from "../contracts/rotation-strategy.contract.js";
import { policyOf, yaml } from "../policy/helpers.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

const RULES: Record<(typeof STRATEGY_KINDS)[number], string> = {
  generate: "{ generate: { length: 48 } }",
  "postgres-password": "{ postgres-password: { connection_url: 'postgresql://admin@db/app', password_secret: broker/pg, alternate: [a, b] } }",
  "vault-kv": "{ vault-kv: { keys: { password: {} } } }",
  aws: "{ aws: {} }",
  command: "{ command: { argv: [/opt/rotate], steps: [set, retire] } }",
  webhook: '{ webhook: { url: "https://hooks.example.com/r", signing_key_secret: hooks/key } }',
};

describe("strategyFor: a rule's strategy with its options bound", () => {
  it.each(STRATEGY_KINDS.map((kind) => [kind] as const))("%s", (kind) => {
    const policy = policyOf(yaml("rotation:", `  - { secrets: [x], every: 30d, strategy: ${RULES[kind]} }`));
    const bound = strategyFor(policy.rotation[0]!.strategy);
    expect(bound.kind).toBe(kind);
    // retire is a capability: only strategies whose target must end the previous value have it.
    expect(bound.retire !== undefined).toBe(["postgres-password", "command", "webhook"].includes(kind));
  });

  it("runs the steps with the rule's options", async () => {
    const mounts = await testMounts([]);
    try {
      await mounts.local.write("rotated/api", Buffer.from("initial-value-0123456789"), { createdBy: "test" });
      const policy = policyOf(yaml("rotation:", `  - { secrets: [rotated/api], every: 30d, strategy: ${RULES.generate} }`));
      const bound = strategyFor(policy.rotation[0]!.strategy);
      const { options: _unused, ...context } = contextFor(
        { secretPath: "rotated/api", mounts: mounts.table, options: optionsFromPolicy("generate", RULES.generate), pending: pendingValuesForTests() },
        randomUUID(),
      );
      const created = await bound.create(context);
      const { version } = await bound.finish(context, await bound.test(context, await bound.set(context, created)));
      expect((await mounts.local.read("rotated/api"))).toMatchObject({ version });
      expect((await mounts.local.read("rotated/api"))!.bytes.toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    } finally {
      await mounts.close();
    }
  });
});
