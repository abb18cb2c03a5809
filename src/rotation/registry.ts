/**
 * The strategy registry: one strategy per kind, an exhaustive map, so a new kind in
 * policy/rotation-options.ts does not compile until its strategy is registered here.
 */
import type { StrategyKind } from "../policy/rotation-options.js";
import { awsStrategy } from "./strategies/aws.js";
import { commandStrategy } from "./strategies/command.js";
import { generateStrategy } from "./strategies/generate.js";
import { postgresPasswordStrategy } from "./strategies/postgres-password.js";
import { vaultKvStrategy } from "./strategies/vault-kv.js";
import { createWebhookStrategy } from "./strategies/webhook.js";
import type { RotationStrategy } from "./strategy.js";

export const rotationStrategies: { readonly [K in StrategyKind]: RotationStrategy<K> } = {
  generate: generateStrategy,
  "postgres-password": postgresPasswordStrategy,
  "vault-kv": vaultKvStrategy,
  aws: awsStrategy,
  command: commandStrategy,
  webhook: createWebhookStrategy(),
};
