/**
 * The backend registry: one factory per backend kind (an exhaustive map, so a new kind does not
 * compile until it is wired here) and `createMountTable`, which turns the configured `mounts`
 * into a MountTable. Every remote mount gets its own circuit breaker, deadline, value cache and
 * client session; nothing connects at creation: a backend that is down at start shows in /readyz
 * and fails its calls with 503, it does not stop the broker from starting.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import vault from "node-vault";
import type { Metrics } from "../metrics.js";
import { AwsSecretsManagerBackend } from "./aws/secrets-manager.js";
import { classifyAwsError } from "./aws/errors.js";
import type { BackendKind, SecretBackend } from "./backend.js";
import { ValueCache } from "./cache.js";
import { CircuitBreaker, type CircuitState } from "./circuit-breaker.js";
import { defaultCredentialSources, readCredential, type CredentialSources } from "./credential-source.js";
import { MountGuard, type ErrorClassifier } from "./guard.js";
import type { LocalBackend } from "./local.js";
import { createBackendMetrics, type BackendMetrics } from "./metrics.js";
import type { AwsMountConfig, MountConfig, MountConfigOf, VaultMountConfig } from "./mount-config.js";
import { MountTable } from "./mounts.js";
import { VaultDynamicBackend } from "./vault/dynamic.js";
import { classifyVaultError } from "./vault/errors.js";
import { VaultKvBackend } from "./vault/kv.js";
import { VaultSession, type BackendLogger } from "./vault/session.js";

export interface MountTableDeps {
  /** The broker's local encrypted store: serves paths under no mount and `local` mounts. */
  local: LocalBackend;
  logger: BackendLogger;
  /** Backend metrics are registered on `metrics.registry`. */
  metrics: Pick<Metrics, "registry">;
  clock: () => number;
  /** Where tokens and keys named by `*_env` / `*_file` options are read (default: process.env and the file system). */
  credentials?: CredentialSources;
}

/** What every factory receives. */
export interface FactoryDeps {
  local: LocalBackend;
  logger: BackendLogger;
  metrics: BackendMetrics;
  clock: () => number;
  credentials: CredentialSources;
}

export type BackendFactory<K extends BackendKind> = (mount: MountConfigOf<K>, deps: FactoryDeps) => SecretBackend;

const factories: { [K in BackendKind]: BackendFactory<K> } = {
  local: (mount, deps) => deps.local.scoped(mount.path),
  vault: createVaultBackend,
  aws: createAwsBackend,
};

/** Builds the backend of one configured mount. Throws BrokerError("invalid_request") when a named credential is missing. */
export function createBackend<K extends BackendKind>(kind: K, mount: MountConfigOf<K>, deps: FactoryDeps): SecretBackend {
  return factories[kind](mount, deps);
}

/**
 * The mount table for the configured mounts. Wire it in the composition root:
 * `const mounts = await createMountTable(config.mounts, { local, logger, metrics, clock });`
 * and `await mounts.close()` at shutdown (stops Vault token renewal, closes AWS sockets).
 */
export async function createMountTable(mounts: readonly MountConfig[], deps: MountTableDeps): Promise<MountTable> {
  const factoryDeps: FactoryDeps = {
    local: deps.local,
    logger: deps.logger,
    metrics: createBackendMetrics(deps.metrics.registry),
    clock: deps.clock,
    credentials: deps.credentials ?? defaultCredentialSources,
  };
  const built = mounts.map((mount) => ({ path: mount.path, backend: createBackend(mount.backend, mount, factoryDeps) }));
  return Promise.resolve(new MountTable(built, deps.local));
}

// ---------------------------------------------------------------------------------------------

interface RemoteOptions {
  path: string;
  timeout: number;
  circuit_breaker: { failure_threshold: number; cooldown: number };
  cache: { max_age: number; max_entries: number };
}

const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

/** The breaker, guard and cache every remote mount has. */
function remoteParts(mount: RemoteOptions, deps: FactoryDeps, classify: ErrorClassifier): { guard: MountGuard; cache: ValueCache } {
  const { logger, metrics, clock } = deps;
  metrics.circuitState.set({ mount: mount.path }, 0);
  const breaker = new CircuitBreaker({
    failureThreshold: mount.circuit_breaker.failure_threshold,
    cooldownMs: mount.circuit_breaker.cooldown * 1000,
    clock,
    onStateChange: (state, previous) => {
      metrics.circuitState.set({ mount: mount.path }, CIRCUIT_GAUGE[state]);
      const log = state === "open" ? logger.warn.bind(logger) : logger.info.bind(logger);
      log({ mount: mount.path, state, previous }, state === "open" ? "backend circuit opened: failing fast" : "backend circuit closed");
    },
  });
  return {
    guard: new MountGuard({ mount: mount.path, timeoutMs: mount.timeout, breaker, metrics, classify }),
    cache: new ValueCache({ maxAgeMs: mount.cache.max_age * 1000, maxEntries: mount.cache.max_entries, clock }),
  };
}

function createVaultBackend(mount: VaultMountConfig, deps: FactoryDeps): SecretBackend {
  const { guard, cache } = remoteParts(mount, deps, classifyVaultError);
  const ca = mount.tls_ca_file === undefined ? undefined : readCredential(mount.path, "tls_ca_file", { file: mount.tls_ca_file }, deps.credentials);
  const client = vault({
    apiVersion: "v1",
    endpoint: mount.address,
    ...(mount.namespace ? { namespace: mount.namespace } : {}),
    requestOptions: { timeout: mount.timeout, ...(ca ? { ca } : {}) },
  });
  // node-vault falls back to $VAULT_TOKEN: the broker only ever sends the token its auth settings name.
  client.token = "";
  checkNamedVariables(mount, deps.credentials);
  const session = new VaultSession({ mount: mount.path, client, auth: mount.auth, sources: deps.credentials, guard, clock: deps.clock, logger: deps.logger });
  if (mount.engine === "dynamic") {
    return new VaultDynamicBackend({ mount: mount.path, dynamicPath: mount.dynamic_path, session, guard, logger: deps.logger });
  }
  return new VaultKvBackend({ mount: mount.path, kvMount: mount.kv_mount, session, guard, cache, metrics: deps.metrics, clock: deps.clock });
}

function createAwsBackend(mount: AwsMountConfig, deps: FactoryDeps): SecretBackend {
  const { guard, cache } = remoteParts(mount, deps, classifyAwsError);
  const named = mount.credentials;
  const credentials =
    named === undefined
      ? undefined
      : {
          accessKeyId: readCredential(mount.path, "credentials.access_key_id_env", { env: named.access_key_id_env }, deps.credentials),
          secretAccessKey: readCredential(mount.path, "credentials.secret_access_key_env", { env: named.secret_access_key_env }, deps.credentials),
          ...(named.session_token_env === undefined
            ? {}
            : { sessionToken: readCredential(mount.path, "credentials.session_token_env", { env: named.session_token_env }, deps.credentials) }),
        };
  const client = new SecretsManagerClient({
    region: mount.region,
    ...(mount.endpoint ? { endpoint: mount.endpoint } : {}),
    // Without explicit credentials the SDK's default provider chain applies (env, profile, SSO, IMDS, ECS, web identity).
    ...(credentials ? { credentials } : {}),
    maxAttempts: mount.max_attempts,
    // Without throwOnRequestTimeout this SDK version only logs a warning when requestTimeout passes.
    requestHandler: { requestTimeout: mount.timeout, connectionTimeout: mount.timeout, throwOnRequestTimeout: true },
  });
  return new AwsSecretsManagerBackend({
    mount: mount.path,
    client,
    namePrefix: mount.name_prefix,
    versionStage: mount.version_stage,
    recoveryWindowDays: mount.recovery_window_days,
    guard,
    cache,
    metrics: deps.metrics,
  });
}

/**
 * Fails at start when an environment variable the auth settings name is not set (files are only
 * read at login: an agent may write them after the broker starts).
 */
function checkNamedVariables(mount: VaultMountConfig, sources: CredentialSources): void {
  const { token_env: tokenEnv, approle } = mount.auth;
  if (tokenEnv !== undefined) readCredential(mount.path, "auth.token_env", { env: tokenEnv }, sources);
  if (approle?.role_id_env !== undefined) readCredential(mount.path, "auth.approle.role_id_env", { env: approle.role_id_env }, sources);
  if (approle?.secret_id_env !== undefined) readCredential(mount.path, "auth.approle.secret_id_env", { env: approle.secret_id_env }, sources);
}
