/**
 * postgres-password against a real PostgreSQL that checks passwords (a throwaway SCRAM cluster;
 * the machine's own server trusts every login, so it could not show a password refused).
 */
import { randomUUID } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { quoteIdentifier, quoteLiteral } from "../../src/rotation/sql.js";
import { rotationStrategies } from "../../src/rotation/registry.js";
import { postgresPasswordStrategy } from "../../src/rotation/strategies/postgres-password.js";
import { testMounts, type TestMounts } from "../backends/helpers.js";
import { pendingValuesForTests, rotationStrategyContract } from "../contracts/rotation-strategy.contract.js";
import { postgresBinDir, startScramCluster, type ScramCluster } from "../helpers/pg-cluster.js";
import { contextFor, optionsFromPolicy } from "./helpers.js";

const required = process.env.TEST_REQUIRE_POSTGRES === "1";
const available = postgresBinDir() !== undefined;
if (!available && !required) console.warn("SKIPPED postgres-password tests: no PostgreSQL binaries under /usr/lib/postgresql/*/bin");
const describeCluster = available || required ? describe : describe.skip;

const INITIAL = "initial-Password-0123456789";

interface PgFixture {
  cluster: ScramCluster;
  mounts: TestMounts;
}

async function pgFixture(roles: string[], value: string): Promise<PgFixture> {
  const cluster = await startScramCluster();
  for (const role of roles) await cluster.query(`CREATE ROLE ${quoteIdentifier(role)} LOGIN`);
  await cluster.query(`ALTER ROLE ${quoteIdentifier(roles[0]!)} PASSWORD ${quoteLiteral(INITIAL)}`);
  const mounts = await testMounts([]);
  await mounts.local.write("broker/pg-admin", Buffer.from(cluster.adminPassword), { createdBy: "test" });
  await mounts.local.write("rotated/db", Buffer.from(value), { createdBy: "test" });
  return { cluster, mounts };
}

const connection = (cluster: ScramCluster) => `connection_url: 'postgresql://${cluster.adminUser}@127.0.0.1:${cluster.port}/postgres', password_secret: broker/pg-admin`;

describeCluster("postgres-password", () => {
  rotationStrategyContract("postgres-password, one role", async () => {
    const { cluster, mounts } = await pgFixture(["app"], INITIAL);
    const options = optionsFromPolicy("postgres-password", `{ postgres-password: { ${connection(cluster)}, role: app } }`);
    const parts = { secretPath: "rotated/db", mounts: mounts.table, options, pending: pendingValuesForTests() };
    return {
      strategy: rotationStrategies["postgres-password"],
      context: (rotationId) => contextFor(parts, rotationId),
      accepts: (value) => cluster.canLogin("app", value.toString()),
      async close() {
        await mounts.close();
        await cluster.stop();
      },
    };
  });

  rotationStrategyContract("postgres-password, alternating roles", async () => {
    const { cluster, mounts } = await pgFixture(["app_a", "app_b"], JSON.stringify({ user: "app_a", password: INITIAL }));
    const options = optionsFromPolicy("postgres-password", `{ postgres-password: { ${connection(cluster)}, alternate: [app_a, app_b] } }`, "1d");
    const parts = { secretPath: "rotated/db", mounts: mounts.table, options, pending: pendingValuesForTests(), graceSeconds: 86_400 };
    return {
      strategy: rotationStrategies["postgres-password"],
      context: (rotationId) => contextFor(parts, rotationId),
      accepts: (value) => {
        const { user, password } = JSON.parse(value.toString()) as { user: string; password: string };
        return cluster.canLogin(user, password);
      },
      async close() {
        await mounts.close();
        await cluster.stop();
      },
    };
  });

  describe("edge cases", () => {
    let fixture: PgFixture;
    beforeAll(async () => {
      fixture = await pgFixture(["app_a", "app_b"], JSON.stringify({ user: "app_a", password: INITIAL }));
    });
    afterAll(async () => {
      await fixture.mounts.close();
      await fixture.cluster.stop();
    });

    const partsFor = (strategyYaml: string, graceSeconds = 0) => ({
      secretPath: "rotated/db",
      mounts: fixture.mounts.table,
      options: optionsFromPolicy("postgres-password", strategyYaml, graceSeconds > 0 ? `${graceSeconds}s` : undefined),
      pending: pendingValuesForTests(),
      graceSeconds,
    });

    it("in alternation the previous user keeps logging in through the grace period and fails once it is retired", async () => {
      const { cluster } = fixture;
      const parts = partsFor(`{ postgres-password: { ${connection(cluster)}, alternate: [app_a, app_b] } }`, 86_400);
      const strategy = postgresPasswordStrategy;
      const rotationId = randomUUID();
      const created = await strategy.create(contextFor(parts, rotationId));
      expect(created).toMatchObject({ role: "app_b", previousRole: "app_a" });
      const tested = await strategy.test(contextFor(parts, rotationId), await strategy.set(contextFor(parts, rotationId), created));
      const finishedAt = Date.now();
      const { state } = await strategy.finish(contextFor(parts, rotationId), tested);

      const current = JSON.parse((await fixture.mounts.local.read("rotated/db"))!.bytes.toString()) as { user: string; password: string };
      expect(current.user).toBe("app_b");
      expect(await cluster.canLogin("app_b", current.password)).toBe(true);
      expect(await cluster.canLogin("app_a", INITIAL)).toBe(true);
      const until = (await cluster.query("SELECT rolvaliduntil FROM pg_roles WHERE rolname = 'app_a'")).rows[0]!.rolvaliduntil as Date;
      expect(until.getTime()).toBeGreaterThanOrEqual(finishedAt + 86_400_000 - 1000);

      await strategy.retire(contextFor(parts, rotationId), state);
      expect(await cluster.canLogin("app_a", INITIAL)).toBe(false);
      expect(await cluster.canLogin("app_b", current.password)).toBe(true);

      // The server saw verifiers only: the new password is nowhere in its statement log.
      expect(cluster.log()).toContain("ALTER ROLE");
      expect(cluster.log()).not.toContain(current.password);
    });

    it("wrong broker credentials for the connection fail set with forbidden naming the server", async () => {
      const { cluster, mounts } = fixture;
      await mounts.local.write("broker/pg-wrong", Buffer.from("not-the-password"), { createdBy: "test" });
      const parts = partsFor(`{ postgres-password: { connection_url: 'postgresql://${cluster.adminUser}@127.0.0.1:${cluster.port}/postgres', password_secret: broker/pg-wrong, alternate: [app_a, app_b] } }`);
      const rotationId = randomUUID();
      const strategy = rotationStrategies["postgres-password"];
      const created = await strategy.create(contextFor(parts, rotationId));
      await expect(strategy.set(contextFor(parts, rotationId), created)).rejects.toMatchObject({
        code: "forbidden",
        message: `postgres-password: postgres 127.0.0.1:${cluster.port}/postgres refused the broker's login as ${cluster.adminUser}`,
      });
    });

    it("a server that is down fails with backend_unavailable naming it", async () => {
      const parts = partsFor(`{ postgres-password: { connection_url: 'postgresql://cbadmin@127.0.0.1:1/postgres', password_secret: broker/pg-admin, alternate: [app_a, app_b], connect_timeout: 2s } }`);
      const rotationId = randomUUID();
      const strategy = rotationStrategies["postgres-password"];
      const created = await strategy.create(contextFor(parts, rotationId));
      await expect(strategy.set(contextFor(parts, rotationId), created)).rejects.toMatchObject({
        code: "backend_unavailable",
        message: "postgres-password: postgres 127.0.0.1:1/postgres is unavailable",
        data: { target: "postgres 127.0.0.1:1/postgres" },
      });
    });

    it("a role that does not exist fails set with rotation_failed", async () => {
      const parts = partsFor(`{ postgres-password: { ${connection(fixture.cluster)}, alternate: [ghost, app_a] } }`);
      const rotationId = randomUUID();
      const strategy = rotationStrategies["postgres-password"];
      const created = await strategy.create(contextFor(parts, rotationId));
      await expect(strategy.set(contextFor(parts, rotationId), created)).rejects.toMatchObject({ code: "rotation_failed" });
    });
  });

  describe("quoting", () => {
    let cluster: ScramCluster;
    beforeAll(async () => {
      cluster = await startScramCluster();
    });
    afterAll(() => cluster.stop());

    // Hostile names stay one identifier: PostgreSQL answers a column of exactly that name.
    it.each([
      ["app"],
      ['app"; DROP ROLE cbadmin; --'],
      ['""'],
      ["Robert'); DROP TABLE students;--"],
      ["tab\tand\nnewline"],
      ["back\\slash"],
      ["ünïcödé"],
      ["a".repeat(63)],
    ])("quoteIdentifier(%j) is that one identifier", async (name) => {
      const result = await cluster.query(`SELECT 1 AS ${quoteIdentifier(name)}, ${quoteLiteral(name)} AS literal`);
      expect(result.fields.map((field) => field.name)).toEqual([name, "literal"]);
      expect(result.rows[0]!.literal).toBe(name);
    });

    it.each([
      ["", "an SQL identifier cannot be empty"],
      ["a\u0000b", "an SQL identifier cannot contain NUL"],
      ["a".repeat(64), "an SQL identifier is at most 63 bytes; PostgreSQL would truncate it"],
      ["é".repeat(32), "an SQL identifier is at most 63 bytes; PostgreSQL would truncate it"],
    ])("quoteIdentifier refuses %j", (name, message) => {
      expect(() => quoteIdentifier(name)).toThrow(message);
    });
  });
});
