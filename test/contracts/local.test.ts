/** The backend contract against the local encrypted store (SQLite file + envelope encryption, as src/main.ts builds it). */
import { openLocal } from "../backends/helpers.js";
import { backendContract } from "./backend.contract.js";

backendContract({
  name: "local",
  async create() {
    const opened = openLocal();
    return { backend: opened.local, close: () => opened.close() };
  },
  notApplicable: {
    permission: "the local store has no access control of its own: the broker's policies decide, before any backend is called",
    down: "the local store is the broker's own database; its failure is storage_unavailable, covered by the store's tests",
    slow: "the local store is an embedded SQLite file with no network call to time out",
  },
});
