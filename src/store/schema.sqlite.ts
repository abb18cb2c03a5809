/**
 * Drizzle table definitions for SQLite. They mirror migrations/sqlite/*.sql exactly (a test
 * checks it); the PostgreSQL dialect keeps the same names and columns with native types.
 */
import { sql } from "drizzle-orm";
import { blob, index, integer, numeric, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const servers = sqliteTable("servers", {
  id: text("id").primaryKey(),
  description: text("description").notNull().default(""),
  labels: text("labels").notNull().default("{}"),
  createdAt: integer("created_at").notNull(),
  disabledAt: integer("disabled_at"),
  tokensNotBefore: integer("tokens_not_before"),
  deletedAt: integer("deleted_at"),
});

export const serverCredentials = sqliteTable(
  "server_credentials",
  {
    id: text("id").primaryKey(),
    serverId: text("server_id").notNull(),
    kind: text("kind", { enum: ["client_secret", "public_key"] }).notNull(),
    secretHash: text("secret_hash"),
    publicJwk: text("public_jwk"),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("server_credentials_server").on(t.serverId)],
);

export const operators = sqliteTable("operators", {
  name: text("name").primaryKey(),
  role: text("role").notNull(),
  tokenHash: text("token_hash").notNull().unique(),
  createdAt: integer("created_at").notNull(),
  revokedAt: integer("revoked_at"),
  expiresAt: integer("expires_at"),
});

export const secrets = sqliteTable("secrets", {
  path: text("path").primaryKey(),
  description: text("description").notNull().default(""),
  owner: text("owner").notNull().default(""),
  labels: text("labels").notNull().default("{}"),
  sensitivity: text("sensitivity", { enum: ["low", "medium", "high"] }).notNull().default("medium"),
  currentVersion: integer("current_version").notNull().default(0),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  deletedAt: integer("deleted_at"),
});

export const secretVersions = sqliteTable(
  "secret_versions",
  {
    path: text("path").notNull(),
    version: integer("version").notNull(),
    keyId: text("key_id").notNull(),
    wrappedKey: blob("wrapped_key", { mode: "buffer" }).notNull(),
    ciphertext: blob("ciphertext", { mode: "buffer" }).notNull(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull().default(""),
    destroyedAt: integer("destroyed_at"),
  },
  (t) => [primaryKey({ columns: [t.path, t.version] }), index("secret_versions_key").on(t.keyId)],
);

export const leases = sqliteTable(
  "leases",
  {
    id: text("id").primaryKey(),
    serverId: text("server_id").notNull(),
    secretPath: text("secret_path").notNull(),
    version: integer("version").notNull(),
    issuedAt: integer("issued_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    maxExpiresAt: integer("max_expires_at").notNull(),
    renewable: integer("renewable", { mode: "boolean" }).notNull(),
    revokedAt: integer("revoked_at"),
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

export const signingKeys = sqliteTable("signing_keys", {
  kid: text("kid").primaryKey(),
  publicJwk: text("public_jwk").notNull(),
  keyId: text("key_id").notNull(),
  wrappedKey: blob("wrapped_key", { mode: "buffer" }).notNull(),
  privateJwkCiphertext: blob("private_jwk_ciphertext", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
  retiredAt: integer("retired_at"),
  expiresAt: integer("expires_at"),
});

export const usedAssertions = sqliteTable(
  "used_assertions",
  {
    id: text("id").primaryKey(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("used_assertions_expiry").on(t.expiresAt)],
);

export const auditEvents = sqliteTable(
  "audit_events",
  {
    seq: integer("seq").primaryKey(),
    time: integer("time").notNull(),
    actor: text("actor").notNull(),
    actorKind: text("actor_kind").notNull(),
    action: text("action").notNull(),
    resource: text("resource").notNull(),
    outcome: text("outcome").notNull(),
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

export const brokerMeta = sqliteTable("broker_meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Background jobs' shared state: one row per job, its lock and its last run (migration 0005). */
export const jobLocks = sqliteTable("job_locks", {
  name: text("name").primaryKey(),
  owner: text("owner"),
  lockedUntil: integer("locked_until"),
  nextRunAt: integer("next_run_at").notNull().default(0),
  lastStartedAt: integer("last_started_at"),
  lastFinishedAt: integer("last_finished_at"),
  lastOutcome: text("last_outcome"),
});

export const rateLimitBuckets = sqliteTable(
  "rate_limit_buckets",
  {
    key: text("key").primaryKey(),
    tokens: numeric("tokens", { mode: "number" }).notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("rate_limit_buckets_updated").on(t.updatedAt)],
);

export const authFailures = sqliteTable("auth_failures", {
  key: text("key").primaryKey(),
  failures: integer("failures").notNull(),
  windowStartedAt: integer("window_started_at").notNull(),
  lockedUntil: integer("locked_until").notNull(),
});

/** Rotations, each step recorded before the next (migration 0008); at most one active per secret. */
export const rotations = sqliteTable(
  "rotations",
  {
    id: text("id").primaryKey(),
    secretPath: text("secret_path").notNull(),
    strategy: text("strategy").notNull(),
    ruleRef: text("rule_ref").notNull(),
    state: text("state").notNull(),
    lastStep: text("last_step"),
    stepState: text("step_state").notNull().default("{}"),
    attempt: integer("attempt").notNull().default(1),
    errorCode: text("error_code"),
    version: integer("version"),
    owner: text("owner"),
    leaseUntil: integer("lease_until"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    endedAt: integer("ended_at"),
  },
  (t) => [
    uniqueIndex("rotations_one_active").on(t.secretPath).where(sql`state IN ('pending', 'running')`),
    index("rotations_secret").on(t.secretPath, t.createdAt),
  ],
);

/** A rotation's pending value, envelope-encrypted, bound to its secret path and rotation id (migration 0008). */
export const rotationPendingValues = sqliteTable("rotation_pending_values", {
  rotationId: text("rotation_id").primaryKey(),
  keyId: text("key_id").notNull(),
  wrappedKey: blob("wrapped_key", { mode: "buffer" }).notNull(),
  ciphertext: blob("ciphertext", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
});
