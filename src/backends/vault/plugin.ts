/**
 * Vault as a backend kind: `engine: kv` mounts serve KV v2 secrets (read, versions, list,
 * write), `engine: dynamic` mounts issue a credential per lease from a dynamic engine. Each mount
 * has its own node-vault client, session (login, token renewal), breaker, deadline and cache.
 */
import vault from "node-vault";
import type { SecretBackend } from "../backend.js";
import { readCredential, type CredentialSources } from "../credential-source.js";
import type { BackendPlugin, FactoryDeps } from "../plugin.js";
import { remoteParts } from "../remote.js";
import { vaultMountSchema, type VaultMountConfig } from "./config.js";
import { VaultDynamicBackend } from "./dynamic.js";
import { classifyVaultError } from "./errors.js";
import { VaultKvBackend } from "./kv.js";
import { VaultSession } from "./session.js";

export const vaultPlugin = {
  kind: "vault",
  configSchema: vaultMountSchema,
  capabilities: (mount) =>
    mount.engine === "dynamic"
      ? { staticRead: false, versions: false, list: false, dynamicIssuance: true }
      : { staticRead: true, versions: true, list: true, dynamicIssuance: false },
  create: createVaultBackend,
} satisfies BackendPlugin<"vault", VaultMountConfig>;

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
