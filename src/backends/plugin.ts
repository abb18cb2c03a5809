/**
 * A backend kind as a plug-in: the schema of its `mounts` entries, what its backends can do, and
 * the factory that builds one backend per configured mount. The registry (registry.ts) holds one
 * plug-in per BackendKind; config.ts composes the mount schemas from it.
 */
import type { z } from "zod";
import type { BackendKind, SecretBackend } from "./backend.js";
import type { CredentialSources } from "./credential-source.js";
import type { Logger } from "../logger.js";
import type { BackendMetrics } from "./metrics.js";

export type BackendLogger = Pick<Logger, "info" | "warn" | "error" | "debug">;

/**
 * What a mount's backend can do, so callers and docs need not build one to know. A backend
 * declares exactly the optional interfaces (backend.ts) it implements: createMountTable refuses
 * a plug-in whose backend says otherwise.
 */
export interface BackendCapabilities {
  /** `read` answers stored values; false for a mount that holds none (dynamic credentials). */
  staticRead: boolean;
  /** Writes new versions, lists and removes them (WritableBackend). */
  versions: boolean;
  /** Enumerates its locations (ListableBackend). */
  list: boolean;
  /** Issues a credential per lease, renews and revokes it (DynamicBackend). */
  dynamicIssuance: boolean;
}

/** What every factory receives. */
export interface FactoryDeps {
  /** The broker's local encrypted store; `scoped(prefix)` serves a `local` mount. */
  local: { scoped(prefix: string): SecretBackend };
  logger: BackendLogger;
  metrics: BackendMetrics;
  clock: () => number;
  /** Where credentials named by `*_env` / `*_file` options are read. */
  credentials: CredentialSources;
}

/** One backend kind. `C` is its parsed `mounts` entry. */
export interface BackendPlugin<K extends BackendKind, C extends { path: string; backend: K }> {
  readonly kind: K;
  /** The strict schema of one `mounts` entry with `backend: K`; its error messages are the config's. */
  readonly configSchema: z.ZodType<C>;
  /** What backends of this mount can do (may depend on its options, e.g. Vault's `engine`). */
  capabilities(mount: C): BackendCapabilities;
  /**
   * Builds the mount's backend without connecting (a backend that is down at start shows in
   * /readyz, it does not stop the start). Throws BrokerError("invalid_request") naming the mount
   * when a credential it names is missing.
   */
  create(mount: C, deps: FactoryDeps): SecretBackend;
}
