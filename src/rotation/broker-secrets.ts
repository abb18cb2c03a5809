import type { MountTable } from "../backends/mounts.js";
import { BrokerError } from "../errors.js";
import type { BrokerSecrets } from "./strategy.js";

/**
 * A strategy's own credentials read straight from the mounts (the current version of a path,
 * through its backend). The rotation service decides whether such reads are audited.
 */
export function secretsFromMounts(mounts: Pick<MountTable, "resolve">): BrokerSecrets {
  return {
    async read(path) {
      const { backend, location } = mounts.resolve(path);
      const value = await backend.read(location);
      if (value === undefined) throw new BrokerError("not_found", `secret ${path} does not exist`);
      return value.bytes;
    },
  };
}
