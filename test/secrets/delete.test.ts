/** Deleting a secret: removed from its backend, then every lease on it revoked, each step audited and published. */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditWriter } from "../../src/audit/writer.js";
import { auditEntry } from "../../src/audit/entry.js";
import { LocalBackend } from "../../src/backends/local.js";
import { MountTable } from "../../src/backends/mounts.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import type { Lease } from "../../src/domain.js";
import { EventBus, type BrokerEvent } from "../../src/events/bus.js";
import { newLease } from "../../src/leases/lease.js";
import { LeaseService } from "../../src/leases/service.js";
import { SecretAdmin } from "../../src/secrets/admin.js";
import { deleteSecret, type SecretDeletionDeps } from "../../src/secrets/delete.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const operator = { id: "alice", kind: "operator" as const, tokenRef: "ref" };
const meta = { requestId: "req-1", sourceIp: "127.0.0.1" };
const terms = { defaultTtlSeconds: 600, maxTtlSeconds: 3600 };

describe("deleteSecret", () => {
  let temp: TempStore;
  let audit: AuditWriter;
  let deps: SecretDeletionDeps;
  let events: BrokerEvent[];
  let revokedSeen: Lease[];
  const now = Date.parse("2026-06-01T00:00:00Z");
  const clock = () => now;

  beforeEach(async () => {
    temp = openTempStore("delete");
    const { store } = temp;
    audit = new AuditWriter(store, undefined);
    const bus = new EventBus();
    events = [];
    revokedSeen = [];
    bus.subscribe((event) => events.push(event));
    const local = new LocalBackend(store, new Envelope(MasterKeyRing.create(join(temp.dir, "master.key"))), clock);
    const secrets = new SecretAdmin({
      store,
      mounts: new MountTable([], local),
      audit,
      clock,
      onChanged: (secret, version) => bus.publish(version === null ? { type: "secret.deleted", secret } : { type: "secret.version", secret, version }),
    });
    const leases = new LeaseService({
      store,
      audit,
      policy: { current: () => ({ servers: {}, roles: {}, approvals: [], rotation: [] }) as never },
      leaseConfig: terms,
      clock,
      onRevoked: (revoked) => void revokedSeen.push(...revoked),
    });
    deps = { secrets, leases };
    await secrets.put(operator, "app/db", Buffer.from("v1"), {}, meta);
    await secrets.put(operator, "app/other", Buffer.from("v2"), {}, meta);
    // Two servers hold a lease on app/db, one on app/other.
    for (const [serverId, secretPath] of [["reader-a", "app/db"], ["reader-b", "app/db"], ["reader-a", "app/other"]] as const) {
      const lease = newLease({ serverId, secretPath, version: 1, now, terms });
      await audit.record(auditEntry({ id: serverId, kind: "server" }, meta, { action: "secret.read", resource: secretPath, outcome: "allowed", reason: "test", leaseId: lease.id, version: 1 }, now), lease);
    }
    events.length = 0;
  });
  afterEach(() => temp.close());

  it("removes the secret, then revokes exactly its leases, auditing and publishing each step", async () => {
    const revoked = await deleteSecret(deps, operator, "app/db", meta);

    expect(revoked.map((lease) => lease.secretPath).sort()).toEqual(["app/db", "app/db"]);
    expect(revoked.map((lease) => lease.serverId).sort()).toEqual(["reader-a", "reader-b"]);
    const active = await temp.store.listLeases({ activeAt: now });
    expect(active.map((lease) => lease.secretPath)).toEqual(["app/other"]);
    expect(revokedSeen.map((lease) => lease.id).sort()).toEqual(revoked.map((lease) => lease.id).sort());
    expect(events).toEqual([expect.objectContaining({ type: "secret.deleted", secret: "app/db" })]);

    const records = (await temp.store.queryAudit({ limit: 1000 })).filter((record) => record.requestId === meta.requestId && record.actor === "alice");
    const summary = records.map(({ action, resource, reason }) => ({ action, resource, reason }));
    expect(summary).toContainEqual({ action: "admin.secret.delete", resource: "app/db", reason: "deleted" });
    expect(summary.filter((record) => record.action === "lease.revoke")).toEqual([
      { action: "lease.revoke", resource: "app/db", reason: "secret deleted" },
      { action: "lease.revoke", resource: "app/db", reason: "secret deleted" },
    ]);
    // The secret is gone before its leases end: no revoked holder can read it again meanwhile.
    const deleteSeq = records.find((record) => record.action === "admin.secret.delete")!.seq;
    expect(records.filter((record) => record.action === "lease.revoke").every((record) => record.seq > deleteSeq)).toBe(true);
  });

  it("revokes the leases of the whole secret when given one #key of it", async () => {
    const revoked = await deleteSecret(deps, operator, "app/db#password", meta);
    expect(revoked).toHaveLength(2);
  });

  it("revokes nothing when there is no secret at the path (not_found)", async () => {
    await expect(deleteSecret(deps, operator, "app/missing", meta)).rejects.toMatchObject({ code: "not_found" });
    expect(await temp.store.listLeases({ activeAt: now })).toHaveLength(3);
    expect(revokedSeen).toEqual([]);
    expect(events).toEqual([]);
  });

  it("refuses an invalid path before touching anything (invalid_path)", async () => {
    await expect(deleteSecret(deps, operator, "app/../db", meta)).rejects.toMatchObject({ code: "invalid_path" });
    expect(await temp.store.listLeases({ activeAt: now })).toHaveLength(3);
  });
});
