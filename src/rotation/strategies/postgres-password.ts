import pg from "pg";
import * as z from "zod";

import { BrokerError } from "../../errors.js";
import type { PostgresPasswordOptions, PostgresValueFormat } from "../../policy/rotation-options.js";
import { postgresRoleProblem } from "../../policy/rotation-options.js";
import { generateValue } from "../generate-value.js";
import { heldState, holdPending, pendingValue, publish, readCurrent, type Held } from "../holder.js";
import { quoteIdentifier, quoteLiteral, scramVerifier } from "../sql.js";
import { heldSchema, readState } from "../state.js";
import type { RetiringStrategy, RotationContext, StepState } from "../strategy.js";

/**
 * `postgres-password`: ALTER ROLE ... PASSWORD on a PostgreSQL server, through a connection as
 * `connection_url`'s user whose password is the broker secret `password_secret`.
 *
 * - One role (`role`): set changes its password; the previous password stops working at once,
 *   so policy allows no grace. Rollback restores the previous password from the current version.
 * - Two roles (`alternate: [a, b]`): the new password goes to the role the current value does not
 *   name (the idle one), and the value names the user (`url` or `fields`), so consumers switch
 *   user and password together. finish sets the previous role's VALID UNTIL to now + grace, so
 *   it keeps logging in through the grace period and PostgreSQL refuses it after; retire ends it
 *   at once (VALID UNTIL now). Its password is left as it is: the next rotation replaces it.
 *
 * Passwords go to the server as SCRAM-SHA-256 verifiers, never in clear text. Role names are
 * checked again (policy did first) and quoted; every statement runs on its own short connection.
 */

const stateSchema = z.object({ held: heldSchema, role: z.string(), previousRole: z.string().nullable() });
type State = z.output<typeof stateSchema>;

type Context = RotationContext<"postgres-password">;

export const postgresPasswordStrategy: RetiringStrategy<"postgres-password"> = {
  kind: "postgres-password",

  async create(context) {
    const { options } = context;
    for (const role of options.roles) checkRole(role);
    const current = await readCurrent(context);
    const currentUser = current === undefined ? undefined : userOf(options, current.bytes);
    const [first, second] = options.roles;
    const role = second !== undefined && currentUser === first ? second : first;
    const previousRole = second === undefined ? null : role === first ? (currentUser === second ? second : null) : first;
    const password = generateValue(options.generate).toString("ascii");
    const { held } = await holdPending(context, formatValue(options, role, password));
    return { held: heldState(held), role, previousRole };
  },

  async set(context, state) {
    const { role } = parse(state, "set");
    const password = passwordOf(context.options, await pendingValue(context));
    await asAdmin(context, `ALTER ROLE ${quoteIdentifier(checkRole(role))} WITH LOGIN PASSWORD ${quoteLiteral(scramVerifier(password))} VALID UNTIL 'infinity'`);
    return state;
  },

  async test(context, state) {
    const { role } = parse(state, "test");
    const password = passwordOf(context.options, await pendingValue(context));
    const loggedIn = await withClient(context, role, password, "test", (client) => client.query<{ user: string }>("SELECT current_user AS user"));
    if (loggedIn.rows[0]?.user !== role) {
      throw new BrokerError("rotation_failed", `postgres-password: logging in as ${role} did not give that user`, { data: { target: target(context.options) } });
    }
    return state;
  },

  async finish(context, state) {
    const parsed = parse(state, "finish");
    const version = await publish(context, held(parsed), await pendingValue(context));
    if (parsed.previousRole !== null) {
      const until = new Date(context.clock() + context.graceSeconds * 1000).toISOString();
      await asAdmin(context, `ALTER ROLE ${quoteIdentifier(checkRole(parsed.previousRole))} VALID UNTIL ${quoteLiteral(until)}`);
    }
    return { version, state: { ...state, version } };
  },

  async retire(context, state) {
    const { previousRole } = parse(state, "retire");
    if (previousRole === null) return;
    const now = new Date(context.clock()).toISOString();
    await asAdmin(context, `ALTER ROLE ${quoteIdentifier(checkRole(previousRole))} VALID UNTIL ${quoteLiteral(now)}`);
  },

  async rollback(context, state) {
    if (state["role"] === undefined) return;
    const { role, previousRole } = parse(state, "rollback");
    const quoted = quoteIdentifier(checkRole(role));
    if (context.options.roles.length === 2) {
      // The idle role got a password nobody was given; take it away again.
      await asAdmin(context, `ALTER ROLE ${quoted} WITH PASSWORD NULL`);
      if (previousRole !== null) await asAdmin(context, `ALTER ROLE ${quoteIdentifier(checkRole(previousRole))} VALID UNTIL 'infinity'`);
      return;
    }
    // One role: finish has not run, so the current version still holds the password consumers use.
    const current = await readCurrent(context);
    const restored = current === undefined ? "NULL" : quoteLiteral(scramVerifier(passwordOf(context.options, current.bytes)));
    await asAdmin(context, `ALTER ROLE ${quoted} WITH PASSWORD ${restored}`);
  },
};

function parse(state: StepState, step: string): State {
  return readState(stateSchema, state, "postgres-password", step);
}

function held(state: State): Held {
  return { baseVersion: state.held.baseVersion, staged: state.held.staged };
}

function checkRole(role: string): string {
  const problem = postgresRoleProblem(role);
  if (problem !== undefined) throw new BrokerError("invalid_request", `postgres-password: invalid role ${JSON.stringify(role)}: ${problem}`);
  return role;
}

/** The broker value for `role` with `password`, in the rule's format. */
function formatValue(options: PostgresPasswordOptions, role: string, password: string): Buffer {
  switch (options.value) {
    case "password":
      return Buffer.from(password, "ascii");
    case "fields":
      return Buffer.from(JSON.stringify({ user: role, password }), "utf8");
    case "url": {
      const url = new URL(options.connectionUrl);
      url.username = encodeURIComponent(role);
      url.password = encodeURIComponent(password);
      return Buffer.from(url.toString(), "utf8");
    }
  }
}

function parseValue(format: PostgresValueFormat, value: Buffer): { user: string | undefined; password: string } {
  const text = value.toString("utf8");
  try {
    if (format === "password") return { user: undefined, password: text };
    if (format === "url") {
      const url = new URL(text);
      return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    }
    const fields = z.object({ user: z.string(), password: z.string() }).parse(JSON.parse(text));
    return fields;
  } catch {
    throw new BrokerError("invalid_request", `postgres-password: the secret's value is not in the ${format} format the rule names`);
  }
}

function passwordOf(options: PostgresPasswordOptions, value: Buffer): string {
  return parseValue(options.value, value).password;
}

function userOf(options: PostgresPasswordOptions, value: Buffer): string | undefined {
  return parseValue(options.value, value).user;
}

/** `postgres host:port/db`, for errors: never the user's password. */
function target(options: PostgresPasswordOptions): string {
  const url = new URL(options.connectionUrl);
  return `postgres ${url.hostname}:${url.port || "5432"}${url.pathname}`;
}

async function asAdmin(context: Context, sql: string): Promise<void> {
  const password = (await context.secrets.read(context.options.passwordSecret)).toString("utf8");
  await withClient(context, context.options.connectionUser, password, "admin", (client) => client.query(sql));
}

/**
 * Runs `work` on a fresh connection as `user`. `purpose` decides what a refused login means: the
 * broker's own credentials failing (`admin`: forbidden) or the new password failing (`test`).
 */
async function withClient<T>(context: Context, user: string, password: string, purpose: "admin" | "test", work: (client: pg.Client) => Promise<T>): Promise<T> {
  const { options } = context;
  const url = new URL(options.connectionUrl);
  const timeoutMs = options.connectTimeoutSeconds * 1000;
  // Explicit fields rather than connectionString, whose parse would override the password.
  const sslmode = url.searchParams.get("sslmode");
  const client = new pg.Client({
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port === "" ? 5432 : Number(url.port),
    database: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined,
    user,
    password,
    ssl: sslmode === "require" ? { rejectUnauthorized: false } : sslmode === "verify-ca" || sslmode === "verify-full" ? true : undefined,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on("error", () => undefined);
  const abort = () => void client.end().catch(() => undefined);
  context.signal.addEventListener("abort", abort, { once: true });
  try {
    if (context.signal.aborted) throw new BrokerError("backend_unavailable", `postgres-password: aborted before reaching ${target(options)}`, { data: { target: target(options) } });
    await client.connect();
    return await work(client);
  } catch (error) {
    throw postgresError(error, options, user, purpose);
  } finally {
    context.signal.removeEventListener("abort", abort);
    await client.end().catch(() => undefined);
  }
}

function postgresError(error: unknown, options: PostgresPasswordOptions, user: string, purpose: "admin" | "test"): BrokerError {
  if (error instanceof BrokerError) return error;
  const where = target(options);
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  // The driver's message names users and statements, never the verifier's password; keep it for the log only.
  const detail = error instanceof Error ? error.message.replace(/SCRAM-SHA-256\$[^']*/g, "[verifier]") : String(error);
  const data = { target: where };
  if (code === "28P01" || code === "28000") {
    return purpose === "admin"
      ? new BrokerError("forbidden", `postgres-password: ${where} refused the broker's login as ${user}`, { detail, data })
      : new BrokerError("rotation_failed", `postgres-password: ${where} refused the new password of ${user}`, { detail, data });
  }
  if (code === "42501") return new BrokerError("forbidden", `postgres-password: ${user} may not change that role on ${where}`, { detail, data });
  if (code === "42704") return new BrokerError("rotation_failed", `postgres-password: a role of the rule does not exist on ${where}`, { detail, data });
  if (/^\d{2}[0-9A-Z]{3}$/.test(code) && !code.startsWith("08") && !code.startsWith("57")) {
    return new BrokerError("rotation_failed", `postgres-password: ${where} refused the change (SQLSTATE ${code})`, { detail, data });
  }
  return new BrokerError("backend_unavailable", `postgres-password: ${where} is unavailable`, { detail, data, retryAfterSeconds: 5 });
}
