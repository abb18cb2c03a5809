/** Readiness of a Vault mount: Vault answers, is initialised and unsealed, and the broker can log in. */
import { unavailable, type MountGuard } from "../guard.js";
import type { VaultSession } from "./session.js";

export function checkVaultHealth(guard: MountGuard, session: VaultSession): Promise<void> {
  return guard.run("health", undefined, async () => {
    // node-vault resolves sys/health whatever the status code: the body tells the state.
    const health = (await session.client.health()) as { initialized?: unknown; sealed?: unknown } | undefined;
    if (health?.sealed === true) throw unavailable(guard.mount, "Vault is sealed");
    if (health?.initialized !== true) throw unavailable(guard.mount, "Vault is not initialised");
    await session.ready();
  });
}
