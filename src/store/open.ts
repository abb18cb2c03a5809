/** Opens the store named by the `database` setting: `sqlite:PATH`, or a `postgres://` / `postgresql://` URL. */
import { BrokerError } from "../errors.js";
import { openPostgresStore } from "./postgres.js";
import { openSqliteStore } from "./sqlite.js";
import type { Store } from "./store.js";

export async function openStore(database: string): Promise<Store> {
  if (database.startsWith("sqlite:")) return openSqliteStore({ file: database.slice("sqlite:".length) });
  if (/^postgres(ql)?:\/\//.test(database)) return openPostgresStore({ url: database });
  throw new BrokerError("invalid_request", "database must be sqlite:PATH or a postgres:// URL");
}
