/**
 * Lease use cases: renew (by the owning server, re-checked against current policy), revoke (by
 * the owner, or by operators by id, server or secret), list. A revoked or expired lease is final.
 */
import { pageOf, type Lease, type LeaseSortKey, type Page, type PageRequest, type RequestMeta } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry, type Actor } from "../audit/entry.js";
import { evaluate } from "../policy/evaluate.js";
import type { PolicySet } from "../policy/types.js";
import type { Store } from "../store/store.js";
import type { ExternalLeases } from "./external.js";
import { leaseState, renewedExpiry, type LeaseTerms } from "./lease.js";

export interface LeaseServiceDeps {
  store: Pick<Store, "getLease" | "extendLease" | "revokeLeases" | "listLeases" | "countActiveLeases">;
  audit: Pick<AuditWriter, "record">;
  policy: { current(): PolicySet };
  leaseConfig: LeaseTerms;
  clock: () => number;
  /** Renews backend leases behind dynamic credentials. */
  external?: Pick<ExternalLeases, "renew">;
  /** Told of every revocation: event streams, caches, and destroying dynamic credentials. */
  onRevoked?: (leases: Lease[]) => void | Promise<void>;
}

export type RevokeTarget = { id: string } | { serverId: string } | { secretPath: string };

export class LeaseService {
  constructor(private readonly deps: LeaseServiceDeps) {}

  /** Extends the caller's own lease by `incrementSeconds` (default ttl), capped at its max ttl. */
  renew(actor: Actor & { kind: "server" }, leaseId: string, incrementSeconds: number | undefined, meta: RequestMeta): Promise<Lease> {
    // A lease of another server is reported as not found, so lease ids cannot be probed.
    return this.extend(actor, leaseId, incrementSeconds, meta, (lease) => lease.serverId === actor.id, meta.sourceIp ?? undefined);
  }

  /**
   * An operator extends any server's active lease, exactly as its server could: by at most the
   * default ttl, never past the lease's max ttl, and only while the policy still lets that
   * server read the secret. The server's source address is not known here, so a grant with a
   * `source_cidr` condition does not match (fail closed): such a lease is renewed by its server.
   */
  renewAsOperator(actor: Actor & { kind: "operator" }, leaseId: string, incrementSeconds: number | undefined, meta: RequestMeta): Promise<Lease> {
    return this.extend(actor, leaseId, incrementSeconds, meta, () => true, undefined);
  }

  private async extend(actor: Actor, leaseId: string, incrementSeconds: number | undefined, meta: RequestMeta, mayRenew: (lease: Lease) => boolean, sourceIp: string | undefined): Promise<Lease> {
    const { store, audit, clock } = this.deps;
    const now = clock();
    const lease = await store.getLease(leaseId);
    const fail = async (error: BrokerError, resource: string): Promise<never> => {
      await audit.record(auditEntry(actor, meta, { action: "lease.renew", resource, outcome: "denied", reason: error.code, leaseId }, now));
      throw error.asAudited();
    };
    if (!lease || !mayRenew(lease)) return fail(new BrokerError("not_found", `lease ${leaseId} not found`), leaseId);
    const state = leaseState(lease, now);
    if (state === "revoked") return fail(new BrokerError("lease_revoked", `lease ${leaseId} was revoked`), lease.secretPath);
    if (state === "expired") return fail(new BrokerError("lease_expired", `lease ${leaseId} has expired`), lease.secretPath);
    if (lease.expiresAt >= lease.maxExpiresAt) {
      return fail(new BrokerError("not_renewable", `lease ${leaseId} reached its max ttl; read the secret again`), lease.secretPath);
    }
    const decision = evaluate(this.deps.policy.current(), { serverId: lease.serverId, secretPath: lease.secretPath, action: "read", sourceIp });
    if (!decision.allowed) {
      return fail(new BrokerError("denied", `policy no longer allows ${lease.serverId} to read ${lease.secretPath}: ${decision.message}`), lease.secretPath);
    }
    const increment = Math.min(incrementSeconds ?? this.deps.leaseConfig.defaultTtlSeconds, this.deps.leaseConfig.defaultTtlSeconds);
    let expiresAt = Math.max(lease.expiresAt, renewedExpiry(lease, now, increment));
    if (lease.externalLeaseId && this.deps.external) {
      // The backend decides how long the credential lives; the broker lease never outlives it.
      let granted: number | undefined;
      try {
        granted = await this.deps.external.renew(lease, increment);
      } catch (error) {
        return fail(error instanceof BrokerError ? error : new BrokerError("backend_unavailable", "the backend could not renew the credential", { detail: String(error) }), lease.secretPath);
      }
      if (granted !== undefined) expiresAt = Math.min(expiresAt, now + granted * 1000);
    }
    if (!(await store.extendLease(lease.id, expiresAt))) return fail(new BrokerError("lease_revoked", `lease ${leaseId} was revoked`), lease.secretPath);
    await audit.record(
      auditEntry(actor, meta, { action: "lease.renew", resource: lease.secretPath, outcome: "allowed", reason: "renewed", leaseId, version: lease.version }, now),
    );
    return { ...lease, expiresAt };
  }

  /** A server revokes its own lease (e.g. on shutdown). Idempotent for leases already ended. */
  async revokeOwn(actor: Actor & { kind: "server" }, leaseId: string, meta: RequestMeta): Promise<void> {
    const lease = await this.deps.store.getLease(leaseId);
    if (!lease || lease.serverId !== actor.id) throw new BrokerError("not_found", `lease ${leaseId} not found`);
    await this.revoke(actor, { id: leaseId }, meta, "revoked by its server");
  }

  /** Revokes matching active leases at once; returns them. Audits one record per lease. */
  async revoke(actor: Actor, target: RevokeTarget, meta: RequestMeta, reason: string): Promise<Lease[]> {
    const now = this.deps.clock();
    const revoked = await this.deps.store.revokeLeases(target, now, reason);
    const resource = "id" in target ? target.id : "serverId" in target ? target.serverId : target.secretPath;
    if (revoked.length === 0) {
      await this.deps.audit.record(auditEntry(actor, meta, { action: "lease.revoke", resource, outcome: "allowed", reason: "no active lease matched" }, now));
    }
    await Promise.all(
      revoked.map((lease) =>
        this.deps.audit.record(
          auditEntry(actor, meta, { action: "lease.revoke", resource: lease.secretPath, outcome: "allowed", reason, leaseId: lease.id, version: lease.version }, now),
        ),
      ),
    );
    if (revoked.length > 0) await this.deps.onRevoked?.(revoked);
    return revoked;
  }

  /** How many leases are active now (the `active_leases` gauge). */
  countActive(): Promise<number> {
    return this.deps.store.countActiveLeases(this.deps.clock());
  }

  /** One page of matching leases, oldest issued first (ties by id); active ones only unless `activeOnly` is false. */
  async list(filter: { serverId?: string; secretPath?: string; activeOnly: boolean }, page: PageRequest<LeaseSortKey>): Promise<Page<Lease, LeaseSortKey>> {
    const { activeOnly, ...rest } = filter;
    const rows = await this.deps.store.listLeases({ ...rest, ...(activeOnly && { activeAt: this.deps.clock() }) }, { ...page, limit: page.limit + 1 });
    return pageOf(rows, page.limit, (lease) => ({ issuedAt: lease.issuedAt, id: lease.id }));
  }
}
