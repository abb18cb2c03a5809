/**
 * The server directory: what authentication asks on every server request (does this server
 * exist, is it disabled, since when are its tokens refused). Answered from the store's row cache,
 * so the hot path does not query the database for it.
 */
import type { ServerId, ServerRecord } from "../domain.js";
import type { Store } from "../store/store.js";

export interface ServerDirectory {
  /**
   * The server's record; undefined when no server has this id (never throws `not_found`).
   * @throws BrokerError `storage_unavailable` when the store cannot answer.
   */
  find(id: ServerId): Promise<ServerRecord | undefined>;
}

/** The directory over the store (whose `getServer` is served from its row cache). */
export function storeServerDirectory(store: Pick<Store, "getServer">): ServerDirectory {
  return { find: (id) => store.getServer(id) };
}
