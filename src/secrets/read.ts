/**
 * The hot path: a server reads a batch of secrets. All-or-nothing: every name is checked against
 * policy first, every value is fetched, and a lease plus an audit record is committed durably
 * for each before any value leaves. A denial names each denied secret and the deciding rule.
 * Every refusal of a name is audited here, per name, and the error thrown says so (`audited`);
 * a request with no name or too many is not (the caller's edge records it).
 */
import type { AuditEntry, Lease, RequestMeta } from "../domain.js";
import { BrokerError, toBrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry, type Actor } from "../audit/entry.js";
import { isDynamic, type SecretBackend } from "../backends/backend.js";
import type { MountTable } from "../backends/mounts.js";
import { leaseTerms, newLease, type LeaseTerms } from "../leases/lease.js";
import type { Metrics } from "../metrics.js";
import { DecisionCache } from "../policy/decision-cache.js";
import type { Decision, PolicySet } from "../policy/types.js";
import { encodeValue, parseSecretName, selectKey, type SecretName } from "./name.js";

export interface IssuedSecret {
  /** The read's request id, the key (with lease_id) to its audit record; null only outside HTTP. */
  request_id: string | null;
  name: string;
  value: string;
  encoding: "utf8" | "base64";
  version: number;
  lease_id: string;
  lease_ttl: number;
  renewable: boolean;
  expires_at: string;
}

export interface ServerCaller {
  serverId: string;
  tokenRef: string;
}

interface Fetched {
  name: SecretName;
  decision: Decision;
  terms: LeaseTerms;
  version: number;
  bytes: Buffer | undefined;
  dynamic: { externalLeaseId: string; ttlSeconds: number; renewable: boolean } | undefined;
  backend: SecretBackend;
}

export interface SecretReaderDeps {
  policy: { current(): PolicySet };
  mounts: Pick<MountTable, "resolve">;
  audit: Pick<AuditWriter, "record">;
  leaseConfig: LeaseTerms;
  metrics: Pick<Metrics, "secretAccesses">;
  /**
   * Count allowed reads per secret path too (config `metrics.secret_label`). Only allowed reads:
   * their paths are granted and exist, while denied and failed names are whatever the caller sent,
   * and as labels they would let any caller create series without bound.
   */
  secretLabel?: boolean;
  clock: () => number;
  /** Told when a dynamic credential could not be destroyed after a failed request. */
  onRevokeFailure?: (mount: string, error: unknown) => void;
}

/** Most names in one batch request. */
export const MAX_BATCH = 100;

export class SecretReader {
  private readonly decisions = new DecisionCache();

  constructor(private readonly deps: SecretReaderDeps) {}

  /**
   * Reads every name, or none (see the module comment), and returns the issued secrets in request
   * order (a name given twice is issued once), once their audit records are durable.
   * @throws BrokerError `invalid_request` (no name or more than MAX_BATCH), `invalid_path`,
   *   `denied` (data.denied names each secret and why), `not_found` (data.missing), a backend's
   *   error, `audit_unavailable` when the records cannot be committed.
   */
  async read(caller: ServerCaller, rawNames: unknown[], meta: RequestMeta): Promise<IssuedSecret[]> {
    const { audit, clock } = this.deps;
    const actor: Actor = { id: caller.serverId, kind: "server", tokenRef: caller.tokenRef };
    const now = clock();
    if (rawNames.length === 0) throw new BrokerError("invalid_request", "names must list at least one secret");
    if (rawNames.length > MAX_BATCH) throw new BrokerError("invalid_request", `at most ${MAX_BATCH} secrets per request`);

    const names: SecretName[] = [];
    for (const raw of rawNames) {
      try {
        names.push(parseSecretName(raw));
      } catch (error) {
        await this.recordDenied(actor, meta, typeof raw === "string" ? raw : "(not a string)", "invalid_path", now);
        throw toBrokerError(error).asAudited();
      }
    }
    const unique = names.length === 1 ? names : [...new Map(names.map((name) => [name.name, name])).values()];

    const policy = this.deps.policy.current();
    const decisions = unique.map((name) => ({
      name,
      decision: this.decisions.decide(policy, { serverId: caller.serverId, secretPath: name.name, action: "read", sourceIp: meta.sourceIp ?? undefined }),
    }));
    const denied = decisions.filter((entry) => !entry.decision.allowed);
    if (denied.length > 0) {
      await Promise.all(
        denied.map(({ name, decision }) =>
          this.recordDenied(actor, meta, name.name, decision.allowed ? "" : ruleReason(decision), now),
        ),
      );
      throw new BrokerError("denied", `access denied to ${denied.map(({ name }) => name.name).join(", ")}`, {
        audited: true,
        data: {
          denied: denied.map(({ name, decision }) => ({
            secret: name.name,
            reason: decision.allowed ? "" : decision.reason,
            message: decision.allowed ? "" : decision.message,
          })),
        },
      });
    }

    // Fetch everything before deciding: a dynamic credential issued for one name must be
    // destroyed again if any other name fails, so no fetch may still be running when we give up.
    const settled = await settleAll(decisions.map(({ name, decision }) => this.fetch(name, decision)));
    const fetched = settled.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
    try {
      const failed = settled.find((result): result is PromiseRejectedResult => result.status === "rejected");
      if (failed) {
        const failure = failed.reason instanceof BrokerError ? failed.reason : new BrokerError("backend_unavailable", "a backend failed", { detail: String(failed.reason) });
        await Promise.all(
          decisions.map(({ name }, index) =>
            settled[index]!.status === "rejected"
              ? audit.record(auditEntry(actor, meta, { action: "secret.read", resource: name.name, outcome: "error", reason: failure.code }, now))
              : undefined,
          ),
        );
        this.deps.metrics.secretAccesses.inc({ server: caller.serverId, outcome: "error" });
        throw failure.asAudited();
      }
      const missing = fetched.filter((entry) => entry.bytes === undefined);
      if (missing.length > 0) {
        this.deps.metrics.secretAccesses.inc({ server: caller.serverId, outcome: "error" }, missing.length);
        await Promise.all(
          missing.map(({ name }) =>
            audit.record(auditEntry(actor, meta, { action: "secret.read", resource: name.name, outcome: "error", reason: "not_found" }, now)),
          ),
        );
        throw new BrokerError("not_found", `secret not found: ${missing.map(({ name }) => name.name).join(", ")}`, {
          audited: true,
          data: { missing: missing.map(({ name }) => name.name) },
        });
      }

      const issued = fetched.map(({ name, decision, version, bytes, terms, dynamic }) => {
        const lease = newLease({ serverId: caller.serverId, secretPath: name.name, version, now, terms, ...(dynamic && { dynamic }) });
        const reason = decision.allowed ? `${decision.rule.file}:${decision.rule.line}` : "";
        const entry = auditEntry(actor, meta, { action: "secret.read", resource: name.name, outcome: "allowed", reason, leaseId: lease.id, version: lease.version }, now);
        return { name, lease, entry, bytes: bytes! };
      });
      // Durable before release: fail closed if any record cannot be committed.
      await (issued.length === 1 ? audit.record(issued[0]!.entry, issued[0]!.lease) : Promise.all(issued.map(({ entry, lease }) => audit.record(entry, lease))));
      this.countAllowed(caller.serverId, issued);
      return issued.map(({ name, lease, bytes }) => issuedSecret(meta.requestId, name.name, bytes, lease, now));
    } catch (error) {
      await this.destroyIssued(fetched);
      throw error;
    }
  }

  /** Reads a static value, or issues a dynamic credential, for one allowed name. */
  private async fetch(name: SecretName, decision: Decision): Promise<Fetched> {
    const { backend, location } = this.deps.mounts.resolve(name.path);
    const terms = leaseTerms(this.deps.leaseConfig, decision.allowed ? decision.maxTtlSeconds : undefined);
    if (isDynamic(backend)) {
      const credential = await backend.issue(location, terms.defaultTtlSeconds);
      const bytes = name.key === undefined ? credential.bytes : selectKey(credential.bytes, name.key);
      const dynamic = { externalLeaseId: credential.externalLeaseId, ttlSeconds: credential.ttlSeconds, renewable: credential.renewable };
      return { name, decision, terms, version: 1, bytes, dynamic, backend };
    }
    const found = await backend.read(location);
    const bytes = found && (name.key === undefined ? found.bytes : selectKey(found.bytes, name.key));
    return { name, decision, terms, version: found?.version ?? 0, bytes, dynamic: undefined, backend };
  }

  /** Best effort: destroys dynamic credentials issued for a request that then failed. */
  private async destroyIssued(fetched: Fetched[]): Promise<void> {
    await Promise.all(
      fetched.map(async ({ backend, dynamic }) => {
        if (!dynamic || !isDynamic(backend)) return;
        try {
          await backend.revoke(dynamic.externalLeaseId);
        } catch (error) {
          this.deps.onRevokeFailure?.(backend.mount, error);
        }
      }),
    );
  }

  private countAllowed(server: string, issued: Array<{ name: SecretName }>): void {
    const { secretAccesses } = this.deps.metrics;
    if (!this.deps.secretLabel) {
      secretAccesses.inc({ server, outcome: "allowed" }, issued.length);
      return;
    }
    for (const { name } of issued) secretAccesses.inc({ server, secret: name.path, outcome: "allowed" });
  }

  private async recordDenied(actor: Actor, meta: RequestMeta, resource: string, reason: string, now: number): Promise<void> {
    this.deps.metrics.secretAccesses.inc({ server: actor.id, outcome: "denied" });
    const entry: AuditEntry = auditEntry(actor, meta, { action: "secret.read", resource, outcome: "denied", reason }, now);
    await this.deps.audit.record(entry);
  }
}

/** `Promise.allSettled`, without its machinery for the usual single name. */
function settleAll<T>(promises: Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
  if (promises.length !== 1) return Promise.allSettled(promises);
  return promises[0]!.then(
    (value) => [{ status: "fulfilled", value }],
    (reason: unknown) => [{ status: "rejected", reason }],
  );
}

function ruleReason(decision: { reason: string; rule?: { file: string; line: number } }): string {
  return decision.rule ? `${decision.reason} ${decision.rule.file}:${decision.rule.line}` : decision.reason;
}

export function issuedSecret(requestId: string | null, name: string, bytes: Buffer, lease: Lease, now: number): IssuedSecret {
  // Field by field, no spread: one object shape for every answer keeps building it and its JSON cheap.
  const { value, encoding } = encodeValue(bytes);
  return {
    request_id: requestId,
    name,
    value,
    encoding,
    version: lease.version,
    lease_id: lease.id,
    lease_ttl: Math.floor((lease.expiresAt - now) / 1000),
    renewable: lease.renewable,
    expires_at: new Date(lease.expiresAt).toISOString(),
  };
}
