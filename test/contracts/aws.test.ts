/**
 * The backend contract against AWS Secrets Manager: the real @aws-sdk/client-secrets-manager,
 * through the registry, against the in-repo Secrets Manager test server. The broker's identity
 * is denied everything under denied/*, as an IAM policy scoped to other names would.
 */
import { startSecretsManagerTestServer } from "../servers/aws-server.js";
import { testMounts } from "../backends/helpers.js";
import { backendContract } from "./backend.contract.js";

const TIMEOUT_MS = 300;

backendContract({
  name: "aws",
  async create() {
    // Real AWS stamps versions written by successive calls at distinct milliseconds; a clock that
    // moves 1 ms per reading gives the test server the same property without sleeping.
    let now = Date.now();
    const server = await startSecretsManagerTestServer({ now: () => (now += 1) });
    server.denyAccess("denied/*");
    const mounts = await testMounts(
      [
        {
          path: "aws/",
          backend: "aws",
          region: "us-east-1",
          endpoint: server.endpoint,
          credentials: { access_key_id_env: "AWS_KEY", secret_access_key_env: "AWS_SECRET" },
          timeout: `${TIMEOUT_MS}ms`,
        },
      ],
      { env: { AWS_KEY: "test", AWS_SECRET: "test" } },
    );
    return {
      backend: mounts.table.resolve("aws/x").backend,
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
