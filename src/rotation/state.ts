import * as z from "zod";

import { BrokerError } from "../errors.js";
import type { StepState } from "./strategy.js";

/**
 * Step states come back from the database after a restart: each strategy reads them through a
 * zod schema, so a state from another strategy or a damaged row is a clear error, not a crash.
 */
export function readState<S extends z.ZodType>(schema: S, state: StepState, strategy: string, step: string): z.output<S> {
  const parsed = schema.safeParse(state);
  if (!parsed.success) {
    throw new BrokerError("conflict", `rotation state for ${strategy} does not hold what step ${step} needs; roll the rotation back`, {
      detail: parsed.error.message,
    });
  }
  return parsed.data;
}

/** A staged version in the backend (AWSPENDING), as create records it. */
export const stagedSchema = z.object({ version: z.number().int(), versionId: z.string().min(1) });

/** The holder part of a state (see holder.ts). */
export const heldSchema = z.object({ baseVersion: z.number().int().min(0), staged: stagedSchema.optional() });
