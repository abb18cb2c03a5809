/** The `mounts` entry of a Vault mount (`backend: vault`); options are documented in docs/backends.md. */
import { z } from "zod";
import { envName, exactlyOne, filePath, mountPath, remoteOptions } from "../mount-options.js";

const vaultPath = z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "a Vault path without leading or trailing /, e.g. secret or database/creds");

const vaultAppRole = z
  .object({
    role_id_env: envName.optional(),
    role_id_file: filePath.optional(),
    secret_id_env: envName.optional(),
    secret_id_file: filePath.optional(),
    /** Path the AppRole auth method is mounted at (default approle). */
    mount: vaultPath.default("approle"),
  })
  .strict()
  .superRefine(exactlyOne(["role_id_env", "role_id_file"], "approle role id"))
  .superRefine(exactlyOne(["secret_id_env", "secret_id_file"], "approle secret id"));

const vaultAuth = z
  .object({ token_env: envName.optional(), token_file: filePath.optional(), approle: vaultAppRole.optional() })
  .strict()
  .superRefine(exactlyOne(["token_env", "token_file", "approle"], "auth"));

export const vaultMountSchema = z
  .object({
    path: mountPath,
    backend: z.literal("vault"),
    address: z.url({ protocol: /^https?$/ }),
    namespace: z.string().min(1).optional(),
    /** PEM file of the CA that signed Vault's certificate (default: the system's CAs). */
    tls_ca_file: filePath.optional(),
    auth: vaultAuth,
    /** `kv`: KV v2 secrets under kv_mount. `dynamic`: credentials issued per lease under dynamic_path. */
    engine: z.enum(["kv", "dynamic"]).default("kv"),
    kv_mount: vaultPath.default("secret"),
    dynamic_path: vaultPath.default("database/creds"),
    ...remoteOptions,
  })
  .strict();

export type VaultMountConfig = z.output<typeof vaultMountSchema>;
