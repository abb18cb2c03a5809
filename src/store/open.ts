/** Opens the store named by the `database` setting. */
import { BrokerError } from "../errors.js";
import { openSqliteStore } from "./sqlite.js";
import type { Store } from "./store.js";

export async function openStore(database: string): Promise<Store> {
  if (database.startsWith("sqlite:")) return openSqliteStore({ file: database.slice("sqlite:".length) });
  throw new BrokerError("invalid_request", "PostgreSQL storage is not available in this build yet; use sqlite:PATH");
}
