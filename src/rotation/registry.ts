/**
 * The strategy registry: one strategy per kind, an exhaustive map, so a new kind in
 * policy/rotation-options.ts does not compile until its strategy is registered here.
 */
import type { StrategyConfig, StrategyKind, StrategyOptions } from "../policy/rotation-options.js";
import { awsStrategy } from "./strategies/aws.js";
import { commandStrategy } from "./strategies/command.js";
import { generateStrategy } from "./strategies/generate.js";
import { postgresPasswordStrategy } from "./strategies/postgres-password.js";
import { vaultKvStrategy } from "./strategies/vault-kv.js";
import { createWebhookStrategy } from "./strategies/webhook.js";
import { isRetiring, type FinishResult, type RotationContext, type RotationStrategy, type StepState } from "./strategy.js";

export const rotationStrategies: { readonly [K in StrategyKind]: RotationStrategy<K> } = {
  generate: generateStrategy,
  "postgres-password": postgresPasswordStrategy,
  "vault-kv": vaultKvStrategy,
  aws: awsStrategy,
  command: commandStrategy,
  webhook: createWebhookStrategy(),
};

/** A step's context without the options: a {@link BoundStrategy} supplies them. */
export type StepContext = Omit<RotationContext, "options">;

/**
 * A strategy with a rule's options bound, so that a caller holding a rule's `StrategyConfig`
 * (any kind) can run its steps without narrowing the kind itself. Same steps and guarantees as
 * {@link RotationStrategy}; `retire` is there only for strategies with that capability.
 */
export interface BoundStrategy {
  readonly kind: StrategyKind;
  create(context: StepContext): Promise<StepState>;
  set(context: StepContext, state: StepState): Promise<StepState>;
  test(context: StepContext, state: StepState): Promise<StepState>;
  finish(context: StepContext, state: StepState): Promise<FinishResult>;
  rollback(context: StepContext, state: StepState): Promise<void>;
  readonly retire: ((context: StepContext, state: StepState) => Promise<void>) | undefined;
}

/** The registered strategy of a rule, with the rule's options bound. */
export function strategyFor(config: StrategyConfig): BoundStrategy {
  switch (config.kind) {
    case "generate":
      return bind(rotationStrategies.generate, config.options);
    case "postgres-password":
      return bind(rotationStrategies["postgres-password"], config.options);
    case "vault-kv":
      return bind(rotationStrategies["vault-kv"], config.options);
    case "aws":
      return bind(rotationStrategies.aws, config.options);
    case "command":
      return bind(rotationStrategies.command, config.options);
    case "webhook":
      return bind(rotationStrategies.webhook, config.options);
  }
}

function bind<K extends StrategyKind>(strategy: RotationStrategy<K>, options: StrategyOptions<K>): BoundStrategy {
  const withOptions = (context: StepContext): RotationContext<K> => ({ ...context, options });
  return {
    kind: strategy.kind,
    create: (context) => strategy.create(withOptions(context)),
    set: (context, state) => strategy.set(withOptions(context), state),
    test: (context, state) => strategy.test(withOptions(context), state),
    finish: (context, state) => strategy.finish(withOptions(context), state),
    rollback: (context, state) => strategy.rollback(withOptions(context), state),
    retire: isRetiring(strategy) ? (context, state) => strategy.retire(withOptions(context), state) : undefined,
  };
}
