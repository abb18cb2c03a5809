/**
 * The backend contract against Vault KV v2: the real node-vault client, through the registry,
 * against the in-repo Vault test server. The broker's token may use secret/data/* except
 * secret/data/denied/*, as a least-privilege Vault policy would say.
 */
import { startVaultTestServer } from "../servers/vault-server.js";
import { testMounts } from "../backends/helpers.js";
import { backendContract } from "./backend.contract.js";

const TIMEOUT_MS = 300;

backendContract({
  name: "vault",
  async create() {
    const server = await startVaultTestServer();
    const { token } = server.createToken({
      rules: [
        { path: "secret/data/*", capabilities: ["create", "read", "update"] },
        { path: "secret/metadata/*", capabilities: ["read", "list", "delete"] },
        { path: "secret/data/denied/*", capabilities: ["deny"] },
      ],
    });
    const mounts = await testMounts(
      [{ path: "kv/", backend: "vault", address: server.url, auth: { token_env: "VAULT_TOKEN" }, timeout: `${TIMEOUT_MS}ms` }],
      { env: { VAULT_TOKEN: token } },
    );
    return {
      backend: mounts.table.resolve("kv/x").backend,
      deniedLocation: "denied/db",
      takeDown: () => server.setDown("refuse"),
      slowDown: () => server.setLatencyMs(TIMEOUT_MS * 3),
      timeoutMs: TIMEOUT_MS,
      async close() {
        await mounts.close();
        await server.close();
      },
    };
  },
});
