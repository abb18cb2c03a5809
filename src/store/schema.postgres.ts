/**
 * Drizzle table definitions for PostgreSQL. They mirror migrations/postgres/*.sql exactly (a test
 * checks names, types and nullability): the same tables and columns as the SQLite schema, with
 * native types. Times are bigint milliseconds read as JavaScript numbers (exact up to 2^53, i.e.
 * for the next 285,000 years), blobs are bytea read as Buffers.
 */
import { sql } from "drizzle-orm";
import { bigint, boolean, customType, index, integer, numeric, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import type { ActorKind, AuditOutcome } from "../domain.js";

/** bytea ⇄ Buffer. node-postgres already returns Buffers for bytea and sends Buffers as bytea. */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => "bytea",
});

/** A bigint column (epoch milliseconds, sequence numbers) read as a JavaScript number, not a string. */
const int8 = (name: string) => bigint(name, { mode: "number" });

export const servers = pgTable("servers", {
  id: text("id").primaryKey(),
  description: text("description").notNull().default(""),
  labels: text("labels").notNull().default("{}"),
  createdAt: int8("created_at").notNull(),
  disabledAt: int8("disabled_at"),
  tokensNotBefore: int8("tokens_not_before"),
  deletedAt: int8("deleted_at"),
});

export const serverCredentials = pgTable(
  "server_credentials",
  {
    id: text("id").primaryKey(),
    serverId: text("server_id")
      .notNull()
      .references(() => servers.id),
    kind: text("kind", { enum: ["client_secret", "public_key"] }).notNull(),
    secretHash: text("secret_hash"),
    publicJwk: text("public_jwk"),
    createdAt: int8("created_at").notNull(),
    revokedAt: int8("revoked_at"),
  },
  (t) => [index("server_credentials_server").on(t.serverId)],
);

export const operators = pgTable("operators", {
  name: text("name").primaryKey(),
  role: text("role").notNull(),
  tokenHash: text("token_hash").notNull().unique(),
  createdAt: int8("created_at").notNull(),
  revokedAt: int8("revoked_at"),
  expiresAt: int8("expires_at"),
});

export const secrets = pgTable("secrets", {
  path: text("path").primaryKey(),
  description: text("description").notNull().default(""),
  owner: text("owner").notNull().default(""),
  labels: text("labels").notNull().default("{}"),
  sensitivity: text("sensitivity", { enum: ["low", "medium", "high"] }).notNull().default("medium"),
  currentVersion: integer("current_version").notNull().default(0),
  createdAt: int8("created_at").notNull(),
  updatedAt: int8("updated_at").notNull(),
  deletedAt: int8("deleted_at"),
});

export const secretVersions = pgTable(
  "secret_versions",
  {
    path: text("path").notNull(),
    version: integer("version").notNull(),
    keyId: text("key_id").notNull(),
    wrappedKey: bytea("wrapped_key").notNull(),
    ciphertext: bytea("ciphertext").notNull(),
    createdAt: int8("created_at").notNull(),
    createdBy: text("created_by").notNull().default(""),
    destroyedAt: int8("destroyed_at"),
  },
  (t) => [primaryKey({ columns: [t.path, t.version] }), index("secret_versions_key").on(t.keyId)],
);

export const leases = pgTable(
  "leases",
  {
    id: text("id").primaryKey(),
    serverId: text("server_id").notNull(),
    secretPath: text("secret_path").notNull(),
    version: integer("version").notNull(),
    issuedAt: int8("issued_at").notNull(),
    expiresAt: int8("expires_at").notNull(),
    maxExpiresAt: int8("max_expires_at").notNull(),
    renewable: boolean("renewable").notNull(),
    revokedAt: int8("revoked_at"),
    revokeReason: text("revoke_reason"),
    externalLeaseId: text("external_lease_id"),
  },
  (t) => [
    index("leases_expiry").on(t.expiresAt),
    index("leases_issued").on(t.issuedAt, t.id),
    index("leases_server_issued").on(t.serverId, t.issuedAt, t.id),
    index("leases_secret_issued").on(t.secretPath, t.issuedAt, t.id),
    index("leases_revoked").on(t.revokedAt),
  ],
);

export const signingKeys = pgTable("signing_keys", {
  kid: text("kid").primaryKey(),
  publicJwk: text("public_jwk").notNull(),
  keyId: text("key_id").notNull(),
  wrappedKey: bytea("wrapped_key").notNull(),
  privateJwkCiphertext: bytea("private_jwk_ciphertext").notNull(),
  createdAt: int8("created_at").notNull(),
  retiredAt: int8("retired_at"),
  expiresAt: int8("expires_at"),
});

export const usedAssertions = pgTable(
  "used_assertions",
  {
    id: text("id").primaryKey(),
    expiresAt: int8("expires_at").notNull(),
  },
  (t) => [index("used_assertions_expiry").on(t.expiresAt)],
);

export const auditEvents = pgTable(
  "audit_events",
  {
    seq: int8("seq").primaryKey(),
    time: int8("time").notNull(),
    actor: text("actor").notNull(),
    actorKind: text("actor_kind").$type<ActorKind>().notNull(),
    action: text("action").notNull(),
    resource: text("resource").notNull(),
    outcome: text("outcome").$type<AuditOutcome>().notNull(),
    reason: text("reason").notNull(),
    leaseId: text("lease_id"),
    version: integer("version"),
    requestId: text("request_id"),
    sourceIp: text("source_ip"),
    tokenRef: text("token_ref"),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [
    index("audit_events_resource").on(t.resource, t.time),
    index("audit_events_actor").on(t.actor, t.time),
    index("audit_events_time").on(t.time),
  ],
);

export const brokerMeta = pgTable("broker_meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Background jobs' shared state: one row per job, its lock and its last run (migration 0005). */
export const jobLocks = pgTable("job_locks", {
  name: text("name").primaryKey(),
  owner: text("owner"),
  lockedUntil: int8("locked_until"),
  nextRunAt: int8("next_run_at").notNull().default(0),
  lastStartedAt: int8("last_started_at"),
  lastFinishedAt: int8("last_finished_at"),
  lastOutcome: text("last_outcome"),
});

export const rateLimitBuckets = pgTable(
  "rate_limit_buckets",
  {
    key: text("key").primaryKey(),
    tokens: numeric("tokens", { mode: "number" }).notNull(),
    updatedAt: int8("updated_at").notNull(),
  },
  (t) => [index("rate_limit_buckets_updated").on(t.updatedAt)],
);

export const authFailures = pgTable("auth_failures", {
  key: text("key").primaryKey(),
  failures: integer("failures").notNull(),
  windowStartedAt: int8("window_started_at").notNull(),
  lockedUntil: int8("locked_until").notNull(),
});

/** Rotations, each step recorded before the next (migration 0008); at most one active per secret. */
export const rotations = pgTable(
  "rotations",
  {
    id: text("id").primaryKey(),
    secretPath: text("secret_path").notNull(),
    strategy: text("strategy").notNull(),
    ruleRef: text("rule_ref").notNull(),
    state: text("state").notNull(),
    lastStep: text("last_step"),
    stepState: text("step_state").notNull().default("{}"),
    attempt: int8("attempt").notNull().default(1),
    errorCode: text("error_code"),
    version: int8("version"),
    owner: text("owner"),
    leaseUntil: int8("lease_until"),
    createdAt: int8("created_at").notNull(),
    updatedAt: int8("updated_at").notNull(),
    endedAt: int8("ended_at"),
  },
  (t) => [
    uniqueIndex("rotations_one_active").on(t.secretPath).where(sql`state IN ('pending', 'running')`),
    index("rotations_secret").on(t.secretPath, t.createdAt),
  ],
);

/** A rotation's pending value, envelope-encrypted, bound to its secret path and rotation id (migration 0008). */
export const rotationPendingValues = pgTable("rotation_pending_values", {
  rotationId: text("rotation_id").primaryKey(),
  keyId: text("key_id").notNull(),
  wrappedKey: bytea("wrapped_key").notNull(),
  ciphertext: bytea("ciphertext").notNull(),
  createdAt: int8("created_at").notNull(),
});
