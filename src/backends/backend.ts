/**
 * The backend plug-in contract. A backend holds secret values at backend-side locations; the
 * broker maps a secret path onto (backend, location) through a mount. Optional capabilities are
 * separate interfaces, detected with the `has*`/`is*` guards, never methods that throw "not supported".
 *
 * Errors every method may throw (all BrokerError, always naming the mount, never a value):
 * - `backend_unavailable` (503): the backend did not answer in time, refused the connection, is
 *   sealed or failing (5xx), or its circuit breaker is open;
 * - `forbidden` (403): the backend refused the broker's own credentials for that location;
 * - `invalid_request` (400): the backend rejected the request itself (e.g. a value Vault KV cannot hold).
 * Absence is never an error: reads answer `undefined`, lists answer `[]`.
 */

/** Every backend kind; the registry (registry.ts) must have a plug-in for each. */
export const BACKEND_KINDS = ["local", "vault", "aws"] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** A value as the backend returns it. `bytes` is the raw value; callers must not log it. */
export interface BackendValue {
  bytes: Buffer;
  /**
   * The broker's version number: monotonic per location, never reused. Local and Vault KV use
   * their own counters (1, 2, 3...); AWS uses the version's creation time in ms (see docs/backends.md).
   */
  version: number;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  /** The backend's own id of this version when it is not the number (AWS VersionId). Not secret. */
  versionId?: string;
}

export interface BackendVersionInfo {
  version: number;
  createdAt: number;
  /** Who wrote it, when the backend records it; "" when it does not (Vault, AWS). */
  createdBy: string;
  destroyed: boolean;
  /** The backend's own id of this version (AWS VersionId). */
  versionId?: string;
  /** Staging labels on this version (AWS: AWSCURRENT, AWSPREVIOUS, AWSPENDING, custom). */
  stages?: string[];
}

export interface SecretBackend {
  readonly kind: BackendKind;
  /** Mount name used in errors, metrics and readiness (e.g. "local", "kv/"). */
  readonly mount: string;
  /**
   * Reads `version` (the current one when omitted).
   * Returns `undefined` when the location or that version does not exist or was destroyed, and
   * on a mount that holds no static values (a dynamic-credentials mount, see DynamicBackend).
   * Throws BrokerError("backend_unavailable") when the backend cannot answer.
   */
  read(location: string, version?: number): Promise<BackendValue | undefined>;
  /** Throws (BrokerError `backend_unavailable` naming the mount) when the backend is not ready to serve. */
  checkHealth(): Promise<void>;
}

export interface WriteOptions {
  createdBy: string;
  description?: string;
  owner?: string;
  labels?: Record<string, string>;
  sensitivity?: "low" | "medium" | "high";
}

/** Backends the broker can write new versions to (operator writes, rotation). */
export interface WritableBackend extends SecretBackend {
  /** Stores a new version and returns its number (monotonic per location, never reused). */
  write(location: string, value: Buffer, options: WriteOptions): Promise<number>;
  /** Versions of a location, oldest first; empty when it does not exist. */
  versions(location: string): Promise<BackendVersionInfo[]>;
  /** Deletes the location and destroys its values; false when it did not exist. Idempotent. */
  remove(location: string): Promise<boolean>;
}

export function isWritable(backend: SecretBackend): backend is WritableBackend {
  return typeof (backend as Partial<WritableBackend>).write === "function";
}

/** Backends that can destroy one version irreversibly (local store, Vault KV v2 `destroy`). */
export interface DestroyableBackend extends WritableBackend {
  /**
   * Destroys `version` of `location` for good: it can never be read again. False when the
   * location or that version does not exist or was destroyed already. Other versions are untouched.
   */
  destroyVersion(location: string, version: number): Promise<boolean>;
}

export function isDestroyable(backend: SecretBackend): backend is DestroyableBackend {
  return isWritable(backend) && typeof (backend as Partial<DestroyableBackend>).destroyVersion === "function";
}

/** Backends that can enumerate their locations. */
export interface ListableBackend extends SecretBackend {
  /**
   * Locations that start with `prefix` (`""`: all), sorted, at most `limit` (default 1000).
   * Empty when nothing matches. Locations are relative to the mount, like `read`'s.
   */
  list(prefix: string, limit?: number): Promise<string[]>;
}

export function isListable(backend: SecretBackend): backend is ListableBackend {
  return typeof (backend as Partial<ListableBackend>).list === "function";
}

/** Backends that keep a short in-memory cache of values (every remote mount). */
export interface CachingBackend extends SecretBackend {
  /**
   * Drops every cached version of `location` (all locations when omitted). Writes through the
   * broker invalidate by themselves; call this when another broker or system changed the value.
   */
  invalidate(location?: string): void;
}

export function isCaching(backend: SecretBackend): backend is CachingBackend {
  return typeof (backend as Partial<CachingBackend>).invalidate === "function";
}

/** A credential created for one broker lease in a target system. */
export interface DynamicCredential {
  /** The credential as the target system issued it (Vault: the `data` map as JSON). Never log it. */
  bytes: Buffer;
  /** The backend's lease id (Vault `lease_id`): store it on the broker lease to renew and revoke. */
  externalLeaseId: string;
  /** Seconds the backend granted; the broker lease must not outlive it. */
  ttlSeconds: number;
  renewable: boolean;
}

/**
 * Backends that issue a fresh credential per lease and destroy it at lease end (Vault database
 * engine). Such a mount holds no static values: `read` answers undefined.
 */
export interface DynamicBackend extends SecretBackend {
  /**
   * Issues a credential at `location` (e.g. the role name) for about `ttlSeconds`: when the
   * backend grants less and the credential is renewable, it is renewed once towards `ttlSeconds`.
   * The result's ttlSeconds is what the backend granted, which may differ from what was asked:
   * cap the broker lease at min(asked, granted). Throws `not_found` when the
   * backend has no such role, `forbidden` when the broker may not issue it.
   */
  issue(location: string, ttlSeconds: number): Promise<DynamicCredential>;
  /**
   * Extends the backend lease by `incrementSeconds` from now (the backend may cap it).
   * Throws `lease_expired` when the backend no longer knows the lease (revoked or expired),
   * `not_renewable` when it cannot be renewed, `invalid_request` for a lease id this backend did not issue.
   */
  renew(externalLeaseId: string, incrementSeconds: number): Promise<{ ttlSeconds: number; renewable: boolean }>;
  /**
   * Revokes the backend lease and so destroys the credential. Idempotent: an unknown lease is not
   * an error. Throws `invalid_request` for a lease id this backend did not issue.
   */
  revoke(externalLeaseId: string): Promise<void>;
}

export function isDynamic(backend: SecretBackend): backend is DynamicBackend {
  return typeof (backend as Partial<DynamicBackend>).issue === "function";
}

/** A version staged for rotation, not yet current. */
export interface StagedVersion {
  version: number;
  /** The backend's id of the staged version; pass it to `promote` / `discardPending`. */
  versionId: string;
}

/**
 * Backends whose rotation goes through staging labels (AWS Secrets Manager): the new value is
 * stored beside the current one as *pending*, the target system is changed and tested, then the
 * pending version becomes current and the old current one *previous* (still readable for grace).
 * Every step is idempotent so a rotation interrupted by a crash can be resumed or rolled back.
 */
export interface StagedRotationBackend extends SecretBackend {
  /**
   * Step "create": stores `value` as a new version labelled pending (AWSPENDING). `rotationId`
   * (32..64 characters, e.g. a UUID) makes the call idempotent: the same id and value give the same version.
   */
  stagePending(location: string, value: Buffer, rotationId: string): Promise<StagedVersion>;
  /** The pending version (resume after a crash), or undefined when none is pending apart from the current one. */
  readPending(location: string): Promise<(BackendValue & { versionId: string }) | undefined>;
  /** Step "finish": makes the pending version current; the old current one becomes previous (AWSPREVIOUS). Idempotent. */
  promote(location: string, versionId: string): Promise<void>;
  /** Rollback: removes the pending label from `versionId`; the current version is untouched. Idempotent. */
  discardPending(location: string, versionId: string): Promise<void>;
}

export function hasStagedRotation(backend: SecretBackend): backend is StagedRotationBackend {
  return typeof (backend as Partial<StagedRotationBackend>).stagePending === "function";
}

/**
 * Backends that rotate a secret themselves (AWS RotateSecret with a rotation Lambda). The call
 * starts the rotation; the backend's own function runs create → set → test → finish.
 */
export interface ManagedRotationBackend extends SecretBackend {
  /**
   * Starts a rotation and answers the id of the version it creates (its number is known once the
   * backend's function has stored it: see `versions`/`readPending`). `rotationId` (32..64
   * characters) makes retries idempotent. Throws `conflict` when the backend has no rotation
   * function for it or a previous rotation is unfinished.
   */
  rotate(location: string, rotationId: string): Promise<{ versionId: string }>;
}

export function hasManagedRotation(backend: SecretBackend): backend is ManagedRotationBackend {
  return typeof (backend as Partial<ManagedRotationBackend>).rotate === "function";
}

/** Backends holding timers, sockets or sessions that must be released at shutdown. */
export interface ClosableBackend extends SecretBackend {
  /** Stops background work (token renewal) and releases connections. Idempotent. */
  close(): Promise<void>;
}

export function isClosable(backend: SecretBackend): backend is ClosableBackend {
  return typeof (backend as Partial<ClosableBackend>).close === "function";
}
