/** The `mounts` entry of an AWS Secrets Manager mount (`backend: aws`); options are documented in docs/backends.md. */
import { z } from "zod";
import { envName, mountPath, remoteOptions } from "../mount-options.js";

export const awsMountSchema = z
  .object({
    path: mountPath,
    backend: z.literal("aws"),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, "an AWS region, e.g. us-east-1"),
    /** Endpoint override (LocalStack, a VPC endpoint). Default: the region's public endpoint. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Names of environment variables holding static credentials; default: the SDK's provider chain. */
    credentials: z
      .object({ access_key_id_env: envName, secret_access_key_env: envName, session_token_env: envName.optional() })
      .strict()
      .optional(),
    /** Prepended to the location to form the SecretId (`team-a/` + `db` = `team-a/db`). */
    name_prefix: z.string().regex(/^[A-Za-z0-9/_+=.@-]*$/, "secret name characters only").default(""),
    /** The staging label read when no version is asked for. */
    version_stage: z.string().min(1).max(256).default("AWSCURRENT"),
    /** SDK attempts per call, within `timeout` (default 2: one retry of throttling and 5xx). */
    max_attempts: z.number().int().min(1).max(10).default(2),
    /** Days a removed secret can be restored (DeleteSecret RecoveryWindowInDays). */
    recovery_window_days: z.number().int().min(7).max(30).default(30),
    ...remoteOptions,
  })
  .strict();

export type AwsMountConfig = z.output<typeof awsMountSchema>;
