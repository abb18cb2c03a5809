/**
 * The backend side of dynamic credentials: a broker lease with an external lease id (e.g. a Vault
 * database-engine lease) is renewed and revoked in the backend too, so ending the broker lease
 * destroys the credential in the target system.
 */
import { isDynamic } from "../backends/backend.js";
import type { MountTable } from "../backends/mounts.js";
import type { Lease } from "../domain.js";
import { secretPathBase } from "../policy/glob.js";

export interface ExternalLeases {
  /** Extends the backend lease; returns the seconds it granted, or undefined for a static lease. */
  renew(lease: Lease, incrementSeconds: number): Promise<number | undefined>;
  /** Revokes the backend leases of these broker leases; failures are reported, not thrown. */
  revoke(leases: Lease[]): Promise<void>;
}

export function externalLeases(mounts: Pick<MountTable, "resolve">, onFailure: (lease: Lease, error: unknown) => void): ExternalLeases {
  const backendOf = (lease: Lease) => {
    const { backend } = mounts.resolve(secretPathBase(lease.secretPath));
    return isDynamic(backend) ? backend : undefined;
  };
  return {
    async renew(lease, incrementSeconds) {
      if (!lease.externalLeaseId) return undefined;
      const backend = backendOf(lease);
      if (!backend) return undefined;
      return (await backend.renew(lease.externalLeaseId, incrementSeconds)).ttlSeconds;
    },
    async revoke(leases) {
      await Promise.all(
        leases.map(async (lease) => {
          if (!lease.externalLeaseId) return;
          try {
            await backendOf(lease)?.revoke(lease.externalLeaseId);
          } catch (error) {
            onFailure(lease, error);
          }
        }),
      );
    },
  };
}
