/**
 * An operator deletes a secret, and it stops being served at once: the secret is removed from its
 * backend (audited `admin.secret.delete`, published `secret.deleted`), then every lease on it is
 * revoked (audited `lease.revoke` each, their holders told through their event streams).
 */
import type { Actor } from "../audit/entry.js";
import type { Lease, RequestMeta } from "../domain.js";
import type { LeaseService } from "../leases/service.js";
import type { SecretAdmin } from "./admin.js";
import { parseSecretName } from "./name.js";

export interface SecretDeletionDeps {
  secrets: Pick<SecretAdmin, "remove">;
  leases: Pick<LeaseService, "revoke">;
}

/**
 * Deletes the secret at `rawPath` and revokes its leases; returns the leases revoked.
 * @throws BrokerError `invalid_path`, `not_found` (nothing at that path: no lease is revoked),
 *   `invalid_request` (a read-only mount), or the backend's error.
 */
export async function deleteSecret(deps: SecretDeletionDeps, actor: Actor, rawPath: string, meta: RequestMeta): Promise<Lease[]> {
  const { path } = parseSecretName(rawPath);
  await deps.secrets.remove(actor, rawPath, meta);
  return deps.leases.revoke(actor, { secretPath: path }, meta, "secret deleted");
}
