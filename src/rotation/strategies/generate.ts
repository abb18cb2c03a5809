import * as z from "zod";

import { generateValue } from "../generate-value.js";
import { discardHeld, heldState, holdPending, pendingValue, publish, verifyStaged } from "../holder.js";
import { heldSchema, readState } from "../state.js";
import type { RotationStrategy, StepState } from "../strategy.js";

/**
 * `generate`: a random value (length and alphabet from the rule) written as a new version to the
 * backend that holds the path. The backend is the only system involved, so:
 * - create keeps the value as pending (staged as AWSPENDING on an AWS mount);
 * - set has nothing further to change; test reads a staged value back;
 * - finish writes the new version (or promotes the staged one);
 * - rollback discards a staged version; a value only kept as pending is dropped with the rotation.
 * Grace: the previous version stays readable by version number; the broker stops serving it
 * once the grace ends. No retire step.
 */

const stateSchema = z.object({ held: heldSchema });

function held(state: StepState, step: string) {
  const { held } = readState(stateSchema, state, "generate", step);
  return { baseVersion: held.baseVersion, staged: held.staged };
}

export const generateStrategy: RotationStrategy<"generate"> = {
  kind: "generate",

  async create(context) {
    const { held } = await holdPending(context, generateValue(context.options));
    return { held: heldState(held) };
  },

  set(_context, state) {
    return Promise.resolve(state);
  },

  async test(context, state) {
    await verifyStaged(context, held(state, "test"), await pendingValue(context));
    return state;
  },

  async finish(context, state) {
    const version = await publish(context, held(state, "finish"), await pendingValue(context));
    return { version, state: { ...state, version } };
  },

  async rollback(context, state) {
    if (state["held"] === undefined) return;
    await discardHeld(context, held(state, "rollback"));
  },
};
