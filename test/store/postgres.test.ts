/**
 * The store contract against PostgreSQL (a fresh schema per test), plus what only PostgreSQL has:
 * the migrated tables match the drizzle schema column for column, brokers starting together
 * migrate once, and an unreachable or silent server is a fast storage_unavailable, never a hang.
 */
import { createServer, type Server, type Socket } from "node:net";
import { getTableConfig } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import { readMigrations } from "../../src/store/migrate.js";
import { openStore } from "../../src/store/open.js";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres.js";
import * as schema from "../../src/store/schema.postgres.js";
import { createTestSchema, describePostgres, type TestSchema } from "./postgres-helpers.js";
import { describeStoreContract, entry, lease } from "./store.contract.js";
import { TEST_CHAIN_KEY } from "../helpers/chain-key.js";

describePostgres("postgres store", () => {
  // One schema for the contract, migrated once (migrations have their own tests below); every test
  // starts from empty tables and a fresh pool.
  let contractSchema: TestSchema;
  // Children before parents, for the foreign key of server_credentials.
  const tableNames = Object.values(schema)
    .map((table) => getTableConfig(table).name)
    .sort((a, b) => Number(b === "server_credentials") - Number(a === "server_credentials"));

  beforeAll(async () => {
    contractSchema = await createTestSchema("contract");
    await (await openPostgresStore({ url: contractSchema.url })).close();
  });

  afterAll(async () => {
    await contractSchema.drop();
  });

  describeStoreContract("postgres", async () => {
    // DELETE rather than TRUNCATE: on tables this small it is one cheap transaction, not a file swap per table.
    await contractSchema.query(tableNames.map((table) => `DELETE FROM ${table};`).join("\n"));
    const store = await openPostgresStore({ url: contractSchema.url, migrate: false, poolSize: 4 });
    let broken = false;
    return {
      store,
      async cleanup() {
        await store.close();
        if (broken) await contractSchema.query("ALTER TABLE servers_broken RENAME TO servers");
      },
      async breakStorage() {
        await contractSchema.query("ALTER TABLE servers RENAME TO servers_broken");
        broken = true;
      },
    };
  });

  describe("postgres specifics", () => {
    let testSchema: TestSchema;

    beforeAll(async () => {
      testSchema = await createTestSchema("specifics");
      await (await openPostgresStore({ url: testSchema.url })).close();
    });

    afterAll(async () => {
      await testSchema.drop();
    });

    it("is not audit-writable for a database user without INSERT on audit_events, though it answers pings", async () => {
      const role = `cb_reader_${Math.random().toString(36).slice(2, 10)}`;
      await testSchema.query(`CREATE ROLE ${role} LOGIN`);
      try {
        await testSchema.query(`GRANT USAGE ON SCHEMA ${testSchema.name} TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA ${testSchema.name} TO ${role}`);
        const url = new URL(testSchema.url);
        url.username = role;
        const reader = await openPostgresStore({ url: url.toString(), migrate: false });
        try {
          await expect(reader.ping()).resolves.toBeUndefined();
          await expect(reader.checkAuditWritable()).rejects.toMatchObject({ code: "storage_unavailable", message: "the database user may not insert audit records" });
        } finally {
          await reader.close();
        }
      } finally {
        await testSchema.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
    });

    it("migrates to exactly the drizzle schema: tables, columns, types and nullability", async () => {
      const { rows } = await testSchema.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name <> 'schema_migrations'",
        [testSchema.name],
      );
      const live = rows.map((row) => `${row.table_name}.${row.column_name} ${row.data_type}${row.is_nullable === "NO" ? " not null" : ""}`).sort();
      const drizzleColumns = Object.values(schema)
        .flatMap((table) => {
          const config = getTableConfig(table);
          return config.columns.map((column) => `${config.name}.${column.name} ${column.getSQLType()}${column.notNull ? " not null" : ""}`);
        })
        .sort();
      expect(live).toEqual(drizzleColumns);
    });

    it("records each migration once and applies nothing on a second open", async () => {
      const store = await openPostgresStore({ url: testSchema.url, migrate: false });
      try {
        expect(await store.migrate()).toEqual([]);
        const { rows } = await testSchema.query<{ name: string }>("SELECT name FROM schema_migrations ORDER BY name");
        expect(rows.map((row) => row.name)).toEqual(readMigrations("postgres").map((m) => m.name));
      } finally {
        await store.close();
      }
    });

    it("migrates once when several brokers start at the same time", async () => {
      const fresh = await createTestSchema("race");
      try {
        const stores = await Promise.all(Array.from({ length: 5 }, () => openPostgresStore({ url: fresh.url, migrate: false, poolSize: 1 })));
        const applied = await Promise.all(stores.map((store) => store.migrate()));
        await Promise.all(stores.map((store) => store.close()));
        expect(applied.flat().sort()).toEqual(readMigrations("postgres").map((m) => m.name));
        const { rows } = await fresh.query<{ n: string }>("SELECT count(*) AS n FROM schema_migrations");
        expect(Number(rows[0]?.n)).toBe(readMigrations("postgres").length);
      } finally {
        await fresh.drop();
      }
    });

    it("is what openStore opens for postgres:// and postgresql:// URLs", async () => {
      for (const url of [testSchema.url, testSchema.url.replace(/^postgres:/, "postgresql:")]) {
        const store = await openStore(url);
        try {
          expect(store.dialect).toBe("postgres");
          await store.ping();
        } finally {
          await store.close();
        }
      }
    });

    it("reports a duplicate key as conflict, without quoting the row", async () => {
      const store = await openPostgresStore({ url: testSchema.url });
      try {
        await store.insertLease(lease("l-dup", { externalLeaseId: "ext-value-123" }));
        const error = await store.insertLease(lease("l-dup", { externalLeaseId: "ext-value-123" })).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(BrokerError);
        expect(error).toMatchObject({ code: "conflict", status: 409 });
        expect(`${(error as BrokerError).message} ${(error as BrokerError).detail}`).not.toMatch(/l-dup|ext-value-123/);
      } finally {
        await store.close();
      }
    });

    it("survives its connection being killed mid-transaction: storage_unavailable, nothing committed", async () => {
      const store = await openPostgresStore({ url: testSchema.url, migrate: false });
      store.useAuditChainKey(TEST_CHAIN_KEY);
      const holder = await createTestSchema("holder");
      try {
        await holder.query(`SET search_path = ${testSchema.name}`);
        // Hold the audit table so the append blocks inside its transaction, after inserting its lease.
        await holder.query("BEGIN");
        await holder.query("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE");
        const append = store.appendAudit([entry()], [lease("l-killed")]);
        append.catch(() => undefined);
        const { rows: [holderPid] } = await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        let killed = 0;
        for (let attempt = 0; attempt < 50 && killed === 0; attempt += 1) {
          // From another session: inside the holder's transaction pg_stat_activity is a frozen snapshot.
          const { rows } = await testSchema.query<{ ok: boolean }>(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            [holderPid?.pid],
          );
          killed = rows.filter((row) => row.ok).length;
          if (killed === 0) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(killed).toBe(1);
        await expect(append).rejects.toMatchObject({ code: "storage_unavailable" });
        await holder.query("ROLLBACK");
        expect(await store.getLease("l-killed")).toBeUndefined();
        expect(await store.queryAudit({ limit: 10 })).toEqual([]);
      } finally {
        await holder.query("ROLLBACK").catch(() => undefined);
        await holder.drop();
        await store.close();
      }
    });

    it("can be closed twice", async () => {
      const store = await openPostgresStore({ url: testSchema.url, migrate: false });
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
});

/** These need no PostgreSQL: they are about what happens when there is none. */
describe("postgres store without a database", () => {
  let silent: Server;
  let silentPort: number;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts connections and never answers: a hung server or a black-holed network.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentPort = (silent.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  async function refusedPort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    return port;
  }

  it("fails to open with storage_unavailable when the server refuses connections", async () => {
    const url = `postgres://postgres@127.0.0.1:${await refusedPort()}/test`;
    await expect(openPostgresStore({ url, connectTimeoutMs: 1000 })).rejects.toMatchObject({ code: "storage_unavailable", status: 503 });
  });

  it("answers every call with storage_unavailable while the server is down", async () => {
    const store = await openPostgresStore({ url: `postgres://postgres@127.0.0.1:${await refusedPort()}/test`, migrate: false });
    store.useAuditChainKey(TEST_CHAIN_KEY);
    try {
      for (const call of [() => store.getServer("github-mcp"), () => store.appendAudit([]), () => store.ping()]) {
        await expect(call()).rejects.toMatchObject({ name: "BrokerError", code: "storage_unavailable" });
      }
    } finally {
      await store.close();
    }
  });

  it("fails a ping fast when the server accepts connections but never answers", async () => {
    const store: PostgresStore = await openPostgresStore({
      url: `postgres://postgres@127.0.0.1:${silentPort}/test`,
      migrate: false,
      pingTimeoutMs: 300,
      connectTimeoutMs: 1000,
    });
    try {
      const started = Date.now();
      await expect(store.ping()).rejects.toMatchObject({ code: "storage_unavailable" });
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(store.getServer("github-mcp")).rejects.toMatchObject({ code: "storage_unavailable" });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await store.close();
    }
  });

  it("refuses a URL that is not postgres:// as a programming error", async () => {
    await expect(openPostgresStore({ url: "mysql://localhost/x" })).rejects.toBeInstanceOf(TypeError);
  });
});
