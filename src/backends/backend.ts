/**
 * The backend plug-in contract. A backend holds secret values at backend-side locations; the
 * broker maps a secret path onto (backend, location) through a mount. Optional capabilities are
 * separate interfaces, detected with the `has*` guards, never methods that throw "not supported".
 */

export type BackendKind = "local";

/** A value as the backend returns it. `bytes` is the raw value; callers must not log it. */
export interface BackendValue {
  bytes: Buffer;
  version: number;
  createdAt: number;
}

export interface BackendVersionInfo {
  version: number;
  createdAt: number;
  createdBy: string;
  destroyed: boolean;
}

export interface SecretBackend {
  readonly kind: BackendKind;
  /** Mount name used in errors, metrics and readiness (e.g. "local", "kv/"). */
  readonly mount: string;
  /**
   * Reads `version` (the current one when omitted).
   * Returns `undefined` when the location or that version does not exist or was destroyed.
   * Throws BrokerError("backend_unavailable") when the backend cannot answer.
   */
  read(location: string, version?: number): Promise<BackendValue | undefined>;
  /** Throws when the backend is not ready to serve. */
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
