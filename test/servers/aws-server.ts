/**
 * An in-repo stand-in for AWS Secrets Manager, speaking the AWS JSON 1.1 protocol
 * (`POST /`, `X-Amz-Target: secretsmanager.<Operation>`, `Content-Type: application/x-amz-json-1.1`)
 * so that the real `@aws-sdk/client-secrets-manager` can be tested against it.
 *
 * Semantics follow the Secrets Manager API reference (the SDK ships it in its typings):
 * versions carry staging labels, each label sits on at most one version, moving AWSCURRENT moves
 * AWSPREVIOUS to the version it left, `ClientRequestToken` is the new VersionId and makes writes
 * idempotent, errors are `{"__type", "Message"}` with HTTP 400 (500 for InternalServiceError).
 * RotateSecret runs a simulated rotation Lambda (createSecret → setSecret → testSecret →
 * finishSecret). SigV4 signatures are not verified, but an Authorization header must be present.
 */
import { randomBytes, randomUUID } from "node:crypto";

import { createTestClock, startHarness, type DownMode, type HarnessRequest, type HarnessResponse } from "./http-harness.js";

export type { DownMode } from "./http-harness.js";

export const AWSCURRENT = "AWSCURRENT";
export const AWSPREVIOUS = "AWSPREVIOUS";
export const AWSPENDING = "AWSPENDING";

/** The operations this server implements (the `<Operation>` of `X-Amz-Target`). */
export const SECRETS_MANAGER_OPERATIONS = [
  "CancelRotateSecret",
  "CreateSecret",
  "DeleteSecret",
  "DescribeSecret",
  "GetSecretValue",
  "ListSecretVersionIds",
  "ListSecrets",
  "PutSecretValue",
  "RestoreSecret",
  "RotateSecret",
  "TagResource",
  "UntagResource",
  "UpdateSecret",
  "UpdateSecretVersionStage",
] as const;

export type SecretsManagerOperation = (typeof SECRETS_MANAGER_OPERATIONS)[number];

/** A secret value as the control API takes it: text or bytes, never both. */
export type SecretValue = { secretString: string; secretBinary?: never } | { secretBinary: Uint8Array; secretString?: never };

export interface SecretsManagerTestServerOptions {
  /** Region in ARNs (default `us-east-1`). */
  region?: string;
  /** Account id in ARNs (default `123456789012`). */
  accountId?: string;
  /** Base time source in ms since the epoch (default `Date.now`); `advanceClock` adds to it. */
  now?: () => number;
  /** Default behaviour of the simulated rotation Lambda. */
  rotation?: RotationBehaviour;
}

export interface RotationBehaviour {
  /**
   * `complete` (default): all four steps succeed. `fail`: the Lambda stops after createSecret,
   * leaving AWSPENDING on a version that is not AWSCURRENT, so the next RotateSecret is refused
   * with "A previous rotation isn't complete".
   */
  outcome?: "complete" | "fail";
  /**
   * Milliseconds between createSecret (AWSPENDING visible) and finishSecret. Default 0: the
   * rotation is complete before RotateSecret answers. Real rotation is asynchronous.
   */
  finishDelayMs?: number;
  /** New value for the pending version. Default: same JSON with a fresh `password`, else random text. */
  generate?: (previous: SecretValue | undefined, context: { name: string; versionId: string }) => SecretValue;
  /** Keep AWSPENDING on the new version after finishSecret (default false: the label is removed). */
  keepPendingLabel?: boolean;
}

export interface SeedOptions {
  description?: string;
  tags?: Array<{ Key: string; Value: string }>;
  /** VersionId of the seeded version (default: a random UUID). */
  versionId?: string;
  /** Labels of the seeded version (default AWSCURRENT, with AWSPREVIOUS moved as PutSecretValue does). */
  versionStages?: string[];
  /** Configures rotation (RotationEnabled true) with this Lambda ARN. */
  rotationLambdaArn?: string;
  automaticallyAfterDays?: number;
}

export interface SeededSecret {
  arn: string;
  name: string;
  versionId: string;
}

/** Denies matching requests with AccessDeniedException, as an IAM policy without the permission would. */
export interface AccessDenial {
  /** Secret name glob (`*` matches anything, including `/`), a RegExp on the name, or `true` for everything. */
  secret: string | RegExp | true;
  /** Only these operations (default: all). */
  operations?: readonly string[];
}

export interface SecretsManagerFault {
  operation?: string;
  /** Secret name (or the SecretId as sent, when it resolves to nothing). */
  secretId?: string;
  /** The `__type`, e.g. InternalServiceError, ThrottlingException, LimitExceededException. */
  type: string;
  message?: string;
  /** Default 500 for InternalServiceError/InternalFailure, 400 otherwise. */
  status?: number;
  /** Default 1; `Infinity` keeps it until `clearFaults`. */
  times?: number;
}

export interface SecretVersionSnapshot {
  versionId: string;
  stages: string[];
  createdDate: Date;
  secretString?: string;
  secretBinary?: Uint8Array;
}

export interface SecretSnapshot {
  arn: string;
  name: string;
  description?: string;
  scheduledForDeletion: boolean;
  rotationEnabled: boolean | undefined;
  rotationLambdaArn?: string;
  lastRotatedDate?: Date;
  versions: SecretVersionSnapshot[];
}

export interface SecretsManagerRequestRecord {
  operation: string;
  /** The SecretId as sent, when the operation has one. Secret values are never logged. */
  secretId?: string;
  status: number;
  errorType?: string;
  at: Date;
}

export interface SecretsManagerTestServer {
  /** `http://127.0.0.1:<port>`, for the client's `endpoint`. */
  readonly endpoint: string;
  readonly region: string;
  readonly accountId: string;
  close(): Promise<void>;
  setDown(down: boolean | DownMode): Promise<void>;
  setLatencyMs(ms: number): void;
  advanceClock(seconds: number): void;
  now(): Date;
  /** Creates the secret with a first version, or adds a version to an existing one (as PutSecretValue). */
  seed(name: string, value: SecretValue, options?: SeedOptions): SeededSecret;
  /** Turns rotation on for a secret, as RotateSecret with `RotateImmediately: false` would. */
  enableRotation(name: string, options?: { lambdaArn?: string; automaticallyAfterDays?: number }): void;
  /** Sets the simulated rotation Lambda's behaviour, for one secret or (without name) the default. */
  setRotationBehaviour(behaviour: RotationBehaviour, name?: string): void;
  /** Adds a denial; `denyAccess(true)` denies everything. Use `allowAccess()` to clear all denials. */
  denyAccess(secret: string | RegExp | true, options?: { operations?: readonly string[] }): void;
  allowAccess(): void;
  injectFault(fault: SecretsManagerFault): void;
  clearFaults(): void;
  /** A copy of a secret's state, including values (for assertions only), or undefined. */
  secret(nameOrArn: string): SecretSnapshot | undefined;
  requests(): SecretsManagerRequestRecord[];
  clearRequests(): void;
}

// ---------------------------------------------------------------------------------------------
// State

interface Version {
  versionId: string;
  secretString?: string;
  secretBinary?: Buffer;
  stages: string[];
  createdDate: number;
  lastAccessedDate?: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: Array<{ Key: string; Value: string }>;
  createdDate: number;
  lastChangedDate: number;
  lastAccessedDate?: number;
  /** Set when scheduled for deletion. */
  deletedDate?: number;
  deletionDate?: number;
  /** undefined: rotation never configured (DescribeSecret then omits RotationEnabled). */
  rotationEnabled?: boolean;
  rotationLambdaArn?: string;
  rotationRules?: { AutomaticallyAfterDays?: number; Duration?: string; ScheduleExpression?: string };
  lastRotatedDate?: number;
  /** Insertion order is creation order. */
  versions: Map<string, Version>;
}

/** An error answered as `{"__type": type, "Message": message}`. */
class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";
const JSON_CONTENT_TYPE = "application/x-amz-json-1.1";
const TARGET_PREFIX = "secretsmanager.";
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

export async function startSecretsManagerTestServer(
  options: SecretsManagerTestServerOptions = {},
): Promise<SecretsManagerTestServer> {
  const clock = createTestClock(options.now);
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "123456789012";
  const secrets = new Map<string, Secret>();
  const denials: AccessDenial[] = [];
  const faults: Array<SecretsManagerFault & { remaining: number }> = [];
  const requestLog: SecretsManagerRequestRecord[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let defaultRotation: RotationBehaviour = { ...options.rotation };
  const rotationBySecret = new Map<string, RotationBehaviour>();

  const now = () => clock.now();

  // -------------------------------------------------------------------------------------------
  // Lookup and label bookkeeping

  function resolve(secretId: string): Secret | undefined {
    if (!secretId.startsWith("arn:")) return secrets.get(secretId);
    for (const secret of secrets.values()) {
      // A full ARN, or a partial ARN without the six-character suffix.
      if (secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    return undefined;
  }

  function mustResolve(secretId: string): Secret {
    const secret = resolve(secretId);
    if (!secret) throw new AwsError("ResourceNotFoundException", NOT_FOUND);
    return secret;
  }

  function mustBeActive(secret: Secret): void {
    if (secret.deletedDate !== undefined) throw new AwsError("InvalidRequestException", MARKED_FOR_DELETION);
  }

  function holderOf(secret: Secret, label: string): Version | undefined {
    for (const version of secret.versions.values()) if (version.stages.includes(label)) return version;
    return undefined;
  }

  /** Attaches `label` to `target`, removing it from its holder; moving AWSCURRENT moves AWSPREVIOUS. */
  function moveLabel(secret: Secret, label: string, target: Version): void {
    const holder = holderOf(secret, label);
    if (holder === target) return;
    if (holder) holder.stages = holder.stages.filter((s) => s !== label);
    target.stages.push(label);
    if (label === AWSCURRENT && holder) moveLabel(secret, AWSPREVIOUS, holder);
  }

  function removeLabel(version: Version, label: string): void {
    version.stages = version.stages.filter((s) => s !== label);
  }

  function dayOf(ms: number): number {
    const d = new Date(ms);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  }

  function newArn(name: string): string {
    return `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${randomAlnum(6)}`;
  }

  /**
   * Adds a version (PutSecretValue / UpdateSecret / CreateSecret semantics): idempotent on an
   * existing VersionId with the same value, ResourceExistsException with a different one.
   */
  function addVersion(secret: Secret, versionId: string, value: StoredValue, stages: readonly string[] | undefined): Version {
    const existing = secret.versions.get(versionId);
    if (existing) {
      if (!sameValue(existing, value)) {
        throw new AwsError("ResourceExistsException", "You can't modify an existing version, you can only create a new version.");
      }
      return existing;
    }
    const isFirst = holderOf(secret, AWSCURRENT) === undefined;
    const version: Version = { versionId, ...value, stages: [], createdDate: now() };
    secret.versions.set(versionId, version);
    const labels = [...(stages ?? [AWSCURRENT])];
    if (isFirst && !labels.includes(AWSCURRENT)) labels.unshift(AWSCURRENT);
    for (const label of labels) moveLabel(secret, label, version);
    secret.lastChangedDate = now();
    return version;
  }

  // -------------------------------------------------------------------------------------------
  // Request handling

  async function handle(request: HarnessRequest): Promise<HarnessResponse> {
    const target = headerValue(request, "x-amz-target") ?? "";
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    let secretId: string | undefined;
    let response: HarnessResponse;
    try {
      if (request.method !== "POST" || request.path !== "/") {
        throw new AwsError("com.amazon.coral.service#UnknownOperationException", "", 404);
      }
      checkAuthorization(request);
      const input = parseInput(request);
      secretId = typeof input.SecretId === "string" ? input.SecretId : undefined;
      if (!isOperation(operation)) throw new AwsError("com.amazon.coral.service#UnknownOperationException", "");
      const fault = takeFault(operation, secretId);
      if (fault) throw new AwsError(fault.type, fault.message ?? defaultFaultMessage(fault.type), fault.status ?? defaultFaultStatus(fault.type));
      checkAccess(request, operation, secretId);
      const output = await operations[operation](input);
      response = {
        status: 200,
        headers: { "content-type": JSON_CONTENT_TYPE, "x-amzn-requestid": randomUUID() },
        body: JSON.stringify(output),
      };
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      const body: Record<string, string> = { __type: error.type };
      if (error.message) {
        // Coral-level errors use `message`; Secrets Manager's modelled errors use `Message`.
        body[error.type.startsWith("com.amazon.coral") ? "message" : "Message"] = error.message;
      }
      response = {
        status: error.status,
        headers: { "content-type": JSON_CONTENT_TYPE, "x-amzn-requestid": randomUUID() },
        body: JSON.stringify(body),
      };
      requestLog.push({ operation, secretId, status: error.status, errorType: error.type.replace(/^.*#/, ""), at: new Date(now()) });
      return response;
    }
    requestLog.push({ operation, secretId, status: response.status, at: new Date(now()) });
    return response;
  }

  function checkAuthorization(request: HarnessRequest): void {
    const authorization = headerValue(request, "authorization");
    if (authorization === undefined || authorization === "") {
      throw new AwsError("com.amazon.coral.service#MissingAuthenticationTokenException", "Request is missing Authentication Token");
    }
    const problems: string[] = [];
    if (!authorization.startsWith("AWS4-HMAC-SHA256 ")) problems.push("Unsupported authorization scheme; expected AWS4-HMAC-SHA256.");
    for (const part of ["Credential", "SignedHeaders", "Signature"]) {
      if (!new RegExp(`[ ,]${part}=[^,\\s]+`).test(authorization)) problems.push(`Authorization header requires '${part}' parameter.`);
    }
    if (headerValue(request, "x-amz-date") === undefined && headerValue(request, "date") === undefined) {
      problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    if (problems.length > 0) throw new AwsError("com.amazon.coral.service#IncompleteSignatureException", problems.join(" "));
  }

  function accessKeyOf(request: HarnessRequest): string {
    const match = /Credential=([^/,\s]+)\//.exec(headerValue(request, "authorization") ?? "");
    return match?.[1] ?? "unknown";
  }

  function checkAccess(request: HarnessRequest, operation: string, secretId: string | undefined): void {
    const name = secretId === undefined ? undefined : (resolve(secretId)?.name ?? secretId);
    const denied = denials.some((d) => {
      if (d.operations && !d.operations.includes(operation)) return false;
      if (d.secret === true) return true;
      if (name === undefined) return false;
      return typeof d.secret === "string" ? globToRegExp(d.secret).test(name) : d.secret.test(name);
    });
    if (!denied) return;
    const resource = secretId ?? "*";
    throw new AwsError(
      "AccessDeniedException",
      `User: arn:aws:iam::${accountId}:user/${accessKeyOf(request)} is not authorized to perform: secretsmanager:${operation} on resource: ${resource} because no identity-based policy allows the secretsmanager:${operation} action`,
    );
  }

  function takeFault(operation: string, secretId: string | undefined): SecretsManagerFault | undefined {
    const name = secretId === undefined ? undefined : (resolve(secretId)?.name ?? secretId);
    const index = faults.findIndex(
      (f) => (f.operation === undefined || f.operation === operation) && (f.secretId === undefined || f.secretId === name),
    );
    const fault = faults[index];
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault;
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  type Input = Record<string, unknown>;
  const operations: Record<SecretsManagerOperation, (input: Input) => Record<string, unknown> | Promise<Record<string, unknown>>> = {
    GetSecretValue(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      mustBeActive(secret);
      const versionId = optionalString(input, "VersionId");
      const stage = optionalString(input, "VersionStage");
      let version: Version | undefined;
      if (versionId !== undefined) {
        version = secret.versions.get(versionId);
        if (!version || (stage !== undefined && !version.stages.includes(stage))) {
          throw new AwsError("ResourceNotFoundException", `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
        }
      } else {
        const label = stage ?? AWSCURRENT;
        version = holderOf(secret, label);
        if (!version) {
          throw new AwsError("ResourceNotFoundException", `Secrets Manager can't find the specified secret value for staging label: ${label}`);
        }
      }
      const today = dayOf(now());
      secret.lastAccessedDate = today;
      version.lastAccessedDate = today;
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        ...valueFields(version),
        VersionStages: [...version.stages],
        CreatedDate: epochSeconds(version.createdDate),
      };
    },

    PutSecretValue(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      const token = requireClientRequestToken(input);
      const value = requireValue(input);
      mustBeActive(secret);
      const stages = optionalStages(input);
      const version = addVersion(secret, token, value, stages);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: [...version.stages] };
    },

    UpdateSecretVersionStage(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      const label = requireString(input, "VersionStage");
      const moveTo = optionalString(input, "MoveToVersionId");
      const removeFrom = optionalString(input, "RemoveFromVersionId");
      mustBeActive(secret);
      if (moveTo === undefined && removeFrom === undefined) {
        throw new AwsError("InvalidParameterException", "You must specify MoveToVersionId or RemoveFromVersionId.");
      }
      const holder = holderOf(secret, label);
      if (removeFrom !== undefined && !secret.versions.has(removeFrom)) {
        throw new AwsError("InvalidParameterException", `The version ${removeFrom} in RemoveFromVersionId doesn't exist.`);
      }
      if (moveTo !== undefined) {
        const target = secret.versions.get(moveTo);
        if (!target) throw new AwsError("InvalidParameterException", `The version ${moveTo} in MoveToVersionId doesn't exist.`);
        if (holder && holder !== target) {
          if (removeFrom === undefined) {
            throw new AwsError(
              "InvalidParameterException",
              `The parameter RemoveFromVersionId can't be empty. Staging label ${label} is currently attached to version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
            );
          }
          if (removeFrom !== holder.versionId) {
            throw new AwsError(
              "InvalidParameterException",
              `The staging label ${label} is currently attached to version ${holder.versionId}, not to version ${removeFrom}.`,
            );
          }
        }
        moveLabel(secret, label, target);
      } else if (removeFrom !== undefined) {
        const from = secret.versions.get(removeFrom);
        if (!from?.stages.includes(label)) {
          throw new AwsError("InvalidParameterException", `The staging label ${label} isn't attached to version ${removeFrom}.`);
        }
        if (label === AWSCURRENT) {
          throw new AwsError(
            "InvalidParameterException",
            "You can only move staging label AWSCURRENT to a different secret version. It can’t be completely removed.",
          );
        }
        removeLabel(from, label);
      }
      secret.lastChangedDate = now();
      return { ARN: secret.arn, Name: secret.name };
    },

    DescribeSecret(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...describeFields(secret),
        VersionIdsToStages: versionsToStages(secret),
        CreatedDate: epochSeconds(secret.createdDate),
      };
    },

    ListSecretVersionIds(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      const includeDeprecated = input.IncludeDeprecated === true;
      const all = [...secret.versions.values()].filter((v) => includeDeprecated || v.stages.length > 0);
      const { page, nextToken } = paginate(all, input, `versions:${secret.arn}:${includeDeprecated}`);
      return {
        Versions: page.map((v) => ({
          VersionId: v.versionId,
          VersionStages: [...v.stages],
          ...(v.lastAccessedDate === undefined ? {} : { LastAccessedDate: epochSeconds(v.lastAccessedDate) }),
          CreatedDate: epochSeconds(v.createdDate),
          KmsKeyIds: ["DEFAULT"],
        })),
        ...(nextToken ? { NextToken: nextToken } : {}),
        ARN: secret.arn,
        Name: secret.name,
      };
    },

    CreateSecret(input) {
      const name = requireString(input, "Name");
      if (!NAME_PATTERN.test(name)) {
        throw new AwsError(
          "InvalidParameterException",
          "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        );
      }
      const value = optionalValue(input);
      const token = value === undefined ? optionalString(input, "ClientRequestToken") : requireClientRequestToken(input);
      const existing = secrets.get(name);
      if (existing) {
        if (existing.deletedDate !== undefined) {
          throw new AwsError(
            "InvalidRequestException",
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
          );
        }
        const same = token === undefined ? undefined : existing.versions.get(token);
        if (same && value !== undefined && sameValue(same, value)) {
          return { ARN: existing.arn, Name: existing.name, VersionId: same.versionId };
        }
        throw new AwsError("ResourceExistsException", `The operation failed because the secret ${name} already exists.`);
      }
      const t = now();
      const secret: Secret = {
        arn: newArn(name),
        name,
        tags: parseTags(input.Tags),
        createdDate: t,
        lastChangedDate: t,
        versions: new Map(),
      };
      const description = optionalString(input, "Description");
      if (description !== undefined) secret.description = description;
      const kmsKeyId = optionalString(input, "KmsKeyId");
      if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
      secrets.set(name, secret);
      const version = value === undefined || token === undefined ? undefined : addVersion(secret, token, value, undefined);
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}) };
    },

    ListSecrets(input) {
      const includeDeleted = input.IncludePlannedDeletion === true;
      const filters = parseFilters(input.Filters);
      const sortBy = optionalString(input, "SortBy") ?? "created-date";
      const order = optionalString(input, "SortOrder") ?? "asc";
      if (!["asc", "desc"].includes(order)) throw new AwsError("InvalidParameterException", `Invalid SortOrder: ${order}`);
      const key = (s: Secret): number | string => {
        switch (sortBy) {
          case "name":
            return s.name;
          case "last-changed-date":
            return s.lastChangedDate;
          case "last-accessed-date":
            return s.lastAccessedDate ?? 0;
          case "created-date":
            return s.createdDate;
          default:
            throw new AwsError("InvalidParameterException", `Invalid SortBy: ${sortBy}`);
        }
      };
      const matching = [...secrets.values()]
        .filter((s) => includeDeleted || s.deletedDate === undefined)
        .filter((s) => filters.every((f) => matchesFilter(s, f)))
        .sort((a, b) => {
          const ka = key(a);
          const kb = key(b);
          const cmp = ka < kb ? -1 : ka > kb ? 1 : a.name.localeCompare(b.name);
          return order === "asc" ? cmp : -cmp;
        });
      const { page, nextToken } = paginate(matching, input, `secrets:${JSON.stringify([filters, sortBy, order, includeDeleted])}`);
      return {
        SecretList: page.map((s) => ({
          ARN: s.arn,
          Name: s.name,
          ...describeFields(s),
          SecretVersionsToStages: versionsToStages(s),
          CreatedDate: epochSeconds(s.createdDate),
        })),
        ...(nextToken ? { NextToken: nextToken } : {}),
      };
    },

    RotateSecret(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      const token = requireClientRequestToken(input);
      mustBeActive(secret);
      const lambdaArn = optionalString(input, "RotationLambdaARN") ?? secret.rotationLambdaArn;
      if (lambdaArn === undefined) {
        throw new AwsError("InvalidRequestException", "No Lambda rotation function ARN is associated with this secret.");
      }
      const rules = input.RotationRules;
      if (rules !== undefined) {
        if (typeof rules !== "object" || rules === null) throw new AwsError("InvalidParameterException", "RotationRules must be an object.");
        const r = rules as Record<string, unknown>;
        if (r.AutomaticallyAfterDays !== undefined && r.ScheduleExpression !== undefined) {
          throw new AwsError("InvalidParameterException", "You can't specify both AutomaticallyAfterDays and ScheduleExpression.");
        }
      }
      const pending = holderOf(secret, AWSPENDING);
      if (pending && pending !== holderOf(secret, AWSCURRENT)) {
        throw new AwsError("InvalidRequestException", "A previous rotation isn't complete. That rotation will be reattempted.");
      }
      secret.rotationLambdaArn = lambdaArn;
      if (rules !== undefined) secret.rotationRules = { ...(rules as Secret["rotationRules"]) };
      secret.rotationEnabled = true;
      secret.lastChangedDate = now();
      if (input.RotateImmediately === false) return { ARN: secret.arn, Name: secret.name };
      runRotation(secret, token);
      return { ARN: secret.arn, Name: secret.name, VersionId: token };
    },

    CancelRotateSecret(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      mustBeActive(secret);
      if (secret.rotationEnabled === undefined) {
        throw new AwsError("InvalidRequestException", "Secrets Manager can't cancel rotation because rotation isn't configured for this secret.");
      }
      secret.rotationEnabled = false;
      secret.lastChangedDate = now();
      const pending = holderOf(secret, AWSPENDING);
      const current = holderOf(secret, AWSCURRENT);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(pending && pending !== current ? { VersionId: pending.versionId } : {}),
      };
    },

    DeleteSecret(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      const force = input.ForceDeleteWithoutRecovery === true;
      const windowDays = input.RecoveryWindowInDays;
      if (force && windowDays !== undefined) {
        throw new AwsError("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      }
      const days = windowDays === undefined ? 30 : Number(windowDays);
      if (!force && (!Number.isInteger(days) || days < 7 || days > 30)) {
        throw new AwsError("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).");
      }
      const t = now();
      if (force) {
        secrets.delete(secret.name);
        return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(t) };
      }
      secret.deletedDate ??= t;
      secret.deletionDate ??= t + days * 86_400_000;
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.deletionDate) };
    },

    RestoreSecret(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      delete secret.deletedDate;
      delete secret.deletionDate;
      secret.lastChangedDate = now();
      return { ARN: secret.arn, Name: secret.name };
    },

    UpdateSecret(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      mustBeActive(secret);
      const value = optionalValue(input);
      const description = optionalString(input, "Description");
      if (description !== undefined) secret.description = description;
      const kmsKeyId = optionalString(input, "KmsKeyId");
      if (kmsKeyId !== undefined) {
        if (kmsKeyId === "") delete secret.kmsKeyId;
        else secret.kmsKeyId = kmsKeyId;
      }
      secret.lastChangedDate = now();
      if (value === undefined) return { ARN: secret.arn, Name: secret.name };
      const version = addVersion(secret, requireClientRequestToken(input), value, undefined);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId };
    },

    TagResource(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      mustBeActive(secret);
      for (const tag of parseTags(input.Tags)) {
        secret.tags = secret.tags.filter((t) => t.Key !== tag.Key);
        secret.tags.push(tag);
      }
      secret.lastChangedDate = now();
      return {};
    },

    UntagResource(input) {
      const secret = mustResolve(requireString(input, "SecretId"));
      mustBeActive(secret);
      const keys = Array.isArray(input.TagKeys) ? input.TagKeys : [];
      secret.tags = secret.tags.filter((t) => !keys.includes(t.Key));
      secret.lastChangedDate = now();
      return {};
    },
  };

  function describeFields(secret: Secret): Record<string, unknown> {
    const fields: Record<string, unknown> = {};
    if (secret.description !== undefined) fields.Description = secret.description;
    if (secret.kmsKeyId !== undefined) fields.KmsKeyId = secret.kmsKeyId;
    if (secret.rotationEnabled !== undefined) fields.RotationEnabled = secret.rotationEnabled;
    if (secret.rotationLambdaArn !== undefined) fields.RotationLambdaARN = secret.rotationLambdaArn;
    if (secret.rotationRules !== undefined) fields.RotationRules = { ...secret.rotationRules };
    if (secret.lastRotatedDate !== undefined) fields.LastRotatedDate = epochSeconds(secret.lastRotatedDate);
    fields.LastChangedDate = epochSeconds(secret.lastChangedDate);
    if (secret.lastAccessedDate !== undefined) fields.LastAccessedDate = epochSeconds(secret.lastAccessedDate);
    if (secret.deletedDate !== undefined) fields.DeletedDate = epochSeconds(secret.deletedDate);
    const days = secret.rotationRules?.AutomaticallyAfterDays;
    if (secret.rotationEnabled && days !== undefined) {
      fields.NextRotationDate = epochSeconds((secret.lastRotatedDate ?? secret.createdDate) + days * 86_400_000);
    }
    if (secret.tags.length > 0) fields.Tags = secret.tags.map((t) => ({ ...t }));
    return fields;
  }

  function versionsToStages(secret: Secret): Record<string, string[]> {
    const map: Record<string, string[]> = {};
    for (const v of secret.versions.values()) if (v.stages.length > 0) map[v.versionId] = [...v.stages];
    return map;
  }

  /** Pagination with opaque tokens bound to the query they came from. */
  function paginate<T>(items: T[], input: Input, query: string): { page: T[]; nextToken?: string } {
    const max = input.MaxResults === undefined ? 100 : Number(input.MaxResults);
    if (!Number.isInteger(max) || max < 1 || max > 100) {
      throw new AwsError("InvalidParameterException", "MaxResults must be between 1 and 100.");
    }
    let offset = 0;
    const token = optionalString(input, "NextToken");
    if (token !== undefined) {
      const decoded = decodeToken(token);
      if (!decoded || decoded.query !== query || decoded.offset > items.length) {
        throw new AwsError("InvalidNextTokenException", "The NextToken value is invalid.");
      }
      offset = decoded.offset;
    }
    const page = items.slice(offset, offset + max);
    const next = offset + max;
    return next < items.length ? { page, nextToken: encodeToken({ query, offset: next }) } : { page };
  }

  // -------------------------------------------------------------------------------------------
  // The simulated rotation Lambda

  function runRotation(secret: Secret, versionId: string): void {
    const behaviour = { ...defaultRotation, ...rotationBySecret.get(secret.name) };
    const current = holderOf(secret, AWSCURRENT);
    const previous = current ? storedToValue(current) : undefined;
    // createSecret: a new version holding AWSPENDING (idempotent on the token, as the Lambda is).
    let pending = secret.versions.get(versionId);
    if (!pending) {
      const generated = (behaviour.generate ?? defaultGenerate)(previous, { name: secret.name, versionId });
      pending = addVersion(secret, versionId, valueToStored(generated), [AWSPENDING]);
    } else if (!pending.stages.includes(AWSPENDING)) {
      moveLabel(secret, AWSPENDING, pending);
    }
    if (behaviour.outcome === "fail") return;
    const target = pending;
    const finish = () => {
      // finishSecret: AWSCURRENT moves to the new version (the old one becomes AWSPREVIOUS).
      if (!secrets.has(secret.name) || !secret.versions.has(target.versionId)) return;
      moveLabel(secret, AWSCURRENT, target);
      if (!behaviour.keepPendingLabel) removeLabel(target, AWSPENDING);
      secret.lastRotatedDate = now();
      secret.lastChangedDate = now();
    };
    const delay = behaviour.finishDelayMs ?? 0;
    if (delay <= 0) {
      finish();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      finish();
    }, delay);
    timers.add(timer);
  }

  // -------------------------------------------------------------------------------------------
  // Control API

  const harness = await startHarness({ handler: handle });
  const endpoint = `http://${harness.host}:${harness.port}`;

  return {
    endpoint,
    region,
    accountId,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await harness.close();
    },
    setDown: (down) => harness.setDown(down),
    setLatencyMs: (ms) => harness.setLatencyMs(ms),
    advanceClock: (seconds) => clock.advance(seconds),
    now: () => new Date(now()),
    seed(name, value, seedOptions = {}) {
      if (!NAME_PATTERN.test(name)) throw new TypeError(`seed: invalid secret name "${name}"`);
      let secret = secrets.get(name);
      if (!secret) {
        const t = now();
        secret = { arn: newArn(name), name, tags: [...(seedOptions.tags ?? [])], createdDate: t, lastChangedDate: t, versions: new Map() };
        if (seedOptions.description !== undefined) secret.description = seedOptions.description;
        secrets.set(name, secret);
      }
      const version = addVersion(secret, seedOptions.versionId ?? randomUUID(), valueToStored(value), seedOptions.versionStages);
      if (seedOptions.rotationLambdaArn !== undefined) {
        secret.rotationEnabled = true;
        secret.rotationLambdaArn = seedOptions.rotationLambdaArn;
        if (seedOptions.automaticallyAfterDays !== undefined) {
          secret.rotationRules = { AutomaticallyAfterDays: seedOptions.automaticallyAfterDays };
        }
      }
      return { arn: secret.arn, name: secret.name, versionId: version.versionId };
    },
    enableRotation(name, rotationOptions = {}) {
      const secret = secrets.get(name);
      if (!secret) throw new TypeError(`enableRotation: unknown secret "${name}"`);
      secret.rotationEnabled = true;
      secret.rotationLambdaArn =
        rotationOptions.lambdaArn ?? `arn:aws:lambda:${region}:${accountId}:function:credbroker-test-rotation`;
      if (rotationOptions.automaticallyAfterDays !== undefined) {
        secret.rotationRules = { AutomaticallyAfterDays: rotationOptions.automaticallyAfterDays };
      }
    },
    setRotationBehaviour(behaviour, name) {
      if (name === undefined) defaultRotation = { ...behaviour };
      else rotationBySecret.set(name, { ...behaviour });
    },
    denyAccess(secret, denyOptions = {}) {
      denials.push({ secret, ...(denyOptions.operations ? { operations: [...denyOptions.operations] } : {}) });
    },
    allowAccess: () => {
      denials.length = 0;
    },
    injectFault(fault) {
      faults.push({ ...fault, remaining: fault.times ?? 1 });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    secret(nameOrArn) {
      const secret = resolve(nameOrArn);
      if (!secret) return undefined;
      return {
        arn: secret.arn,
        name: secret.name,
        ...(secret.description === undefined ? {} : { description: secret.description }),
        scheduledForDeletion: secret.deletedDate !== undefined,
        rotationEnabled: secret.rotationEnabled,
        ...(secret.rotationLambdaArn === undefined ? {} : { rotationLambdaArn: secret.rotationLambdaArn }),
        ...(secret.lastRotatedDate === undefined ? {} : { lastRotatedDate: new Date(secret.lastRotatedDate) }),
        versions: [...secret.versions.values()].map((v) => ({
          versionId: v.versionId,
          stages: [...v.stages],
          createdDate: new Date(v.createdDate),
          ...(v.secretString === undefined ? {} : { secretString: v.secretString }),
          ...(v.secretBinary === undefined ? {} : { secretBinary: new Uint8Array(v.secretBinary) }),
        })),
      };
    },
    requests: () => requestLog.map((r) => ({ ...r })),
    clearRequests: () => {
      requestLog.length = 0;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

type StoredValue = { secretString: string; secretBinary?: undefined } | { secretBinary: Buffer; secretString?: undefined };

function isOperation(name: string): name is SecretsManagerOperation {
  return (SECRETS_MANAGER_OPERATIONS as readonly string[]).includes(name);
}

function headerValue(request: HarnessRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseInput(request: HarnessRequest): Record<string, unknown> {
  const text = request.body.toString("utf8");
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AwsError("SerializationException", "Start of structure or map found where not expected.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new AwsError("SerializationException", "Start of structure or map found where not expected.");
  }
  return parsed as Record<string, unknown>;
}

function requireString(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== "string" || value === "") {
    throw new AwsError("InvalidParameterException", `You must provide a value for the ${name} parameter.`);
  }
  return value;
}

function optionalString(input: Record<string, unknown>, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new AwsError("InvalidParameterException", `Invalid value for ${name}.`);
  return value;
}

function requireClientRequestToken(input: Record<string, unknown>): string {
  const token = input.ClientRequestToken;
  if (typeof token !== "string" || token === "") {
    throw new AwsError("InvalidRequestException", "You must provide a ClientRequestToken value. We recommend a UUID-type value.");
  }
  if (token.length < 32 || token.length > 64) {
    throw new AwsError("InvalidParameterException", "ClientRequestToken must contain between 32 and 64 characters.");
  }
  return token;
}

function optionalValue(input: Record<string, unknown>): StoredValue | undefined {
  const text = input.SecretString;
  const binary = input.SecretBinary;
  if (text !== undefined && binary !== undefined) {
    throw new AwsError("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.");
  }
  if (typeof text === "string") {
    if (text === "") throw new AwsError("InvalidRequestException", "You must provide either SecretString or SecretBinary.");
    return { secretString: text };
  }
  if (typeof binary === "string") {
    const bytes = Buffer.from(binary, "base64");
    if (bytes.length === 0) throw new AwsError("InvalidRequestException", "You must provide either SecretString or SecretBinary.");
    return { secretBinary: bytes };
  }
  if (text !== undefined || binary !== undefined) throw new AwsError("SerializationException", "Invalid secret value type.");
  return undefined;
}

function requireValue(input: Record<string, unknown>): StoredValue {
  const value = optionalValue(input);
  if (!value) throw new AwsError("InvalidRequestException", "You must provide either SecretString or SecretBinary.");
  return value;
}

function optionalStages(input: Record<string, unknown>): string[] | undefined {
  const stages = input.VersionStages;
  if (stages === undefined) return undefined;
  if (!Array.isArray(stages) || stages.some((s) => typeof s !== "string" || s.length < 1 || s.length > 256)) {
    throw new AwsError("InvalidParameterException", "VersionStages must be a list of 1 to 256 character strings.");
  }
  if (stages.length > 20) throw new AwsError("InvalidParameterException", "You can attach up to 20 staging labels to a version.");
  return [...new Set(stages as string[])];
}

function parseTags(value: unknown): Array<{ Key: string; Value: string }> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AwsError("InvalidParameterException", "Tags must be a list.");
  return value.map((t: unknown) => {
    const tag = t as { Key?: unknown; Value?: unknown };
    if (typeof tag.Key !== "string") throw new AwsError("InvalidParameterException", "A tag must have a Key.");
    return { Key: tag.Key, Value: typeof tag.Value === "string" ? tag.Value : "" };
  });
}

interface Filter {
  key: string;
  values: string[];
}

function parseFilters(value: unknown): Filter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AwsError("InvalidParameterException", "Filters must be a list.");
  const known = ["description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"];
  return value.map((f: unknown) => {
    const filter = f as { Key?: unknown; Values?: unknown };
    if (typeof filter.Key !== "string" || !known.includes(filter.Key)) {
      throw new AwsError("InvalidParameterException", `Invalid filter key: ${String(filter.Key)}`);
    }
    const values = Array.isArray(filter.Values) ? filter.Values.filter((v): v is string => typeof v === "string") : [];
    return { key: filter.Key, values };
  });
}

/** Documented filter semantics: prefix matches (description and `all` case-insensitive), `!` negates. */
function matchesFilter(secret: Secret, filter: Filter): boolean {
  const attributes = (): { values: string[]; caseInsensitive: boolean } => {
    switch (filter.key) {
      case "name":
        return { values: [secret.name], caseInsensitive: false };
      case "description":
        return { values: secret.description === undefined ? [] : [secret.description], caseInsensitive: true };
      case "tag-key":
        return { values: secret.tags.map((t) => t.Key), caseInsensitive: false };
      case "tag-value":
        return { values: secret.tags.map((t) => t.Value), caseInsensitive: false };
      case "primary-region":
      case "owning-service":
        return { values: [], caseInsensitive: false };
      default:
        return {
          values: [secret.name, secret.description ?? "", ...secret.tags.flatMap((t) => [t.Key, t.Value])].flatMap((v) => v.split(/\s+/)),
          caseInsensitive: true,
        };
    }
  };
  const { values, caseInsensitive } = attributes();
  const norm = (s: string) => (caseInsensitive ? s.toLowerCase() : s);
  const positives = filter.values.filter((v) => !v.startsWith("!"));
  const negatives = filter.values.filter((v) => v.startsWith("!")).map((v) => v.slice(1));
  const hit = (wanted: string) => values.some((v) => norm(v).startsWith(norm(wanted)));
  if (negatives.some(hit)) return false;
  return positives.length === 0 || positives.some(hit);
}

function sameValue(version: Version, value: StoredValue): boolean {
  if (value.secretString !== undefined) return version.secretString === value.secretString;
  return version.secretBinary !== undefined && version.secretBinary.equals(value.secretBinary);
}

function valueFields(version: Version): Record<string, string> {
  if (version.secretBinary !== undefined) return { SecretBinary: version.secretBinary.toString("base64") };
  return version.secretString === undefined ? {} : { SecretString: version.secretString };
}

function valueToStored(value: SecretValue): StoredValue {
  if (value.secretString !== undefined) {
    if (value.secretString === "") throw new TypeError("a SecretString must not be empty");
    return { secretString: value.secretString };
  }
  if (value.secretBinary === undefined || value.secretBinary.length === 0) throw new TypeError("a SecretBinary must not be empty");
  return { secretBinary: Buffer.from(value.secretBinary) };
}

function storedToValue(version: Version): SecretValue | undefined {
  if (version.secretString !== undefined) return { secretString: version.secretString };
  if (version.secretBinary !== undefined) return { secretBinary: new Uint8Array(version.secretBinary) };
  return undefined;
}

/** Default new value of a rotation: keep a JSON secret's shape with a fresh password, else random. */
function defaultGenerate(previous: SecretValue | undefined): SecretValue {
  const password = randomAlnum(32);
  if (previous?.secretBinary !== undefined) return { secretBinary: randomBytes(32) };
  if (previous?.secretString !== undefined) {
    try {
      const parsed: unknown = JSON.parse(previous.secretString);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) && "password" in parsed) {
        return { secretString: JSON.stringify({ ...parsed, password }) };
      }
    } catch {
      // Not JSON: replace the whole string.
    }
  }
  return { secretString: password };
}

function defaultFaultStatus(type: string): number {
  return type === "InternalServiceError" || type === "InternalFailure" || type === "ServiceUnavailable" ? 500 : 400;
}

function defaultFaultMessage(type: string): string {
  if (type === "ThrottlingException") return "Rate exceeded";
  if (type === "InternalServiceError" || type === "InternalFailure") return "An error occurred on the server side.";
  return `${type} injected by the test server`;
}

function epochSeconds(ms: number): number {
  return ms / 1000;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

function encodeToken(state: { query: string; offset: number }): string {
  return Buffer.from(JSON.stringify(state)).toString("base64url");
}

function decodeToken(token: string): { query: string; offset: number } | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    const state = parsed as { query?: unknown; offset?: unknown };
    if (typeof state.query !== "string" || typeof state.offset !== "number" || !Number.isInteger(state.offset) || state.offset < 0) {
      return undefined;
    }
    return { query: state.query, offset: state.offset };
  } catch {
    return undefined;
  }
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function randomAlnum(length: number): string {
  let out = "";
  for (const byte of randomBytes(length)) out += ALNUM[byte % ALNUM.length];
  return out;
}
