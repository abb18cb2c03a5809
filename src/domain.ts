/** Shared vocabulary of the broker: identifiers, principals and records that cross module boundaries. */

/** An MCP server's id: `[a-z0-9][a-z0-9-]{1,62}`. */
export type ServerId = string;

const serverIdPattern = /^[a-z0-9][a-z0-9-]{1,62}$/;
export function isValidServerId(id: string): boolean {
  return serverIdPattern.test(id);
}

const operatorNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
export function isValidOperatorName(name: string): boolean {
  return operatorNamePattern.test(name);
}

export type ActorKind = "server" | "operator" | "system" | "anonymous";

/** Who is calling: an MCP server holding a broker token, or a human operator. */
export type Principal =
  | { kind: "server"; serverId: ServerId; tokenId: string; expiresAt: number }
  | { kind: "operator"; name: string; role: string };

export interface ServerRecord {
  id: ServerId;
  description: string;
  labels: Record<string, string>;
  createdAt: number;
  disabledAt: number | null;
  /** Broker tokens issued before this time (ms) are refused. */
  tokensNotBefore: number | null;
}

export type CredentialKind = "client_secret" | "public_key";

export interface ServerCredential {
  id: string;
  serverId: ServerId;
  kind: CredentialKind;
  /** Stored form of a client secret: `hmac-sha256$...`, or a legacy `scrypt$...` re-hashed on next use. */
  secretHash: string | null;
  /** JSON text of a public JWK for private_key_jwt. */
  publicJwk: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface OperatorRecord {
  name: string;
  role: string;
  createdAt: number;
  revokedAt: number | null;
  /** When its token stops working (ms); null: it does not expire. */
  expiresAt: number | null;
}

export type Sensitivity = "low" | "medium" | "high";

export interface SecretMetadata {
  path: string;
  description: string;
  owner: string;
  labels: Record<string, string>;
  sensitivity: Sensitivity;
  currentVersion: number;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

export interface SecretVersionInfo {
  path: string;
  version: number;
  createdAt: number;
  createdBy: string;
  destroyedAt: number | null;
}

export interface Lease {
  id: string;
  serverId: ServerId;
  secretPath: string;
  version: number;
  issuedAt: number;
  expiresAt: number;
  maxExpiresAt: number;
  renewable: boolean;
  revokedAt: number | null;
  revokeReason: string | null;
  /** The backend's lease behind a dynamic credential; null for static values. */
  externalLeaseId: string | null;
}

export type AuditOutcome = "allowed" | "denied" | "error";

/** One audit record as the writer receives it (seq and hashes are assigned at commit). */
export interface AuditEntry {
  time: number;
  actor: string;
  actorKind: ActorKind;
  action: string;
  resource: string;
  outcome: AuditOutcome;
  reason: string;
  leaseId: string | null;
  version: number | null;
  requestId: string | null;
  sourceIp: string | null;
  /** HMAC of the token id used, never the token itself. */
  tokenRef: string | null;
}

/** A committed audit record. */
export interface AuditRecord extends AuditEntry {
  seq: number;
  prevHash: string;
  hash: string;
}

/** Per-request facts every audit record carries. */
export interface RequestMeta {
  /** Null for events the broker starts itself (policy reload, schedules). */
  requestId: string | null;
  sourceIp: string | null;
}

/**
 * One page of a listing in keyset order: at most `limit` rows sorting after `after` (from the
 * start when absent). `limit` is a positive integer; callers bound it (1..1000 at the HTTP edge).
 */
export interface PageRequest<Key> {
  after?: Key;
  limit: number;
}

/** A page of a listing; `next` is the sort key to continue after, null when this page is the last. */
export interface Page<Item, Key> {
  items: Item[];
  next: Key | null;
}

/**
 * The page of `rows` read with a limit of `limit + 1`: the first `limit` rows, and the sort key of
 * the last of them when the extra row shows that more follow (so the last page says so itself,
 * never an empty page after it).
 */
export function pageOf<Item, Key>(rows: Item[], limit: number, keyOf: (item: Item) => Key): Page<Item, Key> {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  return { items, next: keyOf(items[limit - 1]!) };
}

/** Where a lease sorts in a listing: by issue time (ms), then by id. */
export interface LeaseSortKey {
  issuedAt: number;
  id: string;
}

/** What the last run of a background job did. */
export type JobOutcome = "ok" | "error" | "interrupted";

/** The shared state of a background job (one `job_locks` row): who runs it, until when, and its last run. Times in ms. */
export interface JobState {
  name: string;
  /** The runner holding the lock, null when no run is in progress. */
  owner: string | null;
  /** Until when the holder's lock is valid; another runner may take it over from this instant. */
  lockedUntil: number | null;
  /** The next run is due at this time (on any broker). */
  nextRunAt: number;
  lastStartedAt: number | null;
  lastFinishedAt: number | null;
  lastOutcome: JobOutcome | null;
}

/** Where a rotation is: `pending` (recorded, no broker runs it yet), `running` (held by a broker), or ended. */
export type RotationState = "pending" | "running" | "done" | "failed" | "rolled_back";
export const ROTATION_STATES: readonly RotationState[] = ["pending", "running", "done", "failed", "rolled_back"];
/** The four steps of a rotation, in order. */
export type RotationStep = "create" | "set" | "test" | "finish";
export const ROTATION_STEPS: readonly RotationStep[] = ["create", "set", "test", "finish"];

/** One rotation of one secret, as stored (times in ms). Never holds a value. */
export interface RotationRecord {
  /** UUID: the idempotency key of every step. */
  id: string;
  secretPath: string;
  strategy: string;
  /** The rule that asked for it, as `file:line#index`. */
  ruleRef: string;
  state: RotationState;
  /** The last step that completed; null before create completed. */
  lastStep: RotationStep | null;
  /** JSON text of the StepState the last completed step returned (`{}` before create). */
  stepState: string;
  /** 1 for the first try of a rotation; retries after a failure count up. */
  attempt: number;
  /** The BrokerError code that ended it as failed or rolled back; null otherwise. */
  errorCode: string | null;
  /** The version finish made current; null until then. */
  version: number | null;
  /** The broker instance running it, and until when (ms) its hold lasts; null when no one runs it. */
  owner: string | null;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
}
