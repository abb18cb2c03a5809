/**
 * Two brokers on one PostgreSQL database: two stores with their own pools, as two processes would
 * have, hammering the same audit chain, the same secret, the same assertion id and the same server
 * id at once. The database, not the process, must serialise them: one unbroken chain, distinct
 * consecutive versions, exactly one winner per unique key.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { verifyChain } from "../../src/audit/verify.js";
import { KEYED_FROM_START, TEST_CHAIN_KEY } from "../helpers/chain-key.js";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres.js";
import { createTestSchema, describePostgres, type TestSchema } from "./postgres-helpers.js";
import { entry, lease, server } from "./store.contract.js";

describePostgres("postgres store: two brokers at once", () => {
  let testSchema: TestSchema;
  let brokerA: PostgresStore;
  let brokerB: PostgresStore;

  beforeEach(async () => {
    testSchema = await createTestSchema("concurrency");
    // Both migrate on open, at the same time, as two brokers starting together would.
    [brokerA, brokerB] = await Promise.all([
      openPostgresStore({ url: testSchema.url, poolSize: 5 }),
      openPostgresStore({ url: testSchema.url, poolSize: 5 }),
    ]);
    brokerA.useAuditChainKey(TEST_CHAIN_KEY);
    brokerB.useAuditChainKey(TEST_CHAIN_KEY);
  });

  afterEach(async () => {
    await Promise.all([brokerA.close(), brokerB.close()]);
    await testSchema.drop();
  });

  it("extends one unbroken audit chain, each batch's leases committed with it", async () => {
    const rounds = 25;
    const batchSize = 4;
    const appends = [];
    for (let round = 0; round < rounds; round += 1) {
      for (const [name, broker] of [["a", brokerA], ["b", brokerB]] as const) {
        const ids = Array.from({ length: batchSize }, (_, i) => `${name}-${round}-${i}`);
        appends.push(
          broker.appendAudit(
            ids.map((id) => entry({ requestId: id, leaseId: id, actor: `${name}-broker-client` })),
            ids.map((id) => lease(id)),
          ),
        );
      }
    }
    const batches = await Promise.all(appends);
    const total = rounds * 2 * batchSize;
    const seqs = batches.flat().map((record) => record.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const batch of batches) expect(batch.map((r) => r.seq)).toEqual(batch.map((_, i) => batch[0]!.seq + i));
    const verdict = await verifyChain(brokerB.auditPages(37), KEYED_FROM_START);
    expect(verdict).toMatchObject({ ok: true, checked: total, problems: [] });
    expect(await brokerA.countActiveLeases(0)).toBe(total);
  });

  it("gives every concurrent write of one secret its own version number", async () => {
    const writes = [];
    for (let i = 0; i < 20; i += 1) {
      for (const [name, broker] of [["a", brokerA], ["b", brokerB]] as const) {
        writes.push(
          broker.writeSecretVersion({
            path: "prod/db#password",
            createdBy: `broker-${name}`,
            now: 1_700_000_000_000 + i,
            seal: (version) => ({ keyId: "mk-1", wrappedKey: Buffer.from("wk"), ciphertext: Buffer.from(`sealed-for-${version}`) }),
          }),
        );
      }
    }
    const versions = (await Promise.all(writes)).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect((await brokerA.getSecretMetadata("prod/db#password"))?.currentVersion).toBe(40);
    const listed = await brokerB.listVersions("prod/db#password");
    expect(listed.map((v) => v.version)).toEqual(versions);
    // Each version holds the bytes sealed for that very number.
    const v17 = await brokerA.getEncryptedVersion("prod/db#password", 17);
    expect(v17?.ciphertext.toString()).toBe("sealed-for-17");
  });

  it("lets exactly one broker accept a replayed assertion and create a given server", async () => {
    const now = 1_700_000_000_000;
    const remembered = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? brokerA : brokerB).rememberAssertion("jti-shared", now + 60_000, now)),
    );
    expect(remembered.filter(Boolean)).toHaveLength(1);

    const created = await Promise.allSettled([brokerA.createServer(server("github-mcp")), brokerB.createServer(server("github-mcp"))]);
    expect(created.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    expect(created.find((result) => result.status === "rejected")).toMatchObject({ reason: { code: "conflict" } });
  });
});
