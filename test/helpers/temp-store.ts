/** A SQLite store in a fresh temporary folder, as the broker opens it (WAL, committer thread). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite.js";
import { TEST_CHAIN_KEY } from "./chain-key.js";

export interface TempStore {
  /** The folder holding `broker.db`; tests may put key files beside it. */
  dir: string;
  store: SqliteStore;
  /** Closes the store and removes the folder. */
  close(): Promise<void>;
}

/** `label` names the folder (`credbroker-<label>-…`), so a leftover says which test made it. */
export function openTempStore(label: string): TempStore {
  const dir = mkdtempSync(join(tmpdir(), `credbroker-${label}-`));
  const store = openSqliteStore({ file: join(dir, "broker.db") });
  // Audit appends need the chain key; tests that check the key's own handling open stores themselves.
  store.useAuditChainKey(TEST_CHAIN_KEY);
  return {
    dir,
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
