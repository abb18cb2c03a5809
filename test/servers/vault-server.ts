/**
 * An in-repo stand-in for HashiCorp Vault, speaking the documented HTTP API closely enough that
 * the real `node-vault` client can be tested against it: KV v2, token auth (lookup/renew/revoke
 * self, create), AppRole login, the database secrets engine's `creds` endpoint, `sys/leases`,
 * `sys/health`, `sys/seal-status`, seal/unseal, and ACL policies that produce real 403s.
 *
 * Behaviour follows the Vault API docs (developer.hashicorp.com/vault/api-docs); where the docs
 * are silent, Vault's observable behaviour is mirrored (e.g. a deleted KV version is a 404 whose
 * body still carries `data.metadata`, an empty LIST is a 404 with `{"errors":[]}`).
 * Nothing here is production code: state lives in memory and dies with `close()`.
 */
import { randomBytes, randomUUID } from "node:crypto";

import {
  createTestClock,
  startHarness,
  type DownMode,
  type HarnessRequest,
  type HarnessResponse,
} from "./http-harness.js";
import { DEFAULT_POLICY_RULES, grantedCapabilities, type VaultCapability, type VaultPathRule } from "./vault-acl.js";

export type { DownMode } from "./http-harness.js";
export type { VaultPathRule } from "./vault-acl.js";

/** Vault's system default and maximum TTL (768h), used when nothing narrower is configured. */
export const VAULT_SYSTEM_MAX_TTL_SECONDS = 768 * 3600;

export interface VaultTestServerOptions {
  /** Root token id; generated (`hvs.` + random) when omitted. */
  rootToken?: string;
  /** KV v2 mount paths (default `["secret"]`). More can be added with `addKvMount`. */
  kvMounts?: readonly string[];
  /** Mount path of the database secrets engine (default `database`). */
  databaseMount?: string;
  /** Base time source in ms since the epoch (default `Date.now`); `advanceClock` adds to it. */
  now?: () => number;
  /** Version string reported by `sys/health` and `sys/seal-status` (default `1.17.2`). */
  version?: string;
  /** Start sealed (default false). */
  sealed?: boolean;
}

export interface CreateTokenOptions {
  /** Named policies (see `addPolicy`); `root` grants everything. */
  policies?: readonly string[];
  /** Inline path grants, attached to the token as a policy of their own. */
  rules?: readonly VaultPathRule[];
  /** Initial TTL in seconds (default 768h, Vault's system default). */
  ttlSeconds?: number;
  /** Explicit max TTL in seconds, the cap for renewals (default 768h). */
  maxTtlSeconds?: number;
  /** Default true. A non-renewable token's renew-self fails with 400 `lease is not renewable`. */
  renewable?: boolean;
  /** Leave out the built-in `default` policy (which allows lookup/renew/revoke-self and lease renew/lookup). */
  noDefaultPolicy?: boolean;
  displayName?: string;
  meta?: Record<string, string>;
}

export interface CreatedToken {
  token: string;
  accessor: string;
  policies: string[];
}

export interface AppRoleOptions {
  policies?: readonly string[];
  rules?: readonly VaultPathRule[];
  /** TTL of tokens issued at login (default 768h). */
  tokenTtlSeconds?: number;
  /** Max TTL of tokens issued at login (default 768h). */
  tokenMaxTtlSeconds?: number;
  /** Uses per secret ID; 0 (default) is unlimited. */
  secretIdNumUses?: number;
}

export interface AppRoleCredentials {
  roleId: string;
  secretId: string;
}

export interface DatabaseRoleOptions {
  /** Lease TTL of issued credentials (default 1h). */
  defaultTtlSeconds?: number;
  /** Cap for renewals, counted from issue (default 24h). */
  maxTtlSeconds?: number;
  /** Default true. Leases of a non-renewable role answer `renewable: false` and refuse `sys/leases/renew`. */
  renewable?: boolean;
}

export interface VaultLeaseInfo {
  leaseId: string;
  /** The path that issued it, e.g. `database/creds/readonly`. */
  path: string;
  issueTime: Date;
  expireTime: Date;
  lastRenewalTime: Date | null;
  ttlSeconds: number;
  renewable: boolean;
  /** Username of the issued credential (never the password). */
  username: string;
  /** Accessor of the token that created the lease. */
  tokenAccessor: string;
}

export type VaultLeaseRevocationReason = "revoked" | "expired" | "token-revoked" | "prefix-revoked";

export interface VaultRevokedLease {
  leaseId: string;
  revokedAt: Date;
  reason: VaultLeaseRevocationReason;
}

export interface VaultRequestRecord {
  method: string;
  /** Path as sent, without the query string, e.g. `/v1/secret/data/app`. */
  path: string;
  query: string;
  status: number;
  /** Accessor of the token the request carried, when it was a known token. Tokens are never logged. */
  tokenAccessor: string | null;
  at: Date;
}

/** A scripted failure: the next `times` matching requests get `status` and `{"errors": errors}`. */
export interface VaultFault {
  method?: string;
  /** Matched against the API path without `/v1/`, e.g. `secret/data/`. */
  pathPrefix?: string;
  status: number;
  errors?: string[];
  /** Default 1; `Infinity` keeps the fault until `clearFaults`. */
  times?: number;
}

export interface KvPutOptions {
  /** KV mount (default: the first configured mount). */
  mount?: string;
}

export interface VaultTestServer {
  /** Base URL without `/v1`, e.g. `http://127.0.0.1:41234`, for `node-vault`'s `endpoint`. */
  readonly url: string;
  readonly rootToken: string;
  /** The single unseal key (threshold 1) accepted by `PUT /v1/sys/unseal`. */
  readonly unsealKey: string;
  close(): Promise<void>;
  seal(): void;
  unseal(): void;
  isSealed(): boolean;
  setDown(down: boolean | DownMode): Promise<void>;
  setLatencyMs(ms: number): void;
  advanceClock(seconds: number): void;
  now(): Date;
  addKvMount(path: string, options?: { maxVersions?: number; casRequired?: boolean }): void;
  /** Writes a new version without going through HTTP; returns the version number. */
  kvPut(path: string, data: Record<string, unknown>, options?: KvPutOptions): number;
  addPolicy(name: string, rules: readonly VaultPathRule[]): void;
  createToken(options?: CreateTokenOptions): CreatedToken;
  /** Revokes a token, its child tokens and their leases. Unknown tokens are ignored. */
  revokeToken(token: string): void;
  /** Remaining TTL and state of a token, or undefined when it does not exist (revoked, expired). */
  lookupToken(token: string): { accessor: string; policies: string[]; ttlSeconds: number; renewable: boolean } | undefined;
  addAppRole(name: string, options?: AppRoleOptions): AppRoleCredentials;
  /** Issues another secret ID for an existing role. */
  newSecretId(roleName: string): string;
  addDatabaseRole(name: string, options?: DatabaseRoleOptions): void;
  activeLeases(): VaultLeaseInfo[];
  revokedLeases(): VaultRevokedLease[];
  requests(): VaultRequestRecord[];
  clearRequests(): void;
  injectFault(fault: VaultFault): void;
  clearFaults(): void;
}

// ---------------------------------------------------------------------------------------------
// State

interface KvVersion {
  data: Record<string, unknown> | null;
  createdTime: number;
  deletionTime: number | null;
  destroyed: boolean;
}

interface KvSecret {
  currentVersion: number;
  oldestVersion: number;
  createdTime: number;
  updatedTime: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
  versions: Map<number, KvVersion>;
}

interface KvMount {
  path: string;
  maxVersions: number;
  casRequired: boolean;
  secrets: Map<string, KvSecret>;
}

interface TokenEntry {
  id: string;
  accessor: string;
  policies: string[];
  /** Inline rules, evaluated together with the named policies. */
  inlineRules: VaultPathRule[];
  creationTtl: number;
  explicitMaxTtl: number;
  renewable: boolean;
  issueTime: number;
  /** null: never expires (root). */
  expireTime: number | null;
  lastRenewal: number | null;
  path: string;
  displayName: string;
  meta: Record<string, string> | null;
  orphan: boolean;
  parent: string | null;
  root: boolean;
}

interface AppRole {
  name: string;
  roleId: string;
  secretIds: Map<string, { usesLeft: number }>;
  policies: string[];
  inlineRules: VaultPathRule[];
  tokenTtl: number;
  tokenMaxTtl: number;
  secretIdNumUses: number;
}

interface DatabaseRole {
  defaultTtl: number;
  maxTtl: number;
  renewable: boolean;
}

interface Lease {
  id: string;
  path: string;
  issueTime: number;
  expireTime: number;
  lastRenewal: number | null;
  renewable: boolean;
  defaultTtl: number;
  maxTtl: number;
  username: string;
  tokenId: string;
  tokenAccessor: string;
}

type Operation = "read" | "list" | "write" | "delete" | "patch";

/** Thrown inside request handling to answer with a Vault error body. */
class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join("; "));
  }
}

const PERMISSION_DENIED = "permission denied";
/** Vault wraps ACL failures of a valid token in a multierror. */
const ACL_DENIED = "1 error occurred:\n\t* permission denied\n\n";
const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" } as const;
const DEFAULT_KV_MAX_VERSIONS = 10;

export async function startVaultTestServer(options: VaultTestServerOptions = {}): Promise<VaultTestServer> {
  const clock = createTestClock(options.now);
  const version = options.version ?? "1.17.2";
  const databaseMount = trimSlashes(options.databaseMount ?? "database");
  const clusterId = randomUUID();
  const clusterName = `vault-cluster-${randomHex(4)}`;
  const unsealKey = randomBytes(32).toString("base64");

  const kvMounts = new Map<string, KvMount>();
  const policies = new Map<string, VaultPathRule[]>([["default", [...DEFAULT_POLICY_RULES]]]);
  const tokens = new Map<string, TokenEntry>();
  const tokensByAccessor = new Map<string, string>();
  const appRoles = new Map<string, AppRole>();
  const databaseRoles = new Map<string, DatabaseRole>();
  const leases = new Map<string, Lease>();
  const revoked: VaultRevokedLease[] = [];
  const requestLog: VaultRequestRecord[] = [];
  const faults: Array<VaultFault & { remaining: number }> = [];
  let sealed = options.sealed ?? false;

  const now = () => clock.now();

  for (const mount of options.kvMounts ?? ["secret"]) addKvMount(mount);

  const rootEntry: TokenEntry = {
    id: options.rootToken ?? newTokenId(),
    accessor: randomBase62(24),
    policies: ["root"],
    inlineRules: [],
    creationTtl: 0,
    explicitMaxTtl: 0,
    renewable: false,
    issueTime: now(),
    expireTime: null,
    lastRenewal: null,
    path: "auth/token/root",
    displayName: "root",
    meta: null,
    orphan: true,
    parent: null,
    root: true,
  };
  storeToken(rootEntry);

  function addKvMount(path: string, mountOptions: { maxVersions?: number; casRequired?: boolean } = {}): void {
    const clean = trimSlashes(path);
    if (!clean || clean.includes("/")) throw new TypeError(`addKvMount: a single-segment mount path is required, got "${path}"`);
    if (clean === "sys" || clean === "auth" || clean === databaseMount) {
      throw new TypeError(`addKvMount: "${clean}" is reserved`);
    }
    kvMounts.set(clean, {
      path: clean,
      maxVersions: mountOptions.maxVersions ?? 0,
      casRequired: mountOptions.casRequired ?? false,
      secrets: new Map(),
    });
  }

  function storeToken(entry: TokenEntry): void {
    tokens.set(entry.id, entry);
    tokensByAccessor.set(entry.accessor, entry.id);
  }

  // -------------------------------------------------------------------------------------------
  // Expiry: done lazily, before each request and each inspection, against the test clock.

  function sweep(): void {
    const t = now();
    for (const lease of [...leases.values()]) {
      if (lease.expireTime <= t) revokeLease(lease.id, "expired");
    }
    for (const entry of [...tokens.values()]) {
      if (entry.expireTime !== null && entry.expireTime <= t) revokeTokenTree(entry.id);
    }
  }

  function revokeLease(leaseId: string, reason: VaultLeaseRevocationReason): void {
    if (!leases.delete(leaseId)) return;
    revoked.push({ leaseId, revokedAt: new Date(now()), reason });
  }

  function revokeTokenTree(tokenId: string): void {
    const entry = tokens.get(tokenId);
    if (!entry || entry.root) return;
    tokens.delete(tokenId);
    tokensByAccessor.delete(entry.accessor);
    for (const child of [...tokens.values()]) {
      if (child.parent === tokenId) revokeTokenTree(child.id);
    }
    for (const lease of [...leases.values()]) {
      if (lease.tokenId === tokenId) revokeLease(lease.id, "token-revoked");
    }
  }

  // -------------------------------------------------------------------------------------------
  // Request handling

  function handle(request: HarnessRequest): HarnessResponse {
    let accessor: string | null = null;
    let response: HarnessResponse;
    try {
      sweep();
      const token = tokenFrom(request);
      accessor = token ? (tokens.get(token)?.accessor ?? null) : null;
      response = route(request, token);
    } catch (error) {
      if (error instanceof VaultHttpError) response = errorResponse(error.status, error.errors);
      else if (error instanceof KvEnvelopeResponse) response = json(error.status, error.body);
      else throw error;
    }
    requestLog.push({
      method: request.method,
      path: request.path,
      query: request.query.toString(),
      status: response.status,
      tokenAccessor: accessor,
      at: new Date(now()),
    });
    return response;
  }

  function route(request: HarnessRequest, token: string | undefined): HarnessResponse {
    if (!request.path.startsWith("/v1/")) {
      return { status: 404, headers: { "content-type": "text/plain; charset=utf-8" }, body: "404 page not found\n" };
    }
    let apiPath: string;
    try {
      apiPath = request.path
        .slice(4)
        .split("/")
        .map((segment) => decodeURIComponent(segment))
        .join("/")
        .replace(/^\/+/, "");
    } catch {
      throw new VaultHttpError(400, [`invalid URL escape in path "${request.path}"`]);
    }
    const operation = operationOf(request);
    if (!operation) throw new VaultHttpError(405, []);

    const fault = takeFault(request.method, apiPath);
    if (fault) return errorResponse(fault.status, fault.errors ?? ["internal error"]);

    // Unauthenticated system endpoints, reachable while sealed.
    if (apiPath === "sys/health") return health(request);
    if (apiPath === "sys/seal-status" && operation === "read") return json(200, sealStatus());
    if (apiPath === "sys/unseal" && operation === "write") return unsealViaApi(parseBody(request));
    if (apiPath === "sys/init" && operation === "read") return json(200, { initialized: true });

    if (sealed) throw new VaultHttpError(503, ["Vault is sealed"]);

    const body = operation === "write" || operation === "patch" ? parseBody(request) : {};
    if (apiPath === "auth/approle/login" && operation === "write") return appRoleLogin(body);

    const entry = token ? tokens.get(token) : undefined;
    if (!entry) throw new VaultHttpError(403, [PERMISSION_DENIED]);

    const context: RequestContext = { request, apiPath, operation, body, token: entry };
    const [mount] = apiPath.split("/");
    if (mount === "sys") return sys(context);
    if (apiPath.startsWith("auth/token/")) return tokenRoutes(context);
    if (apiPath.startsWith("auth/approle/")) {
      authorize(context, apiPath, capabilityFor(operation, false));
      throw new VaultHttpError(405, ["1 error occurred:\n\t* unsupported operation\n\n"]);
    }
    if (mount === databaseMount) return database(context);
    const kv = mount === undefined ? undefined : kvMounts.get(mount);
    if (kv) return kvRoutes(context, kv);

    authorize(context, apiPath, capabilityFor(operation, false));
    throw new VaultHttpError(404, [`no handler for route "${apiPath}". route entry not found.`]);
  }

  interface RequestContext {
    request: HarnessRequest;
    apiPath: string;
    operation: Operation;
    body: Record<string, unknown>;
    token: TokenEntry;
  }

  function operationOf(request: HarnessRequest): Operation | undefined {
    switch (request.method) {
      case "GET":
      case "HEAD":
        return isTruthy(request.query.get("list")) ? "list" : "read";
      case "LIST":
        return "list";
      case "POST":
      case "PUT":
        return "write";
      case "DELETE":
        return "delete";
      case "PATCH":
        return "patch";
      default:
        return undefined;
    }
  }

  function capabilityFor(operation: Operation, exists: boolean): VaultCapability {
    switch (operation) {
      case "read":
        return "read";
      case "list":
        return "list";
      case "delete":
        return "delete";
      case "patch":
        return "patch";
      case "write":
        return exists ? "update" : "create";
    }
  }

  /** Throws 403 unless the token's policies grant `capability` on `aclPath`. */
  function authorize(context: RequestContext, aclPath: string, capability: VaultCapability, sudo = false): void {
    const entry = context.token;
    if (entry.policies.includes("root")) return;
    const rules: VaultPathRule[] = [...entry.inlineRules];
    for (const name of entry.policies) rules.push(...(policies.get(name) ?? []));
    // Vault evaluates LIST requests against the path with a trailing slash.
    const path = context.operation === "list" && !aclPath.endsWith("/") ? `${aclPath}/` : aclPath;
    const granted = grantedCapabilities(rules, path);
    if (!granted.has(capability) || (sudo && !granted.has("sudo"))) {
      throw new VaultHttpError(403, [ACL_DENIED]);
    }
  }

  function takeFault(method: string, apiPath: string): VaultFault | undefined {
    const index = faults.findIndex(
      (f) => (f.method === undefined || f.method.toUpperCase() === method) && apiPath.startsWith(f.pathPrefix ?? ""),
    );
    if (index === -1) return undefined;
    const fault = faults[index];
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault;
  }

  // -------------------------------------------------------------------------------------------
  // sys/*

  function health(request: HarnessRequest): HarnessResponse {
    const code = (name: string, fallback: number) => {
      const raw = request.query.get(name);
      const parsed = raw === null ? Number.NaN : Number(raw);
      return Number.isInteger(parsed) ? parsed : fallback;
    };
    const body: Record<string, unknown> = {
      initialized: true,
      sealed,
      standby: sealed,
      performance_standby: false,
      replication_performance_mode: sealed ? "unknown" : "disabled",
      replication_dr_mode: sealed ? "unknown" : "disabled",
      server_time_utc: Math.floor(now() / 1000),
      version,
      enterprise: false,
      echo_duration_ms: 0,
      clock_skew_ms: 0,
      replication_primary_canary_age_ms: 0,
      removed_from_cluster: false,
    };
    if (!sealed) {
      body.cluster_name = clusterName;
      body.cluster_id = clusterId;
    }
    return json(sealed ? code("sealedcode", 503) : code("activecode", 200), body);
  }

  function sealStatus(): Record<string, unknown> {
    const status: Record<string, unknown> = {
      type: "shamir",
      initialized: true,
      sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: "",
      version,
      build_date: "2024-01-01T00:00:00Z",
      migration: false,
      recovery_seal: false,
      storage_type: "inmem",
      removed_from_cluster: false,
    };
    if (!sealed) {
      status.cluster_name = clusterName;
      status.cluster_id = clusterId;
    }
    return status;
  }

  function unsealViaApi(body: Record<string, unknown>): HarnessResponse {
    if (body.reset === true || !sealed) return json(200, sealStatus());
    if (typeof body.key !== "string" || body.key === "") {
      throw new VaultHttpError(400, ["'key' must be specified in request body as JSON, or 'reset' set to true"]);
    }
    if (body.key !== unsealKey) throw new VaultHttpError(400, ["Unseal failed, invalid key"]);
    sealed = false;
    return json(200, sealStatus());
  }

  function sys(context: RequestContext): HarnessResponse {
    const { apiPath, operation, body } = context;
    if (apiPath === "sys/seal" && operation === "write") {
      authorize(context, apiPath, "update", true);
      sealed = true;
      return noContent();
    }
    const leasePath = /^sys\/(?:leases\/)?(renew|revoke|lookup)(?:\/(.+))?$/.exec(apiPath);
    if (leasePath && operation === "write") {
      const action = leasePath[1];
      // Authorized on the exact path, as Vault does: the default policy grants sys/leases/renew
      // and sys/leases/lookup, not the `.../renew/<lease_id>` form and not sys/leases/revoke.
      authorize(context, apiPath, "update");
      const leaseId = leasePath[2] ?? stringField(body, "lease_id");
      if (action === "renew") return renewLease(leaseId, body.increment);
      if (action === "revoke") {
        if (!leaseId) throw new VaultHttpError(400, ["lease_id must be specified"]);
        revokeLease(leaseId, "revoked");
        return noContent();
      }
      return lookupLease(leaseId);
    }
    const prefix = /^sys\/leases\/revoke-prefix\/(.+)$/.exec(apiPath);
    if (prefix?.[1] && operation === "write") {
      authorize(context, apiPath, "update", true);
      const wanted = trimSlashes(prefix[1]);
      for (const lease of [...leases.values()]) {
        if (lease.id.startsWith(wanted)) revokeLease(lease.id, "prefix-revoked");
      }
      return noContent();
    }
    authorize(context, apiPath, capabilityFor(operation, true));
    throw new VaultHttpError(404, [`no handler for route "${apiPath}". route entry not found.`]);
  }

  function renewLease(leaseId: string | undefined, incrementRaw: unknown): HarnessResponse {
    if (!leaseId) throw new VaultHttpError(400, ["lease_id must be specified"]);
    const lease = leases.get(leaseId);
    if (!lease) throw new VaultHttpError(400, ["lease not found"]);
    if (!lease.renewable) throw new VaultHttpError(400, ["lease is not renewable"]);
    const increment = parseDurationSeconds(incrementRaw);
    const { ttl, warnings } = cappedTtl(increment > 0 ? increment : lease.defaultTtl, lease.issueTime, lease.maxTtl);
    const t = now();
    lease.expireTime = t + ttl * 1000;
    lease.lastRenewal = t;
    return json(200, envelope({ lease_id: lease.id, renewable: true, lease_duration: ttl, warnings, mount_type: "database" }));
  }

  function lookupLease(leaseId: string | undefined): HarnessResponse {
    if (!leaseId) throw new VaultHttpError(400, ["lease_id must be specified"]);
    const lease = leases.get(leaseId);
    if (!lease) throw new VaultHttpError(400, ["invalid lease"]);
    return json(
      200,
      envelope({
        data: {
          id: lease.id,
          issue_time: iso(lease.issueTime),
          expire_time: iso(lease.expireTime),
          last_renewal: lease.lastRenewal === null ? null : iso(lease.lastRenewal),
          renewable: lease.renewable,
          ttl: remainingSeconds(lease.expireTime),
        },
        mount_type: "system",
      }),
    );
  }

  /** Vault's TTL arithmetic: the requested TTL, capped so the lease never outlives issue + max TTL. */
  function cappedTtl(requested: number, issueTime: number, maxTtl: number): { ttl: number; warnings: string[] | null } {
    const maxRemaining = Math.max(0, Math.floor((issueTime + maxTtl * 1000 - now()) / 1000));
    if (requested <= maxRemaining) return { ttl: requested, warnings: null };
    return {
      ttl: maxRemaining,
      warnings: [
        `TTL of "${goDuration(requested)}" exceeded the effective max_ttl of "${goDuration(maxRemaining)}"; TTL value is capped accordingly`,
      ],
    };
  }

  // -------------------------------------------------------------------------------------------
  // auth/token/*, auth/approle/login

  function tokenRoutes(context: RequestContext): HarnessResponse {
    const { apiPath, operation, body, token } = context;
    switch (apiPath) {
      case "auth/token/lookup-self":
        if (operation !== "read" && operation !== "write") break;
        authorize(context, apiPath, operation === "read" ? "read" : "update");
        return json(200, envelope({ data: tokenLookupData(token), mount_type: "token" }));
      case "auth/token/renew-self":
        if (operation !== "write") break;
        authorize(context, apiPath, "update");
        return renewToken(token, body.increment);
      case "auth/token/revoke-self":
        if (operation !== "write") break;
        authorize(context, apiPath, "update");
        if (!token.root) revokeTokenTree(token.id);
        return noContent();
      case "auth/token/lookup": {
        if (operation !== "write") break;
        authorize(context, apiPath, "update");
        const target = tokens.get(stringField(body, "token") ?? "");
        if (!target) throw new VaultHttpError(403, ["bad token"]);
        return json(200, envelope({ data: tokenLookupData(target), mount_type: "token" }));
      }
      case "auth/token/create":
        if (operation !== "write") break;
        authorize(context, apiPath, "update");
        return createChildToken(token, body);
      default:
        authorize(context, apiPath, capabilityFor(operation, true));
        throw new VaultHttpError(405, ["1 error occurred:\n\t* unsupported path\n\n"]);
    }
    authorize(context, apiPath, capabilityFor(operation, true));
    throw new VaultHttpError(405, ["1 error occurred:\n\t* unsupported operation\n\n"]);
  }

  function tokenLookupData(entry: TokenEntry): Record<string, unknown> {
    return {
      accessor: entry.accessor,
      creation_time: Math.floor(entry.issueTime / 1000),
      creation_ttl: entry.creationTtl,
      display_name: entry.displayName,
      entity_id: "",
      expire_time: entry.expireTime === null ? null : iso(entry.expireTime),
      explicit_max_ttl: entry.explicitMaxTtl,
      id: entry.id,
      issue_time: iso(entry.issueTime),
      ...(entry.lastRenewal === null
        ? {}
        : { last_renewal: iso(entry.lastRenewal), last_renewal_time: Math.floor(entry.lastRenewal / 1000) }),
      meta: entry.meta,
      num_uses: 0,
      orphan: entry.orphan,
      path: entry.path,
      policies: entry.policies,
      renewable: entry.renewable,
      ttl: entry.expireTime === null ? 0 : remainingSeconds(entry.expireTime),
      type: "service",
    };
  }

  function authBlock(entry: TokenEntry, leaseDuration: number): Record<string, unknown> {
    return {
      client_token: entry.id,
      accessor: entry.accessor,
      policies: entry.policies,
      token_policies: entry.policies,
      metadata: entry.meta,
      lease_duration: leaseDuration,
      renewable: entry.renewable,
      entity_id: "",
      token_type: "service",
      orphan: entry.orphan,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  function renewToken(entry: TokenEntry, incrementRaw: unknown): HarnessResponse {
    if (entry.expireTime === null) throw new VaultHttpError(400, ["invalid lease ID"]);
    if (!entry.renewable) throw new VaultHttpError(400, ["lease is not renewable"]);
    const increment = parseDurationSeconds(incrementRaw);
    const maxTtl = entry.explicitMaxTtl > 0 ? entry.explicitMaxTtl : VAULT_SYSTEM_MAX_TTL_SECONDS;
    const { ttl, warnings } = cappedTtl(increment > 0 ? increment : entry.creationTtl, entry.issueTime, maxTtl);
    const t = now();
    entry.expireTime = t + ttl * 1000;
    entry.lastRenewal = t;
    return json(200, envelope({ auth: authBlock(entry, ttl), warnings, mount_type: "token" }));
  }

  function createChildToken(parent: TokenEntry, body: Record<string, unknown>): HarnessResponse {
    const requested = Array.isArray(body.policies) ? body.policies.filter((p): p is string => typeof p === "string") : [];
    const noDefault = body.no_default_policy === true;
    if (!parent.policies.includes("root")) {
      const allowed = new Set([...parent.policies, "default"]);
      if (requested.some((p) => !allowed.has(p))) {
        throw new VaultHttpError(400, ["child policies must be subset of parent's policies"]);
      }
    }
    const orphan = body.no_parent === true;
    if (orphan && !parent.policies.includes("root")) {
      throw new VaultHttpError(400, ["root or sudo privileges required to create orphan token"]);
    }
    const entry = newToken({
      policies: requested.length > 0 ? requested : parent.policies.filter((p) => p !== "root" || parent.root),
      inlineRules: requested.length > 0 ? [] : [...parent.inlineRules],
      ttl: parseDurationSeconds(body.ttl) || VAULT_SYSTEM_MAX_TTL_SECONDS,
      explicitMaxTtl: parseDurationSeconds(body.explicit_max_ttl),
      renewable: body.renewable !== false,
      noDefaultPolicy: noDefault,
      path: "auth/token/create",
      displayName: typeof body.display_name === "string" ? `token-${body.display_name}` : "token",
      meta: isStringMap(body.meta) ? body.meta : null,
      orphan,
      parent: orphan ? null : parent.id,
    });
    return json(200, envelope({ auth: authBlock(entry, entry.creationTtl), mount_type: "token" }));
  }

  interface NewTokenSpec {
    policies: readonly string[];
    inlineRules: readonly VaultPathRule[];
    ttl: number;
    explicitMaxTtl: number;
    renewable: boolean;
    noDefaultPolicy: boolean;
    path: string;
    displayName: string;
    meta: Record<string, string> | null;
    orphan: boolean;
    parent: string | null;
  }

  function newToken(spec: NewTokenSpec): TokenEntry {
    const isRoot = spec.policies.includes("root");
    const names = new Set(spec.policies);
    if (!spec.noDefaultPolicy && !isRoot) names.add("default");
    const maxTtl = spec.explicitMaxTtl > 0 ? spec.explicitMaxTtl : VAULT_SYSTEM_MAX_TTL_SECONDS;
    const ttl = Math.min(spec.ttl, maxTtl);
    const t = now();
    const entry: TokenEntry = {
      id: newTokenId(),
      accessor: randomBase62(24),
      policies: [...names].sort(),
      inlineRules: [...spec.inlineRules],
      creationTtl: ttl,
      explicitMaxTtl: spec.explicitMaxTtl,
      renewable: spec.renewable,
      issueTime: t,
      expireTime: t + ttl * 1000,
      lastRenewal: null,
      path: spec.path,
      displayName: spec.displayName,
      meta: spec.meta,
      orphan: spec.orphan,
      parent: spec.parent,
      root: false,
    };
    storeToken(entry);
    return entry;
  }

  function appRoleLogin(body: Record<string, unknown>): HarnessResponse {
    const roleId = (stringField(body, "role_id") ?? "").trim();
    if (!roleId) throw new VaultHttpError(400, ["missing role_id"]);
    const role = [...appRoles.values()].find((r) => r.roleId === roleId);
    if (!role) throw new VaultHttpError(400, ["invalid role or secret ID"]);
    const secretId = (stringField(body, "secret_id") ?? "").trim();
    if (!secretId) throw new VaultHttpError(400, ["missing secret_id"]);
    const secret = role.secretIds.get(secretId);
    if (!secret) throw new VaultHttpError(400, ["invalid role or secret ID"]);
    if (secret.usesLeft > 0) {
      secret.usesLeft -= 1;
      if (secret.usesLeft === 0) role.secretIds.delete(secretId);
    }
    const entry = newToken({
      policies: role.policies,
      inlineRules: role.inlineRules,
      ttl: role.tokenTtl,
      explicitMaxTtl: role.tokenMaxTtl,
      renewable: true,
      noDefaultPolicy: false,
      path: "auth/approle/login",
      displayName: "approle",
      meta: { role_name: role.name },
      orphan: true,
      parent: null,
    });
    return json(200, envelope({ auth: authBlock(entry, entry.creationTtl), mount_type: "approle" }));
  }

  // -------------------------------------------------------------------------------------------
  // Database secrets engine: only creds issuance; renew/revoke go through sys/leases.

  function database(context: RequestContext): HarnessResponse {
    const { apiPath, operation, token } = context;
    const match = new RegExp(`^${escapeRegExp(databaseMount)}/creds/([^/]+)$`).exec(apiPath);
    if (!match?.[1]) {
      authorize(context, apiPath, capabilityFor(operation, true));
      throw new VaultHttpError(405, ["1 error occurred:\n\t* unsupported path\n\n"]);
    }
    authorize(context, apiPath, capabilityFor(operation, true));
    if (operation !== "read") throw new VaultHttpError(405, ["1 error occurred:\n\t* unsupported operation\n\n"]);
    const roleName = match[1];
    const role = databaseRoles.get(roleName);
    if (!role) throw new VaultHttpError(400, [`unknown role: ${roleName}`]);
    const t = now();
    const ttl = Math.min(role.defaultTtl, role.maxTtl);
    const username = `v-${token.displayName.slice(0, 8)}-${roleName.slice(0, 8)}-${randomBase62(20)}-${Math.floor(t / 1000)}`.slice(0, 63);
    const password = `A1a-${randomBase62(16)}`;
    const lease: Lease = {
      id: `${databaseMount}/creds/${roleName}/${randomBase62(24)}`,
      path: `${databaseMount}/creds/${roleName}`,
      issueTime: t,
      expireTime: t + ttl * 1000,
      lastRenewal: null,
      renewable: role.renewable,
      defaultTtl: role.defaultTtl,
      maxTtl: role.maxTtl,
      username,
      tokenId: token.id,
      tokenAccessor: token.accessor,
    };
    leases.set(lease.id, lease);
    return json(
      200,
      envelope({ lease_id: lease.id, renewable: role.renewable, lease_duration: ttl, data: { username, password }, mount_type: "database" }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // KV v2

  function kvRoutes(context: RequestContext, mount: KvMount): HarnessResponse {
    const { apiPath, operation, body, request } = context;
    const rest = apiPath.slice(mount.path.length + 1);
    const slash = rest.indexOf("/");
    const kind = slash === -1 ? rest : rest.slice(0, slash);
    const key = slash === -1 ? "" : rest.slice(slash + 1);
    const isSecretKey = key !== "" && !key.endsWith("/");

    if (kind === "config" && key === "") {
      authorize(context, apiPath, capabilityFor(operation, true));
      if (operation === "read") {
        return json(
          200,
          envelope({
            data: { cas_required: mount.casRequired, delete_version_after: "0s", max_versions: mount.maxVersions },
            mount_type: "kv",
          }),
        );
      }
      if (operation === "write") {
        if (body.max_versions !== undefined) mount.maxVersions = Number(body.max_versions) || 0;
        if (body.cas_required !== undefined) mount.casRequired = body.cas_required === true;
        return noContent();
      }
      throw unsupportedOperation();
    }

    if (kind === "data" && isSecretKey) {
      const secret = mount.secrets.get(key);
      authorize(context, apiPath, capabilityFor(operation, secret !== undefined));
      if (operation === "read") return kvReadData(mount, key, request.query.get("version"));
      if (operation === "write") return kvWriteData(mount, key, body);
      if (operation === "patch") return kvPatchData(mount, key, body, request);
      if (operation === "delete") {
        const current = secret?.versions.get(secret.currentVersion);
        if (current && !current.destroyed && !isDeleted(current)) current.deletionTime = now();
        return noContent();
      }
      throw unsupportedOperation();
    }

    if (kind === "metadata") {
      if (operation === "list") {
        authorize(context, apiPath, "list");
        return kvList(mount, key);
      }
      if (!isSecretKey) throw invalidKvPath(operation);
      const secret = mount.secrets.get(key);
      authorize(context, apiPath, capabilityFor(operation, secret !== undefined));
      if (operation === "read") {
        if (!secret) throw new VaultHttpError(404, []);
        return json(200, envelope({ data: kvMetadata(secret), mount_type: "kv" }));
      }
      if (operation === "write") {
        const target = secret ?? emptySecret();
        if (body.max_versions !== undefined) target.maxVersions = Number(body.max_versions) || 0;
        if (body.cas_required !== undefined) target.casRequired = body.cas_required === true;
        if (body.custom_metadata !== undefined) {
          if (!isStringMap(body.custom_metadata)) throw new VaultHttpError(400, ["custom_metadata must be a map of strings"]);
          target.customMetadata = { ...body.custom_metadata };
        }
        mount.secrets.set(key, target);
        return noContent();
      }
      if (operation === "delete") {
        mount.secrets.delete(key);
        return noContent();
      }
      throw unsupportedOperation();
    }

    if ((kind === "delete" || kind === "undelete" || kind === "destroy") && isSecretKey) {
      authorize(context, apiPath, capabilityFor(operation, true));
      if (operation !== "write") throw unsupportedOperation();
      const versions = Array.isArray(body.versions) ? body.versions.map(Number).filter(Number.isInteger) : [];
      if (versions.length === 0) throw new VaultHttpError(400, ["no version number provided"]);
      const secret = mount.secrets.get(key);
      for (const n of versions) {
        const v = secret?.versions.get(n);
        if (!v) continue;
        if (kind === "delete" && !v.destroyed && !isDeleted(v)) v.deletionTime = now();
        if (kind === "undelete" && !v.destroyed) v.deletionTime = null;
        if (kind === "destroy") {
          v.destroyed = true;
          v.data = null;
        }
      }
      return noContent();
    }

    authorize(context, apiPath, capabilityFor(operation, true));
    throw invalidKvPath(operation);
  }

  function unsupportedOperation(): VaultHttpError {
    return new VaultHttpError(405, ["1 error occurred:\n\t* unsupported operation\n\n"]);
  }

  function invalidKvPath(operation: Operation): never {
    const verb = operation === "read" ? "get" : operation === "list" ? "list" : operation === "delete" ? "delete" : "put";
    // Vault answers paths outside data/, metadata/, ... on a v2 mount with a 404 whose body is a
    // normal response carrying a warning (and no `errors`), e.g. when a KV v1 path is used.
    throw new KvEnvelopeResponse(
      404,
      envelope({
        warnings: [
          `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${verb}' for this operation.`,
        ],
      }),
    );
  }

  function emptySecret(): KvSecret {
    const t = now();
    return {
      currentVersion: 0,
      oldestVersion: 0,
      createdTime: t,
      updatedTime: t,
      maxVersions: 0,
      casRequired: false,
      customMetadata: null,
      versions: new Map(),
    };
  }

  function isDeleted(v: KvVersion): boolean {
    return v.deletionTime !== null && v.deletionTime <= now();
  }

  function versionMetadata(secret: KvSecret, number: number, v: KvVersion): Record<string, unknown> {
    return {
      created_time: iso(v.createdTime),
      custom_metadata: secret.customMetadata,
      deletion_time: v.deletionTime === null ? "" : iso(v.deletionTime),
      destroyed: v.destroyed,
      version: number,
    };
  }

  function kvReadData(mount: KvMount, key: string, versionParam: string | null): HarnessResponse {
    const secret = mount.secrets.get(key);
    if (!secret) throw new VaultHttpError(404, []);
    const requested = versionParam === null ? 0 : Number.parseInt(versionParam, 10);
    const number = Number.isInteger(requested) && requested > 0 ? requested : secret.currentVersion;
    const v = secret.versions.get(number);
    if (!v) throw new VaultHttpError(404, []);
    const metadata = versionMetadata(secret, number, v);
    if (v.destroyed || isDeleted(v)) {
      return json(404, envelope({ data: { data: null, metadata }, mount_type: "kv" }));
    }
    return json(200, envelope({ data: { data: v.data, metadata }, mount_type: "kv" }));
  }

  function kvWriteData(mount: KvMount, key: string, body: Record<string, unknown>): HarnessResponse {
    const data = body.data;
    if (data === undefined || data === null) throw new VaultHttpError(400, ["no data provided"]);
    if (typeof data !== "object" || Array.isArray(data)) {
      throw new VaultHttpError(400, [`1 error occurred:\n\t* 'data' expected a map, got '${Array.isArray(data) ? "slice" : typeof data}'\n\n`]);
    }
    const secret = mount.secrets.get(key) ?? emptySecret();
    checkCas(mount, secret, body);
    const number = addVersion(mount, key, secret, data as Record<string, unknown>);
    const v = secret.versions.get(number);
    if (!v) throw new Error("kv version vanished");
    return json(200, envelope({ data: versionMetadata(secret, number, v), mount_type: "kv" }));
  }

  /** The `options.cas` rules shared by write and patch (Vault's check-and-set). */
  function checkCas(mount: KvMount, secret: KvSecret, body: Record<string, unknown>): void {
    const optionsField = body.options;
    const cas = typeof optionsField === "object" && optionsField !== null ? (optionsField as Record<string, unknown>).cas : undefined;
    if (cas !== undefined) {
      const casNumber = Number(cas);
      if (!Number.isInteger(casNumber)) throw new VaultHttpError(400, ["error parsing check-and-set parameter"]);
      if (casNumber !== secret.currentVersion) {
        throw new VaultHttpError(400, ["check-and-set parameter did not match the current version"]);
      }
    } else if (mount.casRequired || secret.casRequired) {
      throw new VaultHttpError(400, ["check-and-set parameter required for this call"]);
    }
  }

  /**
   * PATCH: a JSON merge patch (RFC 7386) over the current version, written as a new version. Only
   * `application/merge-patch+json` is accepted, and only on a live (not deleted/destroyed) secret.
   */
  function kvPatchData(mount: KvMount, key: string, body: Record<string, unknown>, request: HarnessRequest): HarnessResponse {
    const contentType = (request.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
    if (contentType !== "application/merge-patch+json") {
      throw new VaultHttpError(415, [`PATCH requires Content-Type of application/merge-patch+json, provided ${contentType}`]);
    }
    const patch = body.data;
    if (patch === undefined || patch === null) throw new VaultHttpError(400, ["no data provided"]);
    if (typeof patch !== "object" || Array.isArray(patch)) throw new VaultHttpError(400, ["no data provided"]);
    const secret = mount.secrets.get(key);
    if (!secret) throw new VaultHttpError(404, []);
    checkCas(mount, secret, body);
    const current = secret.versions.get(secret.currentVersion);
    if (!current) throw new VaultHttpError(404, []);
    if (current.destroyed || isDeleted(current) || current.data === null) {
      return json(404, envelope({ data: versionMetadata(secret, secret.currentVersion, current), mount_type: "kv" }));
    }
    const merged = mergePatch(current.data, patch as Record<string, unknown>);
    const number = addVersion(mount, key, secret, merged);
    const v = secret.versions.get(number);
    if (!v) throw new Error("kv version vanished");
    return json(200, envelope({ data: versionMetadata(secret, number, v), mount_type: "kv" }));
  }

  /** Appends a version and trims old ones exactly as Vault's max_versions sliding window does. */
  function addVersion(mount: KvMount, key: string, secret: KvSecret, data: Record<string, unknown>): number {
    const t = now();
    secret.currentVersion += 1;
    secret.versions.set(secret.currentVersion, {
      data: structuredClone(data),
      createdTime: t,
      deletionTime: null,
      destroyed: false,
    });
    secret.updatedTime = t;
    if (secret.currentVersion === 1 && secret.versions.size === 1) secret.createdTime = t;
    const max = Math.max(secret.maxVersions, mount.maxVersions) || DEFAULT_KV_MAX_VERSIONS;
    if (secret.currentVersion - secret.oldestVersion >= max) {
      const toDelete = secret.currentVersion - max;
      for (let i = secret.oldestVersion; i <= toDelete; i++) secret.versions.delete(i);
      secret.oldestVersion = toDelete + 1;
    }
    mount.secrets.set(key, secret);
    return secret.currentVersion;
  }

  function kvMetadata(secret: KvSecret): Record<string, unknown> {
    const versions: Record<string, unknown> = {};
    for (const [n, v] of [...secret.versions.entries()].sort((a, b) => a[0] - b[0])) {
      versions[String(n)] = {
        created_time: iso(v.createdTime),
        deletion_time: v.deletionTime === null ? "" : iso(v.deletionTime),
        destroyed: v.destroyed,
      };
    }
    return {
      cas_required: secret.casRequired,
      created_time: iso(secret.createdTime),
      current_version: secret.currentVersion,
      custom_metadata: secret.customMetadata,
      delete_version_after: "0s",
      max_versions: secret.maxVersions,
      oldest_version: secret.oldestVersion,
      updated_time: iso(secret.updatedTime),
      versions,
    };
  }

  function kvList(mount: KvMount, folder: string): HarnessResponse {
    const prefix = folder === "" || folder.endsWith("/") ? folder : `${folder}/`;
    const keys = new Set<string>();
    for (const path of mount.secrets.keys()) {
      if (!path.startsWith(prefix)) continue;
      const remainder = path.slice(prefix.length);
      const cut = remainder.indexOf("/");
      keys.add(cut === -1 ? remainder : remainder.slice(0, cut + 1));
    }
    if (keys.size === 0) throw new VaultHttpError(404, []);
    return json(200, envelope({ data: { keys: [...keys].sort() }, mount_type: "kv" }));
  }

  // -------------------------------------------------------------------------------------------
  // Helpers bound to the clock

  function remainingSeconds(expireTime: number): number {
    return Math.max(0, Math.round((expireTime - now()) / 1000));
  }

  function envelope(fields: {
    data?: unknown;
    lease_id?: string;
    renewable?: boolean;
    lease_duration?: number;
    warnings?: string[] | null;
    auth?: unknown;
    mount_type?: string;
  }): Record<string, unknown> {
    return {
      request_id: randomUUID(),
      lease_id: fields.lease_id ?? "",
      renewable: fields.renewable ?? false,
      lease_duration: fields.lease_duration ?? 0,
      data: fields.data ?? null,
      wrap_info: null,
      warnings: fields.warnings ?? null,
      auth: fields.auth ?? null,
      mount_type: fields.mount_type ?? "",
    };
  }

  const harness = await startHarness({ extraMethods: ["LIST"], handler: handle });

  const url = `http://${harness.host}:${harness.port}`;

  return {
    url,
    rootToken: rootEntry.id,
    unsealKey,
    close: () => harness.close(),
    seal: () => {
      sealed = true;
    },
    unseal: () => {
      sealed = false;
    },
    isSealed: () => sealed,
    setDown: (down) => harness.setDown(down),
    setLatencyMs: (ms) => harness.setLatencyMs(ms),
    advanceClock: (seconds) => clock.advance(seconds),
    now: () => new Date(now()),
    addKvMount,
    kvPut(path, data, putOptions = {}) {
      const mountName = putOptions.mount ?? kvMounts.keys().next().value;
      const mount = mountName === undefined ? undefined : kvMounts.get(mountName);
      if (!mount) throw new TypeError(`kvPut: unknown KV mount "${String(mountName)}"`);
      const key = trimSlashes(path);
      return addVersion(mount, key, mount.secrets.get(key) ?? emptySecret(), data);
    },
    addPolicy(name, rules) {
      if (name === "root") throw new TypeError(`addPolicy: "root" cannot be redefined`);
      policies.set(name, [...rules]);
    },
    createToken(tokenOptions = {}) {
      const entry = newToken({
        policies: tokenOptions.policies ?? [],
        inlineRules: tokenOptions.rules ?? [],
        ttl: tokenOptions.ttlSeconds ?? VAULT_SYSTEM_MAX_TTL_SECONDS,
        explicitMaxTtl: tokenOptions.maxTtlSeconds ?? 0,
        renewable: tokenOptions.renewable ?? true,
        noDefaultPolicy: tokenOptions.noDefaultPolicy ?? false,
        path: "auth/token/create",
        displayName: tokenOptions.displayName ? `token-${tokenOptions.displayName}` : "token",
        meta: tokenOptions.meta ?? null,
        orphan: true,
        parent: null,
      });
      return { token: entry.id, accessor: entry.accessor, policies: [...entry.policies] };
    },
    revokeToken(token) {
      revokeTokenTree(token);
    },
    lookupToken(token) {
      sweep();
      const entry = tokens.get(token);
      if (!entry) return undefined;
      return {
        accessor: entry.accessor,
        policies: [...entry.policies],
        ttlSeconds: entry.expireTime === null ? 0 : remainingSeconds(entry.expireTime),
        renewable: entry.renewable,
      };
    },
    addAppRole(name, roleOptions = {}) {
      const role: AppRole = {
        name,
        roleId: randomUUID(),
        secretIds: new Map(),
        policies: [...(roleOptions.policies ?? [])],
        inlineRules: [...(roleOptions.rules ?? [])],
        tokenTtl: roleOptions.tokenTtlSeconds ?? VAULT_SYSTEM_MAX_TTL_SECONDS,
        tokenMaxTtl: roleOptions.tokenMaxTtlSeconds ?? 0,
        secretIdNumUses: roleOptions.secretIdNumUses ?? 0,
      };
      appRoles.set(name, role);
      const secretId = randomUUID();
      role.secretIds.set(secretId, { usesLeft: role.secretIdNumUses });
      return { roleId: role.roleId, secretId };
    },
    newSecretId(roleName) {
      const role = appRoles.get(roleName);
      if (!role) throw new TypeError(`newSecretId: unknown AppRole "${roleName}"`);
      const secretId = randomUUID();
      role.secretIds.set(secretId, { usesLeft: role.secretIdNumUses });
      return secretId;
    },
    addDatabaseRole(name, roleOptions = {}) {
      databaseRoles.set(name, {
        defaultTtl: roleOptions.defaultTtlSeconds ?? 3600,
        maxTtl: roleOptions.maxTtlSeconds ?? 86_400,
        renewable: roleOptions.renewable ?? true,
      });
    },
    activeLeases() {
      sweep();
      return [...leases.values()].map((lease) => ({
        leaseId: lease.id,
        path: lease.path,
        issueTime: new Date(lease.issueTime),
        expireTime: new Date(lease.expireTime),
        lastRenewalTime: lease.lastRenewal === null ? null : new Date(lease.lastRenewal),
        ttlSeconds: remainingSeconds(lease.expireTime),
        renewable: lease.renewable,
        username: lease.username,
        tokenAccessor: lease.tokenAccessor,
      }));
    },
    revokedLeases() {
      sweep();
      return revoked.map((r) => ({ ...r, revokedAt: new Date(r.revokedAt) }));
    },
    requests: () => requestLog.map((r) => ({ ...r })),
    clearRequests: () => {
      requestLog.length = 0;
    },
    injectFault(fault) {
      faults.push({ ...fault, remaining: fault.times ?? 1 });
    },
    clearFaults: () => {
      faults.length = 0;
    },
  };
}

/** A full non-error response body with a non-2xx status (KV's "invalid path" 404). */
class KvEnvelopeResponse extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`kv envelope ${status}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

function json(status: number, body: unknown): HarnessResponse {
  return { status, headers: { ...JSON_HEADERS }, body: `${JSON.stringify(body)}\n` };
}

function errorResponse(status: number, errors: string[]): HarnessResponse {
  return json(status, { errors });
}

function noContent(): HarnessResponse {
  return { status: 204, headers: { "cache-control": "no-store" } };
}

function tokenFrom(request: HarnessRequest): string | undefined {
  const header = request.headers["x-vault-token"];
  if (typeof header === "string" && header !== "") return header;
  const authorization = request.headers.authorization;
  if (typeof authorization === "string" && authorization.startsWith("Bearer ")) return authorization.slice(7);
  return undefined;
}

function parseBody(request: HarnessRequest): Record<string, unknown> {
  const text = request.body.toString("utf8").trim();
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new VaultHttpError(400, [`failed to parse JSON input: ${error instanceof Error ? error.message : String(error)}`]);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new VaultHttpError(400, ["failed to parse JSON input: expected a JSON object"]);
  }
  return parsed as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === "string" ? value : undefined;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}

function isTruthy(value: string | null): boolean {
  return value !== null && ["1", "t", "true", "T", "TRUE", "True"].includes(value);
}

/** Seconds from a Vault duration: a number of seconds, "3600", or Go-style "1h30m", "90s". */
export function parseDurationSeconds(value: unknown): number {
  if (typeof value === "number" && Number.isFinite(value)) return Math.max(0, Math.floor(value));
  if (typeof value !== "string" || value.trim() === "") return 0;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  let matched = "";
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(part[1]) * (units[part[2] ?? "s"] ?? 1);
    matched += part[0];
  }
  if (matched !== text) throw new VaultHttpError(400, [`time: invalid duration "${text}"`]);
  return Math.floor(total);
}

/** Formats seconds as Go's time.Duration String() does (`1h0m0s`, `1m30s`, `45s`). */
export function goDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** RFC 7386 JSON merge patch: null deletes, objects merge recursively, anything else replaces. */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(target);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (typeof value === "object" && !Array.isArray(value)) {
      const base = out[key];
      const baseObject = typeof base === "object" && base !== null && !Array.isArray(base) ? (base as Record<string, unknown>) : {};
      out[key] = mergePatch(baseObject, value as Record<string, unknown>);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomBase62(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const byte of bytes) out += BASE62[byte % 62];
  return out;
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function newTokenId(): string {
  return `hvs.${randomBase62(24)}`;
}
