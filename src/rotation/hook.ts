import * as z from "zod";
import type { HookStep } from "../policy/rotation-options.js";
import { generateValue } from "./generate-value.js";
import { heldState, holdPending, pendingValue, publish, readCurrent, type HolderContext } from "./holder.js";
import { heldSchema, readState } from "./state.js";
import type { RetiringStrategy, RotationContext, StepState } from "./strategy.js";

/**
 * What `command` and `webhook` hand to an operator's program or receiver at each step: a JSON
 * context (never the value) and the value the step is about.
 */

/** The JSON context of one step (`CREDBROKER_ROTATION` for a command, the body minus `value` for a webhook). */
export interface HookContext {
  /** Format marker, so a receiver can refuse what it does not understand. */
  readonly type: "credbroker.rotation.v1";
  readonly rotation_id: string;
  readonly secret: string;
  readonly step: HookStep;
}

export function hookContext(context: HolderContext, step: HookStep): HookContext {
  return { type: "credbroker.rotation.v1", rotation_id: context.rotationId, secret: context.secretPath, step };
}

/**
 * The value a step hands over: the new value for set and test, the current one for rollback (to
 * put back), none for retire.
 */
export async function hookValue(context: HolderContext, step: HookStep): Promise<Buffer | undefined> {
  if (step === "set" || step === "test") return pendingValue(context);
  if (step === "rollback") return (await readCurrent(context))?.bytes;
  return undefined;
}

const hookStateSchema = z.object({ held: heldSchema });

/**
 * The steps `command` and `webhook` share: create generates and holds the pending value, finish
 * publishes it as the new version, and set, test, retire and rollback call the hook (`deliver`:
 * run the program, send the POST) for each step the rule lists, with that step's value. A
 * rollback before anything was held has nothing to undo.
 */
export function hookStrategy<K extends "command" | "webhook">(
  kind: K,
  deliver: (context: RotationContext<K>, step: HookStep, value: Buffer | undefined) => Promise<void>,
): RetiringStrategy<K> {
  const runStep = async (context: RotationContext<K>, step: HookStep): Promise<void> => {
    if (!context.options.steps.includes(step)) return;
    await deliver(context, step, await hookValue(context, step));
  };
  return {
    kind,
    async create(context) {
      const { held } = await holdPending(context, generateValue(context.options.generate));
      return { held: heldState(held) };
    },
    async set(context, state) {
      await runStep(context, "set");
      return state;
    },
    async test(context, state) {
      await runStep(context, "test");
      return state;
    },
    async finish(context, state) {
      const { held } = readState(hookStateSchema, state, kind, "finish");
      const version = await publish(context, { baseVersion: held.baseVersion, staged: held.staged }, await pendingValue(context));
      return { version, state: { ...state, version } };
    },
    async retire(context) {
      await runStep(context, "retire");
    },
    async rollback(context, state: StepState) {
      if (state["held"] === undefined) return;
      await runStep(context, "rollback");
    },
  };
}
