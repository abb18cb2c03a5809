import type { HookStep } from "../policy/rotation-options.js";
import { pendingValue, readCurrent, type HolderContext } from "./holder.js";

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
