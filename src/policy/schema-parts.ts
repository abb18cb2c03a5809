import * as z from "zod";

import { durationProblem } from "./duration.js";
import { isValidSecretPath } from "./glob.js";

/** Building blocks shared by the policy file schema (schema.ts) and the rotation options (rotation-options.ts). */

/**
 * Prefix of the message that a strict object gives its unknown keys; the loader splits such an
 * issue into one problem per key and writes `unknown key "x" (expected one of: ...)`.
 */
export const EXPECTED_KEYS_PREFIX = "expected one of: ";

/** A strict object whose unknown-key message lists the keys it does accept. */
export function strictMap<Shape extends z.ZodRawShape>(shape: Shape) {
  const expected = EXPECTED_KEYS_PREFIX + Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) => (issue.code === "unrecognized_keys" ? expected : undefined),
  });
}

/** A duration such as `15m`, turned into whole seconds. */
export const duration = z.unknown().transform((text, ctx) => {
  const parsed = durationProblem(text);
  if (typeof parsed === "string") {
    const shown = typeof text === "string" ? ` ${JSON.stringify(text)}` : "";
    ctx.addIssue({ code: "custom", message: `invalid duration${shown}: ${parsed}` });
    return z.NEVER;
  }
  return parsed.seconds;
});

/** A duration in seconds no longer than `maxSeconds` (`what` names it in the message, e.g. "timeout"). */
export function boundedDuration(what: string, maxSeconds: number, maxText: string) {
  return duration.refine((seconds) => seconds <= maxSeconds, { message: `${what} must be at most ${maxText}` });
}

/** One secret path written out in full (no glob, no `#key`): a broker secret a strategy reads. */
export const secretPath = z.string().refine((path) => isValidSecretPath(path) && !path.includes("#"), {
  error: (issue) => `invalid secret path ${JSON.stringify(issue.input)}: use segments of letters, digits and ._+=@- joined by "/", without "#key"`,
});
