import { CronExpressionParser } from "cron-parser";
import * as z from "zod";

import { parseCidr } from "./cidr.js";
import { formatDuration } from "./duration.js";
import { validateGlob } from "./glob.js";
import { strategySchema, type StrategyConfig } from "./rotation-options.js";
import { cronRunsInWindow, parseWindow, shortestCronIntervalSeconds, timeZoneProblem } from "./rotation-schedule.js";
import { duration, strictMap } from "./schema-parts.js";
import { ADMIN_ROLE, APPROVAL_ACTIONS, OPERATOR_PERMISSIONS, SERVER_ACTIONS } from "./types.js";

/**
 * The shape of one policy file (policies/*.yaml), as zod schemas. Everything a single file can
 * know is checked here; rules that span files (role defined twice, approval role unknown) are
 * checked in roles.ts.
 *
 * Every object is strict, so a misspelt key (`max-ttl`, `action`) is a problem rather than a
 * silently ignored grant or restriction.
 */

export const SERVER_ID_RE = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const ROLE_NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * Custom issues with these params point at the map key rather than its value (a bad server id
 * is a problem of the key `Bad:`, not of the rules under it).
 */
export const AT_KEY = { at: "key" } as const;

/**
 * A map whose keys are checked in a refinement rather than by a key schema, so the values under
 * a bad key are still validated and every problem is reported in one pass.
 */
function keyedMap<Value extends z.ZodType>(value: Value, keyProblem: (key: string) => string | undefined) {
  return z.record(z.string(), value).superRefine(
    (map, ctx) => {
      for (const key of Object.keys(map)) {
        const message = keyProblem(key);
        if (message !== undefined) ctx.addIssue({ code: "custom", path: [key], params: AT_KEY, message });
      }
    },
    { when: () => true },
  );
}

const secretGlob = z.string().superRefine((pattern, ctx) => {
  const problem = validateGlob(pattern);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: `invalid secret glob ${JSON.stringify(pattern)}: ${problem}` });
});

const secretGlobs = z.array(secretGlob).min(1);

const cidr = z.string().superRefine((text, ctx) => {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: `invalid source_cidr ${JSON.stringify(text)}: ${parsed}` });
});

const cron = z.string().superRefine((expression, ctx) => {
  if (expression.trim() === "") {
    ctx.addIssue({ code: "custom", message: "cron expression is empty" });
    return;
  }
  try {
    CronExpressionParser.parse(expression);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    ctx.addIssue({ code: "custom", message: `invalid cron expression ${JSON.stringify(expression)}: ${reason}` });
  }
});

const condition = strictMap({
  source_cidr: z.array(cidr).min(1).optional(),
});

const allowRule = strictMap({
  secrets: secretGlobs,
  actions: z.array(z.enum(SERVER_ACTIONS)).min(1),
  max_ttl: duration.optional(),
  when: condition.optional(),
});

// No max_ttl: a deny grants nothing, so a lease limit on it would mean nothing.
const denyRule = strictMap({
  secrets: secretGlobs,
  actions: z.array(z.enum(SERVER_ACTIONS)).min(1).optional(),
  when: condition.optional(),
});


const server = strictMap({
  description: z.string().optional(),
  allow: z.array(allowRule).optional(),
  deny: z.array(denyRule).optional(),
});


/**
 * `credentials` (registering a server, rotating or adding its credentials) is about servers, the
 * other actions about secrets: a rule names the servers (id globs) or the secrets its actions touch.
 */
const approval = strictMap({
  actions: z.array(z.enum(APPROVAL_ACTIONS)).min(1),
  secrets: secretGlobs.optional(),
  servers: secretGlobs.optional(),
  approvers: strictMap({
    role: z.string(),
    count: z.number().int().min(1),
  }),
}).superRefine(
  (value, ctx) => {
    const onServers = value.actions.includes("credentials");
    const onSecrets = value.actions.some((action) => action !== "credentials");
    if (onServers && value.servers === undefined) ctx.addIssue({ code: "custom", message: "an approval rule for credentials needs servers (server id globs)" });
    if (!onServers && value.servers !== undefined) ctx.addIssue({ code: "custom", path: ["servers"], message: "servers applies to the credentials action only" });
    if (onSecrets && value.secrets === undefined) ctx.addIssue({ code: "custom", message: `an approval rule for ${value.actions.filter((a) => a !== "credentials").join(", ")} needs secrets` });
    if (!onSecrets && value.secrets !== undefined) ctx.addIssue({ code: "custom", path: ["secrets"], message: "secrets does not apply to the credentials action; name servers" });
  },
  { when: () => true },
);

const timeZone = z.string().superRefine((name, ctx) => {
  const problem = timeZoneProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

const rotationWindow = z.string().transform((text, ctx) => {
  const parsed = parseWindow(text);
  if (typeof parsed === "string") {
    ctx.addIssue({ code: "custom", message: `invalid window ${JSON.stringify(text)}: ${parsed}` });
    return z.NEVER;
  }
  return parsed;
});

/**
 * A rotation rule. Besides each field's own checks: a schedule (every or cron), a grace and a
 * due-soon notice no longer than the schedule's shortest interval, and no grace for a single
 * PostgreSQL role (it has one password, so the previous one stops working at once).
 */
const rotation = strictMap({
  secrets: secretGlobs,
  every: duration.optional(),
  cron: cron.optional(),
  timezone: timeZone.optional(),
  window: rotationWindow.optional(),
  strategy: strategySchema,
  grace: duration.optional(),
  notify_before: duration.optional(),
}).superRefine(
  (value, ctx) => {
    const hasEvery = value.every !== undefined;
    const hasCron = value.cron !== undefined;
    if (hasEvery && hasCron) {
      ctx.addIssue({ code: "custom", path: ["cron"], message: "set either every or cron, not both" });
    } else if (!hasEvery && !hasCron) {
      ctx.addIssue({ code: "custom", message: "a rotation rule needs a schedule: every (e.g. 90d) or cron" });
    }
    const interval = intervalOf(value.every, value.cron);
    if (interval !== undefined) {
      const { seconds, described } = interval;
      if (typeof value.grace === "number" && value.grace > seconds) {
        ctx.addIssue({ code: "custom", path: ["grace"], message: `grace ${formatDuration(value.grace)} is longer than the interval (${described}): the previous version would outlive the next rotation` });
      }
      if (typeof value.notify_before === "number" && value.notify_before >= seconds) {
        ctx.addIssue({ code: "custom", path: ["notify_before"], message: `notify_before ${formatDuration(value.notify_before)} must be shorter than the interval (${described})` });
      }
    }
    const zone = value.timezone ?? DEFAULT_TIME_ZONE;
    if (typeof value.cron === "string" && typeof value.window === "object" && value.window !== null && timeZoneProblem(zone) === undefined) {
      try {
        if (!cronRunsInWindow(value.cron, zone, value.window)) {
          ctx.addIssue({ code: "custom", path: ["window"], message: `no run of cron ${JSON.stringify(value.cron)} starts within the window (in ${zone}), so it would never rotate` });
        }
      } catch {
        // the cron field reports its own problem
      }
    }
    // `strategy` is only transformed when its options are valid; raw input has no `kind`.
    const strategy: StrategyConfig | undefined = value.strategy;
    if (strategy?.kind === "postgres-password" && strategy.options.roles.length === 1 && typeof value.grace === "number") {
      ctx.addIssue({
        code: "custom",
        path: ["grace"],
        message: "a single role has one password, so the previous one stops working at once: use alternate: [role_a, role_b] for a grace period",
      });
    }
  },
  { when: () => true },
);

/** The time zone of a rule that names none. */
export const DEFAULT_TIME_ZONE = "UTC";

/** The schedule's (shortest) interval, or undefined when the schedule itself is invalid or absent. */
function intervalOf(every: unknown, cronExpression: unknown): { seconds: number; described: string } | undefined {
  if (typeof every === "number") return { seconds: every, described: `every ${formatDuration(every)}` };
  if (typeof cronExpression !== "string") return undefined;
  try {
    const seconds = shortestCronIntervalSeconds(cronExpression);
    return seconds === undefined ? undefined : { seconds, described: `cron ${JSON.stringify(cronExpression)} runs as often as every ${formatDuration(seconds)}` };
  } catch {
    return undefined; // the cron field reports its own problem
  }
}

/** One policy file. All sections are optional; an empty file is a valid, empty policy. */
export const policyFileSchema = strictMap({
  servers: keyedMap(server, (id) =>
    SERVER_ID_RE.test(id)
      ? undefined
      : `invalid server id ${JSON.stringify(id)}: use 2 to 63 lowercase letters, digits and "-", starting with a letter or digit`,
  ).optional(),
  roles: keyedMap(z.array(z.enum(OPERATOR_PERMISSIONS)), (name) => {
    if (name === ADMIN_ROLE) return `the built-in role "admin" holds every permission and cannot be redefined`;
    if (!ROLE_NAME_RE.test(name)) {
      return `invalid role name ${JSON.stringify(name)}: use lowercase letters, digits, "_" and "-", starting with a letter`;
    }
    return undefined;
  }).optional(),
  approvals: z.array(approval).optional(),
  rotation: z.array(rotation).optional(),
});

/** A policy file after validation: durations are in seconds, everything else as written. */
export type PolicyFile = z.output<typeof policyFileSchema>;
export type AllowRuleInput = z.output<typeof allowRule>;
export type DenyRuleInput = z.output<typeof denyRule>;
export type RotationInput = z.output<typeof rotation>;
