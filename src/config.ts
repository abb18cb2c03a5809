/**
 * Broker configuration: one zod schema over the YAML file and CREDBROKER_* environment overrides,
 * parsed once at start. Every problem is reported together; unknown keys are rejected.
 *
 * Environment: `CREDBROKER_<KEY>` sets a top-level key (`CREDBROKER_LISTEN`, `CREDBROKER_DATABASE`,
 * `CREDBROKER_POLICIES`, `CREDBROKER_MASTER_KEY_FILE`, `CREDBROKER_TOKEN_TTL`, ...); nested keys use a
 * double underscore (`CREDBROKER_LEASE__DEFAULT_TTL`); values are read as YAML, so
 * `CREDBROKER_MOUNTS='[{path: kv/, backend: vault}]'` works. The client-side variables
 * (CREDBROKER_URL, CREDBROKER_TOKEN, CREDBROKER_CLIENT_*) are not configuration keys.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { BrokerError } from "./errors.js";
import { durationSeconds as duration } from "./backends/mount-options.js";
import { mountSchema } from "./backends/registry.js";
import { checkpointSinkSchema } from "./audit/sinks/registry.js";

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "listen must be host:port, e.g. 127.0.0.1:8787")
  .refine((value) => Number(value.slice(value.lastIndexOf(":") + 1)) <= 65535, "port out of range");

const database = z
  .string()
  .refine((value) => value.startsWith("sqlite:") || /^postgres(ql)?:\/\//.test(value), "database must be sqlite:PATH or a postgres:// URL");

/** Defaults of `audit.checkpoint_every` (records) and `audit.checkpoint_interval` (seconds). */
const DEFAULT_CHECKPOINT_EVERY = 1000;
const DEFAULT_CHECKPOINT_INTERVAL = 300;
/** Default of `lease.retention`: a week of ended leases stays listable (`?all=true`) for investigations. */
const DEFAULT_LEASE_RETENTION = 7 * 86400;
/** Default of `lease.purge_interval`. */
const DEFAULT_PURGE_INTERVAL = 10 * 60;
/** Default of `rate_limit.requests`: per source address, every route but the probes. */
const DEFAULT_REQUEST_BUDGET = { per_second: 200, burst: 10_000 };
const requestBudget = z
  .object({ per_second: z.number().positive().default(DEFAULT_REQUEST_BUDGET.per_second), burst: z.number().int().positive().default(DEFAULT_REQUEST_BUDGET.burst) })
  .strict();

/** Default of `events.max_streams_per_server`. */
const DEFAULT_MAX_STREAMS_PER_SERVER = 10;

const configSchema = z
  .object({
    listen: listen.default("127.0.0.1:8787"),
    /** The URL clients use to reach the broker; the token issuer and assertion audience. */
    public_url: z.url().optional(),
    database: database.default("sqlite:./.credbroker/credbroker.db"),
    policies: z.string().min(1).default("./policies"),
    master_key_file: z.string().min(1).optional(),
    token_ttl: duration.default(15 * 60),
    signing_key_overlap: duration.default(60 * 60),
    lease: z
      .object({
        default_ttl: duration.default(15 * 60),
        max_ttl: duration.default(24 * 3600),
        /** How long an ended (expired or revoked) lease is kept before the purge job deletes it, seconds. */
        retention: duration.default(DEFAULT_LEASE_RETENTION),
        /** Time between two runs of the lease purge job (on whichever broker runs it), seconds. */
        purge_interval: duration.default(DEFAULT_PURGE_INTERVAL),
      })
      .strict()
      .default({ default_ttl: 15 * 60, max_ttl: 24 * 3600, retention: DEFAULT_LEASE_RETENTION, purge_interval: DEFAULT_PURGE_INTERVAL }),
    rate_limit: z
      .object({
        /** The token endpoint's budget per source address (on top of `requests`). */
        per_second: z.number().positive().default(5),
        burst: z.number().int().positive().default(20),
        max_failures: z.number().int().positive().default(10),
        failure_window: duration.default(300),
        lockout: duration.default(900),
        /**
         * Every route's budget per source address (GET /healthz, /readyz and /metrics are exempt);
         * a batch read costs one per name. Room for many servers behind one address starting at
         * once; see docs/security.md "Rate limits and flooding".
         */
        requests: requestBudget.default(DEFAULT_REQUEST_BUDGET),
        /** Repeated unauthenticated refusals from one source are audited once per this window, then as one record with a count. */
        refusal_window: duration.default(60),
        /** Refusals of one kind from one source recorded one by one in a window before the rest are only counted. */
        refusals_recorded: z.number().int().min(1).default(1),
      })
      .strict()
      .default({ per_second: 5, burst: 20, max_failures: 10, failure_window: 300, lockout: 900, requests: DEFAULT_REQUEST_BUDGET, refusal_window: 60, refusals_recorded: 1 }),
    max_body_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
    /** Take the client address from X-Forwarded-For (only behind a trusted proxy). */
    trust_proxy: z.boolean().default(false),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    metrics: z
      .object({
        /**
         * Label allowed secret reads with the secret's path. Off by default: /metrics is usually
         * open to whoever can reach it, and secret paths are the broker's inventory.
         */
        secret_label: z.boolean().default(false),
        /** A file holding the bearer token GET /metrics then requires (Prometheus `credentials_file`). */
        token_file: z.string().min(1).optional(),
      })
      .strict()
      .default({ secret_label: false }),
    events: z
      .object({
        /**
         * Open GET /v1/events streams one server may hold on one broker; one more is a 429
         * `too_many_streams`. Room for a few replicas of a server and the SDK's hand-off (it opens
         * the next stream before the old one ends).
         */
        max_streams_per_server: z.number().int().min(1).max(10_000).default(DEFAULT_MAX_STREAMS_PER_SERVER),
      })
      .strict()
      .default({ max_streams_per_server: DEFAULT_MAX_STREAMS_PER_SERVER }),
    audit: z
      .object({
        /** Sign a checkpoint of the chain's head after this many records written by this broker. */
        checkpoint_every: z.number().int().min(1).max(1_000_000).default(DEFAULT_CHECKPOINT_EVERY),
        /** And at least this often while records are written (seconds, or `5m`); also at a clean shutdown. */
        checkpoint_interval: duration.default(DEFAULT_CHECKPOINT_INTERVAL),
        /** Where checkpoints go; default: a file beside the SQLite database (none with PostgreSQL: name one). */
        checkpoint_sinks: z.array(checkpointSinkSchema).optional(),
      })
      .strict()
      .default({ checkpoint_every: DEFAULT_CHECKPOINT_EVERY, checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL }),
    /** Path prefixes mapped to backends; each entry's options are its backend plug-in's schema (docs/backends.md). */
    mounts: z.array(mountSchema).default([]),
  })
  .strict()
  .superRefine((config, context) => {
    if (config.metrics.secret_label && config.metrics.token_file === undefined) {
      context.addIssue({
        code: "custom",
        path: ["metrics", "secret_label"],
        message: "metrics.secret_label needs metrics.token_file: secret paths would be readable by anyone who reaches /metrics",
      });
    }
    if (config.lease.default_ttl > config.lease.max_ttl) {
      context.addIssue({ code: "custom", path: ["lease", "default_ttl"], message: "lease.default_ttl exceeds lease.max_ttl" });
    }
    if (!config.database.startsWith("sqlite:") && config.audit.checkpoint_sinks?.some((sink) => sink.type === "file" && sink.checkpoint_file === undefined)) {
      context.addIssue({ code: "custom", path: ["audit", "checkpoint_sinks"], message: "a file sink needs checkpoint_file when the database is PostgreSQL" });
    }
    const seen = new Set<string>();
    config.mounts.forEach((entry, index) => {
      if (seen.has(entry.path)) context.addIssue({ code: "custom", path: ["mounts", index, "path"], message: `mount ${entry.path} defined twice` });
      seen.add(entry.path);
    });
  });

export type BrokerConfig = z.output<typeof configSchema>;
export type BrokerConfigInput = z.input<typeof configSchema>;

const CLIENT_VARIABLES = new Set(["URL", "TOKEN", "CLIENT_ID", "CLIENT_SECRET", "PRIVATE_KEY_FILE", "MASTER_KEY"]);

/** The configuration overrides found in the environment, as a nested object. */
function environmentOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  const topLevel = new Set(Object.keys(configSchema.shape));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("CREDBROKER_") || raw === undefined) continue;
    const key = name.slice("CREDBROKER_".length);
    if (CLIENT_VARIABLES.has(key)) continue;
    const path = key.toLowerCase().split("__");
    if (!topLevel.has(path[0]!)) {
      throw new BrokerError("invalid_request", `${name} is not a configuration key (known: ${[...topLevel].join(", ")})`);
    }
    let target = overrides;
    for (const segment of path.slice(0, -1)) target = (target[segment] ??= {}) as Record<string, unknown>;
    target[path.at(-1)!] = parseYaml(raw) as unknown;
  }
  return overrides;
}

function merge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      value && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object" && !Array.isArray(current)
        ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** Validates raw configuration; throws one BrokerError listing every problem. */
export function parseConfig(raw: unknown, source = "configuration"): BrokerConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new BrokerError("invalid_request", `${source} is invalid:\n  ${problems.join("\n  ")}`);
}

/**
 * Loads the config file (optional) plus environment overrides. Relative paths inside the file
 * resolve against the file's directory.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, extra: Record<string, unknown> = {}): BrokerConfig {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new BrokerError("invalid_request", `cannot read config file ${file}`, { cause: error });
    }
    const parsed = parseYaml(text) as unknown;
    if (parsed !== null && parsed !== undefined && (typeof parsed !== "object" || Array.isArray(parsed))) {
      throw new BrokerError("invalid_request", `config file ${file} must be a YAML mapping`);
    }
    fromFile = resolvePaths((parsed ?? {}) as Record<string, unknown>, dirname(resolve(file)));
  }
  return parseConfig(merge(merge(extra, fromFile), environmentOverrides(env)), file ?? "configuration");
}

/**
 * Makes the file's relative paths absolute against `base` (the file's folder): `policies`, a
 * `sqlite:` database, and every option named `*_file` at any depth (`master_key_file`,
 * `metrics.token_file`, a mount's `tls_ca_file`, `auth.token_file`, `auth.approle.role_id_file`...),
 * so a config means the same whatever folder the broker is started from. Overrides from the
 * environment are not touched: they resolve against the working directory, like a shell's paths.
 */
function resolvePaths(raw: Record<string, unknown>, base: string): Record<string, unknown> {
  const absolute = (value: unknown) => (typeof value === "string" && !isAbsolute(value) ? resolve(base, value) : value);
  const out = resolveFileOptions(raw, absolute);
  if (typeof out.policies === "string") out.policies = absolute(out.policies);
  if (typeof out.database === "string" && out.database.startsWith("sqlite:") && out.database !== "sqlite::memory:") {
    out.database = `sqlite:${absolute(out.database.slice("sqlite:".length)) as string}`;
  }
  return out;
}

function resolveFileOptions(node: Record<string, unknown>, absolute: (value: unknown) => unknown): Record<string, unknown> {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === "object") return resolveFileOptions(value as Record<string, unknown>, absolute);
    return value;
  };
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, key.endsWith("_file") ? absolute(value) : walk(value)]));
}
