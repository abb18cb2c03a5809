/**
 * The audit probe on PostgreSQL commits a write: a session whose transactions are read-only passes
 * every privilege check, so only a real write shows that the audit log cannot be written.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres.js";
import { createTestSchema, describePostgres, type TestSchema } from "../store/postgres-helpers.js";

describePostgres("readiness on PostgreSQL", () => {
  let schema: TestSchema;
  let writable: PostgresStore;
  let readOnly: PostgresStore;
  beforeAll(async () => {
    schema = await createTestSchema("readyz");
    writable = await openPostgresStore({ url: schema.url });
    const url = new URL(schema.url);
    url.searchParams.set("options", `${url.searchParams.get("options")} -c default_transaction_read_only=on`);
    readOnly = await openPostgresStore({ url: url.toString(), migrate: false });
  });
  afterAll(async () => {
    await readOnly?.close();
    await writable?.close();
    await schema?.drop();
  });

  it("a read-only database is not audit-writable, while a writable one is", async () => {
    await expect(readOnly.ping()).resolves.toBeUndefined();
    await expect(readOnly.setMeta("some_key", "x")).rejects.toBeInstanceOf(BrokerError);
    const refusal = await readOnly.checkAuditWritable().then(() => undefined, (error: unknown) => error);
    expect(refusal).toBeInstanceOf(BrokerError);
    expect((refusal as BrokerError).code).toBe("storage_unavailable");
    await expect(writable.checkAuditWritable()).resolves.toBeUndefined();
  });
});
