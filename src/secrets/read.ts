/**
 * The hot path: a server reads a batch of secrets. All-or-nothing: every name is checked against
 * policy first, every value is fetched, and a lease plus an audit record is committed durably
 * for each before any value leaves. A denial names each denied secret and the deciding rule.
 */
import type { AuditEntry, Lease, RequestMeta } from "../domain.js";
import { BrokerError } from "../errors.js";
import type { AuditWriter } from "../audit/writer.js";
import { auditEntry, type Actor } from "../audit/entry.js";
import type { MountTable } from "../backends/mounts.js";
import { leaseTerms, newLease, type LeaseTerms } from "../leases/lease.js";
import type { Metrics } from "../metrics.js";
import { evaluate } from "../policy/evaluate.js";
import type { PolicySet } from "../policy/types.js";
import { encodeValue, parseSecretName, selectKey, type SecretName } from "./name.js";

export interface IssuedSecret {
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

export interface SecretReaderDeps {
  policy: { current(): PolicySet };
  mounts: Pick<MountTable, "resolve">;
  audit: Pick<AuditWriter, "record">;
  leaseConfig: LeaseTerms;
  metrics: Pick<Metrics, "secretAccesses">;
  clock: () => number;
}

/** Most names in one batch request. */
export const MAX_BATCH = 100;

export class SecretReader {
  constructor(private readonly deps: SecretReaderDeps) {}

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
        throw error;
      }
    }
    const unique = [...new Map(names.map((name) => [name.name, name])).values()];

    const policy = this.deps.policy.current();
    const decisions = unique.map((name) => ({
      name,
      decision: evaluate(policy, { serverId: caller.serverId, secretPath: name.name, action: "read", sourceIp: meta.sourceIp ?? undefined }),
    }));
    const denied = decisions.filter((entry) => !entry.decision.allowed);
    if (denied.length > 0) {
      await Promise.all(
        denied.map(({ name, decision }) =>
          this.recordDenied(actor, meta, name.name, decision.allowed ? "" : ruleReason(decision), now),
        ),
      );
      throw new BrokerError("denied", `access denied to ${denied.map(({ name }) => name.name).join(", ")}`, {
        data: {
          denied: denied.map(({ name, decision }) => ({
            secret: name.name,
            reason: decision.allowed ? "" : decision.reason,
            message: decision.allowed ? "" : decision.message,
          })),
        },
      });
    }

    const fetched = await Promise.all(
      decisions.map(async ({ name, decision }) => {
        const { backend, location } = this.deps.mounts.resolve(name.path);
        const found = await backend.read(location).catch(async (error: unknown) => {
          const failure = error instanceof BrokerError ? error : new BrokerError("backend_unavailable", `backend ${backend.mount} failed`, { detail: String(error) });
          await audit.record(auditEntry(actor, meta, { action: "secret.read", resource: name.name, outcome: "error", reason: failure.code }, now));
          this.deps.metrics.secretAccesses.inc({ server: caller.serverId, outcome: "error" });
          throw failure;
        });
        const bytes = found && (name.key === undefined ? found.bytes : selectKey(found.bytes, name.key));
        return { name, decision, found, bytes };
      }),
    );
    const missing = fetched.filter((entry) => entry.bytes === undefined);
    if (missing.length > 0) {
      await Promise.all(
        missing.map(({ name }) =>
          audit.record(auditEntry(actor, meta, { action: "secret.read", resource: name.name, outcome: "error", reason: "not_found" }, now)),
        ),
      );
      throw new BrokerError("not_found", `secret not found: ${missing.map(({ name }) => name.name).join(", ")}`, {
        data: { missing: missing.map(({ name }) => name.name) },
      });
    }

    const issued = fetched.map(({ name, decision, found, bytes }) => {
      const terms = leaseTerms(this.deps.leaseConfig, decision.allowed ? decision.maxTtlSeconds : undefined);
      const lease = newLease({ serverId: caller.serverId, secretPath: name.name, version: found!.version, now, terms });
      const reason = decision.allowed ? `${decision.rule.file}:${decision.rule.line}` : "";
      const entry = auditEntry(actor, meta, { action: "secret.read", resource: name.name, outcome: "allowed", reason, leaseId: lease.id, version: lease.version }, now);
      return { name, lease, entry, bytes: bytes! };
    });
    // Durable before release: fail closed if any record cannot be committed.
    await Promise.all(issued.map(({ entry, lease }) => audit.record(entry, lease)));
    this.deps.metrics.secretAccesses.inc({ server: caller.serverId, outcome: "allowed" }, issued.length);
    return issued.map(({ name, lease, bytes }) => issuedSecret(name.name, bytes, lease, now));
  }

  private async recordDenied(actor: Actor, meta: RequestMeta, resource: string, reason: string, now: number): Promise<void> {
    this.deps.metrics.secretAccesses.inc({ server: actor.id, outcome: "denied" });
    const entry: AuditEntry = auditEntry(actor, meta, { action: "secret.read", resource, outcome: "denied", reason }, now);
    await this.deps.audit.record(entry);
  }
}

function ruleReason(decision: { reason: string; rule?: { file: string; line: number } }): string {
  return decision.rule ? `${decision.reason} ${decision.rule.file}:${decision.rule.line}` : decision.reason;
}

export function issuedSecret(name: string, bytes: Buffer, lease: Lease, now: number): IssuedSecret {
  return {
    name,
    ...encodeValue(bytes),
    version: lease.version,
    lease_id: lease.id,
    lease_ttl: Math.floor((lease.expiresAt - now) / 1000),
    renewable: lease.renewable,
    expires_at: new Date(lease.expiresAt).toISOString(),
  };
}
