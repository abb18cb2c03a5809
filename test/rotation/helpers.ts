import type { SecretBackend } from "../../src/backends/backend.js";
import type { MountTable } from "../../src/backends/mounts.js";
import { loadPolicyText } from "../../src/policy/load.js";
import type { StrategyConfig, StrategyKind, StrategyOptions } from "../../src/policy/rotation-options.js";
import { secretsFromMounts } from "../../src/rotation/broker-secrets.js";
import type { PendingValues, RotationContext } from "../../src/rotation/strategy.js";

/**
 * The options of a strategy exactly as a policy file would give them: the rule is written in
 * YAML and loaded by the real policy loader, so a fixture cannot use options policy would refuse.
 */
export function optionsFromPolicy<K extends StrategyKind>(kind: K, strategyYaml: string, grace?: string): StrategyOptions<K> {
  const text = `rotation:\n  - secrets: ["rotated/**"]\n    every: 30d\n${grace === undefined ? "" : `    grace: ${grace}\n`}    strategy: ${strategyYaml}\n`;
  const result = loadPolicyText(text, "policies/rotation.yaml");
  if (!result.ok) throw new Error(`fixture policy is invalid:\n${result.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join("\n")}`);
  const strategy: StrategyConfig = result.policy.rotation[0]!.strategy;
  if (strategy.kind !== kind) throw new Error(`fixture policy has strategy ${strategy.kind}, not ${kind}`);
  return optionsOf(strategy, kind);
}

function optionsOf<K extends StrategyKind>(strategy: StrategyConfig, kind: K): StrategyOptions<K> {
  // Narrowed by the check in optionsFromPolicy; TypeScript cannot follow a generic discriminant.
  return (strategy.kind === kind ? strategy.options : undefined) as StrategyOptions<K>;
}

export interface ContextParts<K extends StrategyKind> {
  secretPath: string;
  mounts: Pick<MountTable, "resolve">;
  options: StrategyOptions<K>;
  pending: PendingValues;
  graceSeconds?: number;
  clock?: () => number;
  signal?: AbortSignal;
}

/** A step context as the state machine will build one: the holder resolved through the mount table. */
export function contextFor<K extends StrategyKind>(parts: ContextParts<K>, rotationId: string): RotationContext<K> {
  const holder: { backend: SecretBackend; location: string } = parts.mounts.resolve(parts.secretPath);
  return {
    rotationId,
    secretPath: parts.secretPath,
    holder,
    options: parts.options,
    graceSeconds: parts.graceSeconds ?? 0,
    secrets: secretsFromMounts(parts.mounts),
    pending: parts.pending,
    signal: parts.signal ?? new AbortController().signal,
    clock: parts.clock ?? Date.now,
  };
}
