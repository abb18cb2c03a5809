/**
 * The dynamic backend contract against Vault's database secrets engine: the real node-vault
 * client, through the registry, against the in-repo Vault test server. The broker's token may
 * issue credentials under database/creds/* except database/creds/denied, and renew and revoke
 * leases through sys/leases, as a least-privilege Vault policy would say.
 */
import { startVaultTestServer } from "../servers/vault-server.js";
import { testMounts } from "../backends/helpers.js";
import { dynamicBackendContract } from "./dynamic-backend.contract.js";

const TIMEOUT_MS = 300;
const ROLE = { location: "analytics-ro", defaultSeconds: 300, maxSeconds: 3600 };

dynamicBackendContract({
  name: "vault database engine",
  async create() {
    // Vault's clock stands still unless a case moves it: TTLs then compare exactly.
    const frozen = Date.now();
    const server = await startVaultTestServer({ now: () => frozen });
    server.addDatabaseRole(ROLE.location, { defaultTtlSeconds: ROLE.defaultSeconds, maxTtlSeconds: ROLE.maxSeconds });
    server.addDatabaseRole("one-shot", { defaultTtlSeconds: ROLE.defaultSeconds, maxTtlSeconds: ROLE.maxSeconds, renewable: false });
    server.addDatabaseRole("denied", { defaultTtlSeconds: ROLE.defaultSeconds });
    const { token } = server.createToken({
      rules: [
        { path: "database/creds/*", capabilities: ["read"] },
        { path: "database/creds/denied", capabilities: ["deny"] },
        { path: "sys/leases/renew", capabilities: ["update"] },
        { path: "sys/leases/revoke", capabilities: ["update"] },
      ],
    });
    const mounts = await testMounts(
      [{ path: "db/", backend: "vault", address: server.url, engine: "dynamic", auth: { token_env: "VAULT_TOKEN" }, timeout: `${TIMEOUT_MS}ms` }],
      { env: { VAULT_TOKEN: token } },
    );
    return {
      backend: mounts.table.resolve("db/x").backend,
      role: ROLE,
      nonRenewableRole: "one-shot",
      deniedRole: "denied",
      activeLeaseIds: () => server.activeLeases().map((lease) => lease.leaseId),
      leaseTtlSeconds: (id) => server.activeLeases().find((lease) => lease.leaseId === id)?.ttlSeconds,
      advanceClock: (seconds) => server.advanceClock(seconds),
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
