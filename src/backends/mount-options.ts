/**
 * Configuration pieces every mount kind's schema is built from: the mount path, durations and
 * timeouts, the options every remote mount shares, and names of variables and files holding the
 * broker's own credentials (never the credentials themselves).
 */
import { z } from "zod";
import { durationProblem } from "../policy/duration.js";

/** A duration: `90s`, `15m`, `24h`, `7d`, or a whole number of seconds. Output: seconds. */
export const durationSeconds = z.union([z.string(), z.number().int().positive()]).transform((value, context) => {
  if (typeof value === "number") return value;
  const parsed = durationProblem(value);
  if (typeof parsed === "string") {
    context.addIssue({ code: "custom", message: parsed });
    return z.NEVER;
  }
  return parsed.seconds;
});

export const mountPath = z.string().regex(/^([A-Za-z0-9._+=@-]+\/)+$/, "a mount path is one or more segments ending in /, e.g. kv/");

/** A timeout: `250ms`, `2s`, `1m`, or a number of seconds (0.5). Output: milliseconds. */
const milliseconds = z.union([z.string(), z.number().positive()]).transform((value, context) => {
  if (typeof value === "number") return Math.max(1, Math.round(value * 1000));
  const ms = /^(\d+)ms$/.exec(value);
  if (ms) {
    const count = Number(ms[1]);
    if (count > 0) return count;
    context.addIssue({ code: "custom", message: "must be longer than zero" });
    return z.NEVER;
  }
  const parsed = durationProblem(value);
  if (typeof parsed === "string") {
    context.addIssue({ code: "custom", message: `${parsed}, or milliseconds such as 500ms` });
    return z.NEVER;
  }
  return parsed.seconds * 1000;
});

/** Options every remote mount shares: deadline per call, circuit breaker, value cache. */
export const remoteOptions = {
  timeout: milliseconds.default(5000),
  circuit_breaker: z
    .object({ failure_threshold: z.number().int().min(1).max(1000).default(5), cooldown: durationSeconds.default(30) })
    .strict()
    .default({ failure_threshold: 5, cooldown: 30 }),
  /** `max_entries: 0` turns the cache off. */
  cache: z
    .object({ max_age: durationSeconds.default(30), max_entries: z.number().int().min(0).max(1_000_000).default(1000) })
    .strict()
    .default({ max_age: 30, max_entries: 1000 }),
};

/** The parsed remote options, as the breaker, guard and cache of a mount are built from them. */
export interface RemoteOptions {
  path: string;
  timeout: number;
  circuit_breaker: { failure_threshold: number; cooldown: number };
  cache: { max_age: number; max_entries: number };
}

export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");

/** A file path; relative ones in the config file resolve against its folder (see loadConfig). */
export const filePath = z.string().min(1);

/** Exactly one of the keys named in `keys` is set. */
export function exactlyOne(keys: readonly string[], what: string) {
  return (value: Record<string, unknown>, context: z.RefinementCtx) => {
    const set = keys.filter((key) => value[key] !== undefined);
    if (set.length !== 1) context.addIssue({ code: "custom", message: `${what}: set exactly one of ${keys.join(", ")}` });
  };
}
