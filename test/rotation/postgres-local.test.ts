/**
 * postgres-password against the machine's own PostgreSQL (trust authentication, so a login
 * proves nothing there): what it stores is checked instead. pg_authid must hold a SCRAM-SHA-256
 * verifier that the new password reproduces, so a server that checks passwords lets it in.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, randomUUID } from "node:crypto";

import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";

import { rotationStrategies } from "../../src/rotation/registry.js";
import { quoteIdentifier } from "../../src/rotation/sql.js";
import { testMounts, type TestMounts } from "../backends/helpers.js";
import { pendingValuesForTests } from "../contracts/rotation-strategy.contract.js";
import { describePostgres, TEST_POSTGRES_URL } from "../store/postgres-helpers.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

/** Whether `verifier` (pg_authid.rolpassword) is the SCRAM-SHA-256 verifier of `password`. */
function verifierMatches(verifier: string, password: string): boolean {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (match === null) return false;
  const salted = pbkdf2Sync(password, Buffer.from(match[2]!, "base64"), Number(match[1]), 32, "sha256");
  const storedKey = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest("base64");
  const serverKey = createHmac("sha256", salted).update("Server Key").digest("base64");
  return storedKey === match[3] && serverKey === match[4];
}

describePostgres("postgres-password on the machine's PostgreSQL", () => {
  const role = `cbrot_${randomBytes(5).toString("hex")}`;
  const url = new URL(TEST_POSTGRES_URL);
  let admin: pg.Client;
  let mounts: TestMounts;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${quoteIdentifier(role)} LOGIN PASSWORD 'initial-Password-0123456789'`);
    mounts = await testMounts([]);
    await mounts.local.write("broker/pg-admin", Buffer.from("trust-auth-ignores-it"), { createdBy: "test" });
    await mounts.local.write("rotated/db", Buffer.from("initial-Password-0123456789"), { createdBy: "test" });
  });
  afterAll(async () => {
    await admin.query(`DROP ROLE IF EXISTS ${quoteIdentifier(role)}`);
    await admin.end();
    await mounts.close();
  });

  it("the role's stored verifier is the new password's, and the broker serves the new password", async () => {
    const options = optionsFromPolicy(
      "postgres-password",
      `{ postgres-password: { connection_url: 'postgresql://${url.username}@${url.hostname}:${url.port || 5432}${url.pathname}', password_secret: broker/pg-admin, role: ${role} } }`,
    );
    const parts = { secretPath: "rotated/db", mounts: mounts.table, options, pending: pendingValuesForTests() };
    const strategy = rotationStrategies["postgres-password"];
    const rotationId = randomUUID();
    const created = await strategy.create(contextFor(parts, rotationId));
    const tested = await strategy.test(contextFor(parts, rotationId), await strategy.set(contextFor(parts, rotationId), created));
    await strategy.finish(contextFor(parts, rotationId), tested);

    const password = (await mounts.local.read("rotated/db"))!.bytes.toString();
    const stored = (await admin.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [role])).rows[0]!.rolpassword;
    expect(verifierMatches(stored, password)).toBe(true);
    expect(verifierMatches(stored, "initial-Password-0123456789")).toBe(false);
  });
});
