/** The store contract against SQLite: a fresh database file per test, opened as `credbroker dev` opens it (WAL, foreign keys). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite.js";
import { describeStoreContract } from "./store.contract.js";

describeStoreContract(
  "sqlite",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "credbroker-store-"));
    const store = openSqliteStore({ file: join(dir, "broker.db") });
    return {
      store,
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
      async breakStorage() {
        store.raw.exec("PRAGMA foreign_keys = OFF; DROP TABLE servers;");
      },
    };
  }
);
