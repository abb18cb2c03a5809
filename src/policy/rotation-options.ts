import * as z from "zod";

import { boundedDuration, secretPath, strictMap } from "./schema-parts.js";

/**
 * The options of each rotation strategy as a policy file writes them (`strategy: { KIND: {...} }`),
 * validated here so that `policy check` reports a bad option at its line, and typed for the
 * strategies in src/rotation/strategies/, which receive the parsed output. Pure data and checks:
 * nothing here does I/O, so the policy layer stays pure.
 */

/** Every strategy kind; src/rotation/registry.ts must have a strategy for each. */
export const STRATEGY_KINDS = ["generate", "postgres-password", "vault-kv", "aws", "command", "webhook"] as const;
export type StrategyKind = (typeof STRATEGY_KINDS)[number];

// ---------------------------------------------------------------------------------------------
// Generated values

/** Named alphabets for generated values. */
export const CHARSETS = {
  alphanumeric: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
  hex: "0123456789abcdef",
  base64url: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
} as const;
export type Charset = keyof typeof CHARSETS;

/** Character classes a generated value can be required to contain at least once. */
export const CHARACTER_CLASSES = ["lower", "upper", "digit", "symbol"] as const;
export type CharacterClass = (typeof CHARACTER_CLASSES)[number];

/** Whether `char` (one printable ASCII character) is of `kind`. */
export function isOfClass(char: string, kind: CharacterClass): boolean {
  switch (kind) {
    case "lower":
      return char >= "a" && char <= "z";
    case "upper":
      return char >= "A" && char <= "Z";
    case "digit":
      return char >= "0" && char <= "9";
    case "symbol":
      return !/^[A-Za-z0-9]$/.test(char);
  }
}

/** The least entropy a generated value may have, in bits (length × log2(alphabet size)). */
export const MIN_ENTROPY_BITS = 128;
const DEFAULT_LENGTH = 32;

/** How a new random value is made: `length` characters drawn uniformly from `alphabet`. */
export interface ValueSpec {
  /** Characters, 16..4096. */
  readonly length: number;
  /** Distinct printable ASCII characters (0x21..0x7e). */
  readonly alphabet: string;
  /** Classes the value must contain at least once each (drawn again until it does). */
  readonly require: readonly CharacterClass[];
}

const valueSpec = strictMap({
  length: z.number().int().min(16).max(4096).optional(),
  charset: z.enum(Object.keys(CHARSETS) as [Charset, ...Charset[]]).optional(),
  alphabet: z.string().optional(),
  require: z.array(z.enum(CHARACTER_CLASSES)).min(1).optional(),
})
  .superRefine(
    (value, ctx) => {
      if (value.charset !== undefined && value.alphabet !== undefined) {
        ctx.addIssue({ code: "custom", path: ["alphabet"], message: "set either charset or alphabet, not both" });
        return;
      }
      const alphabet = value.alphabet ?? CHARSETS[value.charset ?? "alphanumeric"];
      if (value.alphabet !== undefined) {
        const problem = alphabetProblem(value.alphabet);
        if (problem !== undefined) {
          ctx.addIssue({ code: "custom", path: ["alphabet"], message: problem });
          return;
        }
      }
      const length = value.length ?? DEFAULT_LENGTH;
      const bits = Math.floor(length * Math.log2(alphabet.length));
      // A length out of range has its own problem already.
      if (Number.isInteger(length) && length >= 16 && bits < MIN_ENTROPY_BITS) {
        ctx.addIssue({
          code: "custom",
          path: ["length"],
          message: `${length} characters from an alphabet of ${alphabet.length} give ${bits} bits; at least ${MIN_ENTROPY_BITS} are needed (use a longer length)`,
        });
      }
      for (const kind of value.require ?? []) {
        if (![...alphabet].some((char) => isOfClass(char, kind))) {
          ctx.addIssue({ code: "custom", path: ["require"], message: `require ${kind}: the alphabet has no ${kind} character` });
        }
      }
    },
    { when: () => true },
  )
  .transform(
    (value): ValueSpec => ({
      length: value.length ?? DEFAULT_LENGTH,
      alphabet: value.alphabet ?? CHARSETS[value.charset ?? "alphanumeric"],
      require: [...new Set(value.require ?? [])],
    }),
  );

function alphabetProblem(alphabet: string): string | undefined {
  if ([...alphabet].some((char) => char < "!" || char > "~")) return "alphabet must hold printable ASCII characters only (no spaces, quotes are allowed)";
  if (new Set(alphabet).size !== alphabet.length) return "alphabet must not repeat a character (a repeated one would be drawn more often)";
  if (alphabet.length < 2) return "alphabet needs at least 2 characters";
  return undefined;
}

/** The value spec of a strategy that sets none (32 alphanumeric characters). */
const DEFAULT_VALUE: ValueSpec = Object.freeze({ length: DEFAULT_LENGTH, alphabet: CHARSETS.alphanumeric, require: Object.freeze([]) });
const optionalValueSpec = valueSpec.optional().transform((spec) => spec ?? DEFAULT_VALUE);

// ---------------------------------------------------------------------------------------------
// Steps handed to an operator's program or receiver

/** The steps a `command` or `webhook` hook can be called for; `set` is always one of them. */
export const HOOK_STEPS = ["set", "test", "rollback", "retire"] as const;
export type HookStep = (typeof HOOK_STEPS)[number];

const hookSteps = z
  .array(z.enum(HOOK_STEPS))
  .min(1)
  .optional()
  .superRefine((steps, ctx) => {
    if (steps !== undefined && !steps.includes("set")) ctx.addIssue({ code: "custom", message: "steps must include set (the hook is what applies the new value)" });
  })
  .transform((steps): readonly HookStep[] => [...new Set<HookStep>(steps ?? ["set"])]);

// ---------------------------------------------------------------------------------------------
// generate

export type GenerateOptions = ValueSpec;

// ---------------------------------------------------------------------------------------------
// postgres-password

/** Role names that PostgreSQL reserves or that name something other than one role. */
const RESERVED_ROLE_NAMES = new Set(["public", "none", "current_user", "current_role", "session_user", "all"]);
const ROLE_CHARS_RE = /^[A-Za-z_][A-Za-z0-9_$-]*$/;
/** PostgreSQL truncates longer identifiers (NAMEDATALEN 64, less the terminator). */
export const POSTGRES_IDENTIFIER_MAX_BYTES = 63;

/**
 * Why `name` may not be a role that the postgres-password strategy changes, or undefined when it
 * may. Quoting makes any name safe to put in SQL; this refuses names that are safe but wrong: one
 * PostgreSQL would truncate into another role's name, reserved names, `pg_` roles, and characters
 * beyond letters, digits, `_`, `$` and `-` (which no legitimate application role needs).
 */
export function postgresRoleProblem(name: string): string | undefined {
  if (name.length === 0) return "a role name cannot be empty";
  if (Buffer.byteLength(name, "utf8") > POSTGRES_IDENTIFIER_MAX_BYTES) {
    return `a role name is at most ${POSTGRES_IDENTIFIER_MAX_BYTES} bytes (PostgreSQL would truncate it to another name)`;
  }
  if (!ROLE_CHARS_RE.test(name)) return `use letters, digits, "_", "$" and "-", starting with a letter or "_"`;
  if (/^pg_/i.test(name)) return `roles starting with "pg_" are PostgreSQL's own`;
  if (RESERVED_ROLE_NAMES.has(name.toLowerCase())) return `"${name}" is reserved by PostgreSQL`;
  return undefined;
}

const postgresRole = z.string().superRefine((name, ctx) => {
  const problem = postgresRoleProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: `invalid role ${JSON.stringify(name)}: ${problem}` });
});

/** What the secret's value holds after a rotation. */
export const POSTGRES_VALUE_FORMATS = ["password", "url", "fields"] as const;
export type PostgresValueFormat = (typeof POSTGRES_VALUE_FORMATS)[number];

export interface PostgresPasswordOptions {
  /** `postgresql://user@host:port/db`, without a password (that is `passwordSecret`). */
  readonly connectionUrl: string;
  /** The user in connectionUrl (the role that runs ALTER ROLE). */
  readonly connectionUser: string;
  /** Broker secret holding the connection user's password. */
  readonly passwordSecret: string;
  /** One role, or two that alternate (the new password goes to the idle one). */
  readonly roles: readonly [string] | readonly [string, string];
  readonly value: PostgresValueFormat;
  readonly connectTimeoutSeconds: number;
  readonly generate: ValueSpec;
}

const postgresUrl = z.string().superRefine((text, ctx) => {
  const problem = postgresUrlProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

function postgresUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "connection_url must be a URL such as postgresql://broker_admin@127.0.0.1:5432/app";
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return "connection_url must start with postgresql:// or postgres://";
  if (url.password !== "") return "connection_url must not hold a password: name a broker secret in password_secret";
  if (url.username === "") return "connection_url must name the user that changes passwords (postgresql://USER@host/db)";
  if (url.hostname === "") return "connection_url must name a host";
  return undefined;
}

const postgresPassword = strictMap({
  connection_url: postgresUrl,
  password_secret: secretPath,
  role: postgresRole.optional(),
  alternate: z.array(postgresRole).length(2, { error: "alternate names exactly two roles" }).optional(),
  value: z.enum(POSTGRES_VALUE_FORMATS).optional(),
  connect_timeout: boundedDuration("connect_timeout", 300, "5m").optional(),
  generate: optionalValueSpec,
})
  .superRefine(
    (value, ctx) => {
      const hasRole = value.role !== undefined;
      const hasAlternate = value.alternate !== undefined;
      if (hasRole === hasAlternate) ctx.addIssue({ code: "custom", message: "set either role or alternate: [role_a, role_b]" });
      const [first, second] = value.alternate ?? [];
      if (first !== undefined && first === second) ctx.addIssue({ code: "custom", path: ["alternate"], message: "alternate needs two different roles" });
      if (hasAlternate && value.value === "password") {
        ctx.addIssue({ code: "custom", path: ["value"], message: "with alternate the value must name the user too: use url or fields" });
      }
      const user = connectionUser(value.connection_url);
      const targets = value.alternate ?? (value.role === undefined ? [] : [value.role]);
      if (user !== undefined && targets.includes(user)) {
        ctx.addIssue({ code: "custom", message: `the connection user ${JSON.stringify(user)} cannot rotate its own password (its password_secret would go stale)` });
      }
    },
    { when: () => true },
  )
  .transform(
    (value): PostgresPasswordOptions => ({
      connectionUrl: value.connection_url,
      connectionUser: connectionUser(value.connection_url) ?? "",
      passwordSecret: value.password_secret,
      roles: value.alternate !== undefined ? [value.alternate[0]!, value.alternate[1]!] : [value.role ?? ""],
      value: value.value ?? (value.alternate !== undefined ? "fields" : "password"),
      connectTimeoutSeconds: value.connect_timeout ?? 10,
      generate: value.generate,
    }),
  );

function connectionUser(text: unknown): string | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const user = decodeURIComponent(new URL(text).username);
    return user === "" ? undefined : user;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// vault-kv

export interface VaultKvOptions {
  /** KV keys to give new values; every other key of the map is copied unchanged. */
  readonly keys: Readonly<Record<string, ValueSpec>>;
}

const KV_KEY_RE = /^[A-Za-z0-9._+=@-]{1,128}$/;

const vaultKv = strictMap({
  keys: z
    .record(z.string(), valueSpec)
    .superRefine((keys, ctx) => {
      if (Object.keys(keys).length === 0) ctx.addIssue({ code: "custom", message: "keys must name at least one KV key to rotate, e.g. { password: { length: 40 } }" });
      for (const key of Object.keys(keys)) {
        if (!KV_KEY_RE.test(key)) ctx.addIssue({ code: "custom", path: [key], message: `invalid KV key ${JSON.stringify(key)}: use 1 to 128 letters, digits and ._+=@-` });
      }
    }),
}).transform((value): VaultKvOptions => ({ keys: value.keys }));

// ---------------------------------------------------------------------------------------------
// aws

export interface AwsOptions {
  /** `staged`: the broker makes the value (PutSecretValue AWSPENDING, test, AWSCURRENT); `lambda`: RotateSecret. */
  readonly mode: "staged" | "lambda";
  /** A key of the JSON SecretString to replace, keeping the others; undefined: the whole SecretString. */
  readonly key: string | undefined;
  readonly generate: ValueSpec;
}

const aws = strictMap({
  mode: z.enum(["staged", "lambda"]).optional(),
  key: z.string().regex(KV_KEY_RE, { error: "key must be 1 to 128 letters, digits and ._+=@-" }).optional(),
  generate: valueSpec.optional(),
})
  .superRefine(
    (value, ctx) => {
      if (value.mode === "lambda" && (value.key !== undefined || value.generate !== undefined)) {
        ctx.addIssue({ code: "custom", path: ["mode"], message: "mode lambda lets the rotation Lambda make the value: key and generate do not apply" });
      }
    },
    { when: () => true },
  )
  .transform((value): AwsOptions => ({ mode: value.mode ?? "staged", key: value.key, generate: value.generate ?? DEFAULT_VALUE }));

// ---------------------------------------------------------------------------------------------
// command

export interface CommandOptions {
  /** Program (absolute path) and arguments; run without a shell. */
  readonly argv: readonly [string, ...string[]];
  /** The program is killed after this long, in seconds (default 30, at most 600). */
  readonly timeoutSeconds: number;
  readonly steps: readonly HookStep[];
  readonly generate: ValueSpec;
}

const command = strictMap({
  argv: z
    .array(z.string().min(1))
    .min(1)
    .superRefine((argv, ctx) => {
      const program = argv[0];
      if (program !== undefined && !program.startsWith("/")) {
        ctx.addIssue({ code: "custom", path: [0], message: `the program must be an absolute path (got ${JSON.stringify(program)}): it runs without a shell or PATH lookup` });
      }
    }),
  timeout: boundedDuration("timeout", 600, "10m").optional(),
  steps: hookSteps,
  generate: optionalValueSpec,
}).transform(
  (value): CommandOptions => ({
    argv: [value.argv[0]!, ...value.argv.slice(1)],
    timeoutSeconds: value.timeout ?? 30,
    steps: value.steps,
    generate: value.generate,
  }),
);

// ---------------------------------------------------------------------------------------------
// webhook

export interface WebhookOptions {
  readonly url: string;
  /** Broker secret holding the HMAC-SHA256 signing key shared with the receiver. */
  readonly signingKeySecret: string;
  /** Per attempt, in seconds (default 10, at most 60). */
  readonly timeoutSeconds: number;
  /** Further attempts after a failed one (network error, 5xx, 429), 0..5 (default 2). */
  readonly retries: number;
  readonly steps: readonly HookStep[];
  readonly generate: ValueSpec;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

function webhookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "webhook url must be an http:// or https:// URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "webhook url must be an http:// or https:// URL";
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    return "webhook url must use https:// (http:// only for localhost, 127.0.0.1 and [::1]): the request carries the new value";
  }
  if (url.username !== "" || url.password !== "") return "webhook url must not hold credentials: requests are signed with signing_key_secret";
  return undefined;
}

const webhook = strictMap({
  url: z.string().superRefine((text, ctx) => {
    const problem = webhookUrlProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  }),
  signing_key_secret: secretPath,
  timeout: boundedDuration("timeout", 60, "1m").optional(),
  retries: z.number().int().min(0).max(5).optional(),
  steps: hookSteps,
  generate: optionalValueSpec,
}).transform(
  (value): WebhookOptions => ({
    url: value.url,
    signingKeySecret: value.signing_key_secret,
    timeoutSeconds: value.timeout ?? 10,
    retries: value.retries ?? 2,
    steps: value.steps,
    generate: value.generate,
  }),
);

// ---------------------------------------------------------------------------------------------
// The `strategy:` map

/** A rule's strategy after validation: its kind and its parsed options. */
export type StrategyConfig =
  | { readonly kind: "generate"; readonly options: GenerateOptions }
  | { readonly kind: "postgres-password"; readonly options: PostgresPasswordOptions }
  | { readonly kind: "vault-kv"; readonly options: VaultKvOptions }
  | { readonly kind: "aws"; readonly options: AwsOptions }
  | { readonly kind: "command"; readonly options: CommandOptions }
  | { readonly kind: "webhook"; readonly options: WebhookOptions };

/** The parsed options of strategy kind `K`. */
export type StrategyOptions<K extends StrategyKind> = Extract<StrategyConfig, { kind: K }>["options"];

/** `strategy: { KIND: {options} }`: exactly one kind, its options checked by that kind's schema. */
export const strategySchema = strictMap({
  generate: valueSpec.optional(),
  "postgres-password": postgresPassword.optional(),
  "vault-kv": vaultKv.optional(),
  aws: aws.optional(),
  command: command.optional(),
  webhook: webhook.optional(),
})
  .superRefine(
    (value, ctx) => {
      const present = STRATEGY_KINDS.filter((kind) => value[kind] !== undefined);
      if (present.length !== 1) {
        ctx.addIssue({
          code: "custom",
          message: `strategy must have exactly one of: ${STRATEGY_KINDS.join(", ")}${present.length > 1 ? ` (found ${present.join(", ")})` : ""}`,
        });
      }
    },
    // Run even when a strategy's own options are wrong, so every problem is reported at once.
    { when: () => true },
  )
  .transform((value): StrategyConfig => {
    if (value.generate) return { kind: "generate", options: value.generate };
    if (value["postgres-password"]) return { kind: "postgres-password", options: value["postgres-password"] };
    if (value["vault-kv"]) return { kind: "vault-kv", options: value["vault-kv"] };
    if (value.aws) return { kind: "aws", options: value.aws };
    if (value.command) return { kind: "command", options: value.command };
    if (value.webhook) return { kind: "webhook", options: value.webhook };
    // The refinement above guarantees exactly one strategy; reaching here is a bug, not bad input.
    throw new TypeError("rotation strategy without a kind passed validation");
  });
