/**
 * AWS Secrets Manager as a backend kind: read by stage or version, write, list, and rotation
 * through staging labels. Each mount has its own SDK client, breaker, deadline and cache.
 */
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SecretBackend } from "../backend.js";
import { readCredential } from "../credential-source.js";
import type { BackendPlugin, FactoryDeps } from "../plugin.js";
import { remoteParts } from "../remote.js";
import { awsMountSchema, type AwsMountConfig } from "./config.js";
import { classifyAwsError } from "./errors.js";
import { AwsSecretsManagerBackend } from "./secrets-manager.js";

export const awsPlugin = {
  kind: "aws",
  configSchema: awsMountSchema,
  capabilities: () => ({ staticRead: true, versions: true, list: true, dynamicIssuance: false }),
  create: createAwsBackend,
} satisfies BackendPlugin<"aws", AwsMountConfig>;

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
