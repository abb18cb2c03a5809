/**
 * AWS Secrets Manager as a broker backend. A broker path under the mount maps onto a secret name:
 * with mount `aws/` and `name_prefix: ""`, `aws/prod/db` is location `prod/db`, SecretId `prod/db`.
 * The value is the SecretString as stored (UTF-8) or the SecretBinary bytes; `#key` selection of
 * a JSON SecretString is the caller's business.
 *
 * Versions: AWS identifies versions by VersionId (a UUID) and staging labels. The broker's version
 * number of an AWS version is its CreatedDate in milliseconds since the epoch: monotonic, never
 * reused, stable when AWS prunes deprecated versions, and known from GetSecretValue without an
 * extra call. The VersionId travels along as `versionId`. (docs/backends.md says why not 1, 2, 3.)
 */
import { randomUUID } from "node:crypto";
import { isUtf8 } from "node:buffer";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  UpdateSecretVersionStageCommand,
  type GetSecretValueCommandOutput,
  type SecretVersionsListEntry,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { BrokerError } from "../../errors.js";
import type {
  BackendValue,
  BackendVersionInfo,
  CachingBackend,
  ClosableBackend,
  ListableBackend,
  ManagedRotationBackend,
  StagedRotationBackend,
  StagedVersion,
  WritableBackend,
  WriteOptions,
} from "../backend.js";
import { readThrough, type ValueCache } from "../cache.js";
import type { MountGuard } from "../guard.js";
import type { BackendMetrics } from "../metrics.js";
import { awsFailure } from "./errors.js";

const AWSCURRENT = "AWSCURRENT";
const AWSPENDING = "AWSPENDING";

export interface AwsSecretsManagerBackendOptions {
  mount: string;
  client: SecretsManagerClient;
  /** Prepended to a location to form the SecretId. */
  namePrefix: string;
  /** Label read when no version is asked for (default AWSCURRENT). */
  versionStage: string;
  /** RecoveryWindowInDays of DeleteSecret (7..30). */
  recoveryWindowDays: number;
  guard: MountGuard;
  cache: ValueCache;
  metrics: Pick<BackendMetrics, "cache">;
}

/** Name DescribeSecret'd by the readiness probe: a not-found answer proves AWS answers and accepts the credentials. */
const HEALTH_PROBE_NAME = "credbroker-health-probe";
const DEFAULT_LIST_LIMIT = 1000;

export class AwsSecretsManagerBackend
  implements WritableBackend, ListableBackend, CachingBackend, ClosableBackend, StagedRotationBackend, ManagedRotationBackend
{
  readonly kind = "aws" as const;
  readonly mount: string;

  constructor(private readonly options: AwsSecretsManagerBackendOptions) {
    this.mount = options.mount;
  }

  read(location: string, version?: number): Promise<BackendValue | undefined> {
    const { cache, metrics } = this.options;
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) return Promise.resolve(undefined);
    return readThrough(cache, metrics.cache, this.mount, location, version, async () => {
      if (version === undefined) return this.getValue("read", location, { VersionStage: this.options.versionStage });
      const entry = (await this.listVersions(location, true)).find((candidate) => versionNumber(candidate.CreatedDate) === version);
      return entry?.VersionId === undefined ? undefined : this.getValue("read", location, { VersionId: entry.VersionId });
    });
  }

  async write(location: string, value: Buffer, options: WriteOptions): Promise<number> {
    const versionId = randomUUID();
    try {
      await this.send("write", location, async (client, signal) => {
        try {
          await client.send(new PutSecretValueCommand({ SecretId: this.secretId(location), ClientRequestToken: versionId, ...valueFields(value) }), { abortSignal: signal });
        } catch (error) {
          if (awsFailure(error).name !== "ResourceNotFoundException") throw error;
          await client.send(
            new CreateSecretCommand({
              Name: this.secretId(location),
              ClientRequestToken: versionId,
              ...valueFields(value),
              ...(options.description ? { Description: options.description } : {}),
              ...(options.labels && Object.keys(options.labels).length > 0 ? { Tags: Object.entries(options.labels).map(([Key, Value]) => ({ Key, Value })) } : {}),
            }),
            { abortSignal: signal },
          );
        }
      });
    } finally {
      this.options.cache.invalidate(location);
    }
    return this.versionNumberOf(location, versionId);
  }

  async versions(location: string): Promise<BackendVersionInfo[]> {
    return (await this.listVersions(location, true))
      .filter((entry) => entry.VersionId !== undefined && entry.CreatedDate !== undefined)
      .map((entry) => ({
        version: versionNumber(entry.CreatedDate),
        createdAt: versionNumber(entry.CreatedDate),
        createdBy: "",
        destroyed: false,
        versionId: entry.VersionId ?? "",
        stages: [...(entry.VersionStages ?? [])],
      }))
      .sort((a, b) => a.version - b.version || a.versionId.localeCompare(b.versionId));
  }

  async remove(location: string): Promise<boolean> {
    try {
      return await this.send("remove", location, async (client, signal) => {
        // DeleteSecret on a secret already scheduled for deletion succeeds again: ask first.
        try {
          const described = await client.send(new DescribeSecretCommand({ SecretId: this.secretId(location) }), { abortSignal: signal });
          if (described.DeletedDate !== undefined) return false;
          await client.send(new DeleteSecretCommand({ SecretId: this.secretId(location), RecoveryWindowInDays: this.options.recoveryWindowDays }), {
            abortSignal: signal,
          });
          return true;
        } catch (error) {
          if (isGone(error)) return false;
          throw error;
        }
      });
    } finally {
      this.options.cache.invalidate(location);
    }
  }

  async list(prefix: string, limit = DEFAULT_LIST_LIMIT): Promise<string[]> {
    const wanted = `${this.options.namePrefix}${prefix}`;
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.send("list", prefix || "/", (client, signal) =>
        client.send(
          new ListSecretsCommand({
            MaxResults: 100,
            ...(wanted ? { Filters: [{ Key: "name", Values: [wanted] }] } : {}),
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
          { abortSignal: signal },
        ),
      );
      for (const secret of page.SecretList ?? []) {
        // The name filter matches prefixes loosely (case, word boundaries): check exactly.
        if (secret.Name?.startsWith(wanted)) names.push(secret.Name.slice(this.options.namePrefix.length));
      }
      nextToken = page.NextToken;
    } while (nextToken && names.length < limit);
    return names.sort().slice(0, limit);
  }

  invalidate(location?: string): void {
    this.options.cache.invalidate(location);
  }

  checkHealth(): Promise<void> {
    return this.send("health", undefined, async (client, signal) => {
      try {
        await client.send(new DescribeSecretCommand({ SecretId: `${this.options.namePrefix}${HEALTH_PROBE_NAME}` }), { abortSignal: signal });
      } catch (error) {
        // Either answer proves the endpoint is up and the credentials were authenticated.
        const name = awsFailure(error).name;
        if (name === "ResourceNotFoundException" || name === "AccessDeniedException") return;
        throw error;
      }
    });
  }

  close(): Promise<void> {
    this.options.client.destroy();
    return Promise.resolve();
  }

  // -------------------------------------------------------------------------------------------
  // Staged rotation: AWSPENDING → AWSCURRENT (the old current becomes AWSPREVIOUS).

  async stagePending(location: string, value: Buffer, rotationId: string): Promise<StagedVersion> {
    checkRotationId(rotationId);
    await this.send("stage", location, (client, signal) =>
      client.send(
        new PutSecretValueCommand({ SecretId: this.secretId(location), ClientRequestToken: rotationId, VersionStages: [AWSPENDING], ...valueFields(value) }),
        { abortSignal: signal },
      ),
    );
    return { version: await this.versionNumberOf(location, rotationId), versionId: rotationId };
  }

  async readPending(location: string): Promise<(BackendValue & { versionId: string }) | undefined> {
    const pending = await this.send("read_pending", location, async (client, signal) => {
      try {
        return await client.send(new GetSecretValueCommand({ SecretId: this.secretId(location), VersionStage: AWSPENDING }), { abortSignal: signal });
      } catch (error) {
        if (isGone(error)) return undefined;
        throw error;
      }
    });
    // A leftover AWSPENDING on the current version is a finished rotation, not a pending one.
    if (!pending || pending.VersionStages?.includes(AWSCURRENT)) return undefined;
    const value = toBackendValue(this.mount, pending);
    return value.versionId === undefined ? undefined : { ...value, versionId: value.versionId };
  }

  async promote(location: string, versionId: string): Promise<void> {
    try {
      await this.send("promote", location, async (client, signal) => {
        const stages = await this.stagesOf(client, signal, location);
        if (!stages.has(versionId)) throw new BrokerError("not_found", `version ${versionId} of ${location} not found on backend ${this.mount}`);
        const current = holderOf(stages, AWSCURRENT);
        if (current !== versionId) {
          await client.send(
            new UpdateSecretVersionStageCommand({
              SecretId: this.secretId(location),
              VersionStage: AWSCURRENT,
              MoveToVersionId: versionId,
              ...(current ? { RemoveFromVersionId: current } : {}),
            }),
            { abortSignal: signal },
          );
        }
        if (stages.get(versionId)?.includes(AWSPENDING)) {
          await client.send(new UpdateSecretVersionStageCommand({ SecretId: this.secretId(location), VersionStage: AWSPENDING, RemoveFromVersionId: versionId }), {
            abortSignal: signal,
          });
        }
      });
    } finally {
      this.options.cache.invalidate(location);
    }
  }

  async discardPending(location: string, versionId: string): Promise<void> {
    await this.send("discard", location, async (client, signal) => {
      const stages = await this.stagesOf(client, signal, location);
      const labels = stages.get(versionId);
      if (!labels?.includes(AWSPENDING) || labels.includes(AWSCURRENT)) return;
      await client.send(new UpdateSecretVersionStageCommand({ SecretId: this.secretId(location), VersionStage: AWSPENDING, RemoveFromVersionId: versionId }), {
        abortSignal: signal,
      });
    });
  }

  async rotate(location: string, rotationId: string): Promise<{ versionId: string }> {
    checkRotationId(rotationId);
    try {
      const output = await this.send("rotate", location, async (client, signal) => {
        try {
          return await client.send(new RotateSecretCommand({ SecretId: this.secretId(location), ClientRequestToken: rotationId }), { abortSignal: signal });
        } catch (error) {
          const failure = awsFailure(error);
          if (failure.name !== "InvalidRequestException") throw error;
          // No rotation Lambda configured, or a previous rotation is unfinished.
          throw new BrokerError("conflict", `backend ${this.mount} cannot rotate ${location} now (AWS: ${failure.message || failure.name})`, {
            detail: failure.message,
          });
        }
      });
      return { versionId: output.VersionId ?? rotationId };
    } finally {
      this.options.cache.invalidate(location);
    }
  }

  // -------------------------------------------------------------------------------------------

  private secretId(location: string): string {
    return `${this.options.namePrefix}${location}`;
  }

  private send<T>(operation: string, location: string | undefined, call: (client: SecretsManagerClient, signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.options.guard.run(operation, location, (signal) => call(this.options.client, signal));
  }

  private getValue(operation: string, location: string, selector: { VersionStage: string } | { VersionId: string }): Promise<BackendValue | undefined> {
    return this.send(operation, location, async (client, signal) => {
      try {
        const output = await client.send(new GetSecretValueCommand({ SecretId: this.secretId(location), ...selector }), { abortSignal: signal });
        return toBackendValue(this.mount, output);
      } catch (error) {
        if (isGone(error)) return undefined;
        throw error;
      }
    });
  }

  /** Every version (with deprecated ones when asked), all pages; empty when the secret does not exist. */
  private async listVersions(location: string, includeDeprecated: boolean): Promise<SecretVersionsListEntry[]> {
    const versions: SecretVersionsListEntry[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.send("versions", location, async (client, signal) => {
        try {
          return await client.send(
            new ListSecretVersionIdsCommand({
              SecretId: this.secretId(location),
              IncludeDeprecated: includeDeprecated,
              MaxResults: 100,
              ...(nextToken ? { NextToken: nextToken } : {}),
            }),
            { abortSignal: signal },
          );
        } catch (error) {
          if (isGone(error)) return undefined;
          throw error;
        }
      });
      if (!page) return [];
      versions.push(...(page.Versions ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return versions;
  }

  /** The broker's number of a version just written (found among the labelled versions first). */
  private async versionNumberOf(location: string, versionId: string): Promise<number> {
    for (const includeDeprecated of [false, true]) {
      const entry = (await this.listVersions(location, includeDeprecated)).find((candidate) => candidate.VersionId === versionId);
      if (entry?.CreatedDate) return versionNumber(entry.CreatedDate);
    }
    throw new BrokerError("backend_unavailable", `backend ${this.mount} does not list the version it just stored`, { data: { backend: this.mount } });
  }

  private async stagesOf(client: SecretsManagerClient, signal: AbortSignal, location: string): Promise<Map<string, string[]>> {
    const described = await client.send(new DescribeSecretCommand({ SecretId: this.secretId(location) }), { abortSignal: signal });
    return new Map(Object.entries(described.VersionIdsToStages ?? {}));
  }
}

function versionNumber(date: Date | undefined): number {
  return date ? date.getTime() : 0;
}

function holderOf(stages: Map<string, string[]>, label: string): string | undefined {
  for (const [versionId, labels] of stages) if (labels.includes(label)) return versionId;
  return undefined;
}

function toBackendValue(mount: string, output: GetSecretValueCommandOutput): BackendValue {
  let bytes: Buffer;
  if (output.SecretString !== undefined) bytes = Buffer.from(output.SecretString, "utf8");
  else if (output.SecretBinary !== undefined) bytes = Buffer.from(output.SecretBinary);
  else throw new BrokerError("backend_unavailable", `backend ${mount} answered without a value`, { data: { backend: mount } });
  const createdAt = versionNumber(output.CreatedDate);
  return { bytes, version: createdAt, createdAt, ...(output.VersionId ? { versionId: output.VersionId } : {}) };
}

/** UTF-8 text is stored as SecretString (readable in the console, `#key`-selectable), anything else as SecretBinary. */
function valueFields(value: Buffer): { SecretString: string } | { SecretBinary: Uint8Array } {
  return isUtf8(value) ? { SecretString: value.toString("utf8") } : { SecretBinary: new Uint8Array(value) };
}

/** The secret does not exist, that version or label does not, or it is scheduled for deletion. */
function isGone(error: unknown): boolean {
  const failure = awsFailure(error);
  if (failure.name === "ResourceNotFoundException") return true;
  return failure.name === "InvalidRequestException" && /marked for deletion|scheduled for deletion/i.test(failure.message);
}

function checkRotationId(rotationId: string): void {
  if (rotationId.length < 32 || rotationId.length > 64) throw new TypeError("rotationId must be 32..64 characters (e.g. a UUID)");
}
