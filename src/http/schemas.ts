/**
 * The wire shapes of the API's answers, declared once: the routes' OpenAPI definitions use them,
 * so GET /v1/openapi.json publishes exactly these. Every object is strict (no field beyond those
 * named, `additionalProperties: false` in the document), so a field that a route starts to send
 * without announcing it here fails the test that checks live answers against the document.
 */
import { z } from "@hono/zod-openapi";
import { BACKEND_KINDS } from "../backends/backend.js";

const isoTime = z.string().describe("ISO 8601 time (UTC)");

/** Every list answer's continuation (see http/pagination.ts). */
const nextCursor = z.string().nullable().describe("pass as ?cursor= for the next page; null on the last page");

export const ErrorBody = z
  .object({
    error: z
      .object({
        code: z.string().describe("stable error code, e.g. invalid_request, unauthorized, denied, not_found, audit_unavailable"),
        message: z.string().describe("what went wrong, naming identifiers, never a secret value"),
        request_id: z.string(),
        denied: z
          .array(z.object({ secret: z.string(), reason: z.string(), message: z.string() }).strict())
          .optional()
          .describe("denied: each denied secret and why"),
        denied_omitted: z.number().int().optional().describe("denied entries beyond the first 10, not listed"),
        missing: z.array(z.string()).optional().describe("not_found of a read: each missing secret"),
        missing_omitted: z.number().int().optional().describe("missing entries beyond the first 10, not listed"),
        problems: z.array(z.string()).optional().describe("invalid_request: each problem with the request"),
        backend: z.string().optional().describe("the mount of the backend that failed"),
      })
      .strict(),
  })
  .strict()
  .openapi("Error");

export const OAuthErrorBody = z
  .object({
    error: z.enum(["invalid_request", "invalid_client", "unsupported_grant_type", "rate_limited"]),
    error_description: z.string(),
    request_id: z.string(),
  })
  .strict()
  .openapi("OAuthError");

export const TokenAnswer = z
  .object({ access_token: z.string(), token_type: z.literal("Bearer"), expires_in: z.number().int().describe("seconds") })
  .strict()
  .openapi("Token");

export const Jwks = z
  .object({
    keys: z.array(
      z
        .object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string(), kid: z.string(), alg: z.literal("EdDSA"), use: z.literal("sig") })
        .strict(),
    ),
  })
  .strict()
  .openapi("Jwks");

const issuedFields = {
  value: z.string(),
  encoding: z.enum(["utf8", "base64"]).describe("base64 when the value is not valid UTF-8"),
  version: z.number().int(),
  lease_id: z.string(),
  lease_ttl: z.number().int().describe("seconds until the lease expires"),
  renewable: z.boolean(),
  expires_at: isoTime,
};

export const IssuedSecret = z.object(issuedFields).strict().openapi("IssuedSecret");

export const BatchReadAnswer = z
  .object({ request_id: z.string(), secrets: z.record(z.string(), IssuedSecret).describe("by requested name") })
  .strict()
  .openapi("BatchRead");

export const SingleReadAnswer = z
  .object({ request_id: z.string(), name: z.string(), ...issuedFields })
  .strict()
  .openapi("SingleRead");

export const Lease = z
  .object({
    lease_id: z.string(),
    server: z.string(),
    secret: z.string(),
    version: z.number().int(),
    issued_at: isoTime,
    expires_at: isoTime,
    max_expires_at: isoTime,
    ttl: z.number().int().describe("seconds left, 0 once ended"),
    renewable: z.boolean(),
    state: z.enum(["active", "expired", "revoked"]),
    revoked_at: isoTime.nullable(),
    revoke_reason: z.string().nullable(),
  })
  .strict()
  .openapi("Lease");

export const LeaseList = z.object({ leases: z.array(Lease), next_cursor: nextCursor }).strict().openapi("LeaseList");

export const RenewAnswer = z
  .object({ lease_id: z.string(), lease_ttl: z.number().int(), renewable: z.boolean(), expires_at: isoTime })
  .strict()
  .openapi("Renewal");

export const Server = z
  .object({
    id: z.string(),
    description: z.string(),
    labels: z.record(z.string(), z.string()),
    created_at: isoTime,
    disabled: z.boolean(),
    disabled_at: isoTime.nullable(),
  })
  .strict()
  .openapi("Server");

export const ServerRegistered = z
  .object({ client_id: z.string(), client_secret: z.string().nullable().describe("shown once; null for a key-only server"), server: Server })
  .strict()
  .openapi("ServerRegistered");

export const ServerList = z.object({ servers: z.array(Server), next_cursor: nextCursor }).strict().openapi("ServerList");

export const CredentialsRotated = z
  .object({ client_id: z.string(), client_secret: z.string().nullable().describe("the new secret, shown once; null when a public key was replaced") })
  .strict()
  .openapi("CredentialsRotated");

export const SecretWritten = z.object({ path: z.string(), version: z.number().int() }).strict().openapi("SecretWritten");

const metadataFields = {
  path: z.string(),
  description: z.string(),
  owner: z.string(),
  labels: z.record(z.string(), z.string()),
  sensitivity: z.enum(["low", "medium", "high"]),
  current_version: z.number().int(),
  created_at: isoTime,
  updated_at: isoTime,
};

/**
 * One entry of the operators' list: the broker's metadata for local secrets, and for names a
 * remote mount (Vault, AWS) lists, null where the broker keeps no metadata.
 */
export const ListedSecret = z
  .object({
    path: z.string(),
    mount: z.string(),
    backend: z.enum(BACKEND_KINDS),
    description: z.string().nullable(),
    owner: z.string().nullable(),
    labels: z.record(z.string(), z.string()).nullable(),
    sensitivity: z.enum(["low", "medium", "high"]).nullable(),
    current_version: z.number().int().nullable(),
    created_at: isoTime.nullable(),
    updated_at: isoTime.nullable(),
  })
  .strict()
  .openapi("ListedSecret");

export const SecretList = z.object({ secrets: z.array(ListedSecret), next_cursor: nextCursor }).strict().openapi("SecretList");

export const SecretDetail = z
  .object({
    ...metadataFields,
    versions: z.array(z.object({ version: z.number().int(), created_at: isoTime, created_by: z.string(), destroyed: z.boolean() }).strict()),
  })
  .strict()
  .openapi("SecretDetail");

export const OperatorRead = z
  .object({ name: z.string(), value: z.string(), encoding: z.enum(["utf8", "base64"]), version: z.number().int() })
  .strict()
  .openapi("OperatorSecretRead");

export const LeasesRevoked = z.object({ revoked: z.number().int(), lease_ids: z.array(z.string()) }).strict().openapi("LeasesRevoked");

export const Operator = z.object({ name: z.string(), role: z.string(), created_at: isoTime, expires_at: isoTime.nullable(), revoked: z.boolean() }).strict().openapi("Operator");

export const OperatorList = z.object({ operators: z.array(Operator), next_cursor: nextCursor }).strict().openapi("OperatorList");

export const OperatorCreated = z
  .object({ name: z.string(), role: z.string(), token: z.string().describe("shown once"), expires_at: isoTime.nullable() })
  .strict()
  .openapi("OperatorCreated");

export const KeysRotated = z
  .union([
    z.object({ target: z.literal("signing"), kid: z.string() }).strict(),
    z.object({ target: z.literal("master"), key_id: z.string(), rewrapped: z.number().int() }).strict(),
  ])
  .openapi("KeysRotated");

const ruleRef = z.object({ file: z.string(), line: z.number().int(), server: z.string(), effect: z.enum(["allow", "deny"]), index: z.number().int() }).strict();

export const Explanation = z
  .object({
    decision: z.union([
      z.object({ allowed: z.literal(true), rule: ruleRef, maxTtlSeconds: z.number().int().optional(), message: z.string() }).strict(),
      z.object({ allowed: z.literal(false), reason: z.string(), rule: ruleRef.optional(), message: z.string() }).strict(),
    ]),
    considered: z.array(z.object({ rule: ruleRef, matched: z.boolean(), why: z.string() }).strict()),
  })
  .strict()
  .openapi("Explanation");

export const PolicyReload = z.object({ ok: z.boolean(), problems: z.array(z.string()) }).strict().openapi("PolicyReload");

export const AuditEvent = z
  .object({
    seq: z.number().int(),
    time: isoTime,
    actor: z.string(),
    actor_kind: z.enum(["server", "operator", "system", "anonymous"]),
    action: z.string(),
    resource: z.string(),
    outcome: z.enum(["allowed", "denied", "error"]),
    reason: z.string(),
    lease_id: z.string().nullable(),
    version: z.number().int().nullable(),
    request_id: z.string().nullable(),
    source_ip: z.string().nullable(),
    token_ref: z.string().nullable(),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .strict()
  .openapi("AuditEvent");

export const AuditPage = z
  .object({ events: z.array(AuditEvent), next_cursor: nextCursor })
  .strict()
  .openapi("AuditPage");

export const AccessReport = z
  .object({
    secret: z.string(),
    since: isoTime.nullable(),
    servers: z.array(
      z
        .object({
          server: z.string(),
          actor_kind: z.string(),
          count: z.number().int(),
          first: isoTime,
          last: isoTime,
          outcomes: z.object({ allowed: z.number().int(), denied: z.number().int(), error: z.number().int() }).strict(),
        })
        .strict(),
    ),
  })
  .strict()
  .openapi("AccessReport");

export const AuditVerification = z
  .object({
    ok: z.boolean(),
    checked: z.number().int(),
    head: z.object({ seq: z.number().int(), hash: z.string() }).strict().nullable(),
    problems: z.array(
      z
        .object({
          seq: z.number().int(),
          kind: z.enum(["sequence_gap", "broken_link", "hash_mismatch", "format_marker", "checkpoint_signature", "checkpoint_mismatch", "head_behind_checkpoint"]),
          message: z.string(),
        })
        .strict(),
    ),
    checkpoints: z
      .object({
        checked: z.number().int().describe("checkpoints compared with the record at their seq"),
        archived: z.number().int().describe("checkpoints of records archived since"),
        newest: z.object({ seq: z.number().int(), hash: z.string(), time: isoTime }).strict().nullable(),
      })
      .strict(),
    unreadable: z.array(z.string()).describe("lines of the broker's checkpoint files that are not checkpoints (verification fails)"),
  })
  .strict()
  .openapi("AuditVerification");

export const AuditCheckpoint = z
  .object({
    seq: z.number().int().min(1),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    time: z.string().min(1).max(64),
    key_id: z.string().min(1).max(64),
    signature: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  })
  .strict()
  .openapi("AuditCheckpoint");

export const AuditVerifyRequest = z.object({ checkpoints: z.array(AuditCheckpoint).max(1000) }).strict().openapi("AuditVerifyRequest");

export const CheckpointKey = z
  .object({ key_id: z.string(), public_key_pem: z.string().describe("Ed25519 public key, SPKI PEM") })
  .strict()
  .openapi("CheckpointKey");

export const AuditArchiveRequest = z
  .object({
    through_seq: z.number().int().min(1).describe("last_seq of the exported segment's trailer"),
    records_sha256: z.string().regex(/^[0-9a-f]{64}$/).describe("records_sha256 of the exported segment's trailer"),
  })
  .strict()
  .openapi("AuditArchiveRequest");

export const AuditArchived = z
  .object({ archived: z.number().int(), anchor: z.object({ seq: z.number().int(), hash: z.string() }).strict() })
  .strict()
  .openapi("AuditArchived");

export const Health = z.object({ status: z.literal("ok") }).strict().openapi("Health");

export const Readiness = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() }).strict()).describe("storage, audit, backend:<mount>"),
  })
  .strict()
  .openapi("Readiness");

export const WhoAmI = z
  .object({
    name: z.string(),
    role: z.string(),
    permissions: z.array(z.string()).describe("what the role may do under the current policy"),
    created_at: isoTime,
    expires_at: isoTime.nullable().describe("when the token stops working; null: it does not expire"),
  })
  .strict()
  .openapi("WhoAmI");

export const BrokerStatus = z
  .object({
    version: z.string(),
    storage: z.enum(["sqlite", "postgres"]),
    started_at: isoTime,
    uptime_seconds: z.number().int(),
    mounts: z.array(
      z
        .object({
          path: z.string().describe('the mount prefix; "" for the local store serving paths under no mount'),
          backend: z.string(),
          healthy: z.boolean(),
          error: z.string().nullable(),
        })
        .strict(),
    ),
    policy: z.object({ digest: z.string().describe("SHA-256 over the policy files' names and contents"), files: z.number().int(), servers: z.number().int(), roles: z.number().int() }).strict(),
  })
  .strict()
  .openapi("BrokerStatus");

export const OperatorRotated = z
  .object({ name: z.string(), role: z.string(), token: z.string().describe("shown once"), expires_at: isoTime.nullable() })
  .strict()
  .openapi("OperatorRotated");

export const ServerDeleted = z
  .object({ id: z.string(), deleted: z.literal(true), leases_revoked: z.number().int(), credentials_revoked: z.number().int() })
  .strict()
  .openapi("ServerDeleted");

export const SecretRolledBack = z
  .object({ path: z.string(), version: z.number().int().describe("the new version, holding the value of `from`"), from: z.number().int() })
  .strict()
  .openapi("SecretRolledBack");

export const SecretVersionDestroyed = z.object({ path: z.string(), version: z.number().int(), destroyed: z.literal(true) }).strict().openapi("SecretVersionDestroyed");
