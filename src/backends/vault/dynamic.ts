/**
 * Vault dynamic secrets engines (database, AWS, RabbitMQ... anything answering a read with a
 * lease) as a broker backend: each broker lease gets its own credential, issued by reading
 * `<dynamic_path>/<location>` (e.g. `database/creds/readonly`) and bound to Vault's lease, which
 * the broker renews and revokes through `sys/leases/renew` and `sys/leases/revoke`.
 * Such a mount holds no static values: `read` answers undefined.
 */
import { BrokerError } from "../../errors.js";
import type { BackendValue, ClosableBackend, DynamicBackend, DynamicCredential } from "../backend.js";
import type { MountGuard } from "../guard.js";
import { vaultFailure } from "./errors.js";
import { checkVaultHealth } from "./health.js";
import type { BackendLogger } from "../plugin.js";
import type { VaultSession } from "./session.js";

export interface VaultDynamicBackendOptions {
  mount: string;
  /** Vault path under which roles issue credentials, e.g. `database/creds`. */
  dynamicPath: string;
  session: VaultSession;
  guard: MountGuard;
  logger: BackendLogger;
}

interface LeasedResponse {
  lease_id?: unknown;
  lease_duration?: unknown;
  renewable?: unknown;
  data?: unknown;
}

export class VaultDynamicBackend implements DynamicBackend, ClosableBackend {
  readonly kind = "vault" as const;
  readonly mount: string;

  constructor(private readonly options: VaultDynamicBackendOptions) {
    this.mount = options.mount;
  }

  /** A dynamic mount holds no static values. */
  read(_location: string, _version?: number): Promise<BackendValue | undefined> {
    return Promise.resolve(undefined);
  }

  async issue(location: string, ttlSeconds: number): Promise<DynamicCredential> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new TypeError("issue: ttlSeconds must be a positive integer");
    const { guard, session, dynamicPath, logger } = this.options;
    const issued = (await guard.run("issue", location, () =>
      session.call(async (client) => {
        try {
          return (await client.read(`${dynamicPath}/${encodePath(location)}`)) as LeasedResponse;
        } catch (error) {
          const failure = vaultFailure(error);
          // Vault answers an unknown role with 400 "unknown role: NAME" (404 on some engines).
          if (failure.status === 404 || (failure.status === 400 && failure.errors.some((message) => /unknown role|no role/i.test(message)))) {
            throw new BrokerError("not_found", `no dynamic credential role ${location} on backend ${this.mount}`, { detail: failure.errors.join("; ") });
          }
          throw error;
        }
      }),
    )) satisfies LeasedResponse;
    const externalLeaseId = typeof issued.lease_id === "string" ? issued.lease_id : "";
    if (externalLeaseId === "" || issued.data === null || typeof issued.data !== "object") {
      throw new BrokerError("invalid_request", `backend ${this.mount}: ${location} did not answer with a leased credential`);
    }
    const credential: DynamicCredential = {
      bytes: Buffer.from(JSON.stringify(issued.data), "utf8"),
      externalLeaseId,
      ttlSeconds: seconds(issued.lease_duration),
      renewable: issued.renewable === true,
    };
    if (credential.renewable && credential.ttlSeconds < ttlSeconds) {
      // Ask Vault for the lease the broker wants; Vault caps it at the role's max TTL.
      try {
        const renewed = await this.renew(externalLeaseId, ttlSeconds);
        credential.ttlSeconds = renewed.ttlSeconds;
        credential.renewable = renewed.renewable;
      } catch (error) {
        logger.warn({ mount: this.mount, err: error instanceof Error ? error.message : String(error) }, "could not extend a new dynamic credential's lease; keeping Vault's TTL");
      }
    }
    return credential;
  }

  async renew(externalLeaseId: string, incrementSeconds: number): Promise<{ ttlSeconds: number; renewable: boolean }> {
    this.checkLeaseId(externalLeaseId);
    if (!Number.isInteger(incrementSeconds) || incrementSeconds < 1) throw new TypeError("renew: incrementSeconds must be a positive integer");
    const { guard, session } = this.options;
    const renewed = (await guard.run("renew", undefined, () =>
      session.call(async (client) => {
        try {
          return (await client.write("sys/leases/renew", { lease_id: externalLeaseId, increment: incrementSeconds })) as LeasedResponse;
        } catch (error) {
          throw leaseError(this.mount, error);
        }
      }),
    )) satisfies LeasedResponse;
    return { ttlSeconds: seconds(renewed.lease_duration), renewable: renewed.renewable === true };
  }

  async revoke(externalLeaseId: string): Promise<void> {
    this.checkLeaseId(externalLeaseId);
    const { guard, session } = this.options;
    await guard.run("revoke", undefined, () =>
      session.call(async (client) => {
        try {
          await client.write("sys/leases/revoke", { lease_id: externalLeaseId });
        } catch (error) {
          const failure = vaultFailure(error);
          // Already gone (expired or revoked): revocation is idempotent.
          if (failure.status === 400 && failure.errors.some((message) => /lease not found|invalid lease/i.test(message))) return;
          throw error;
        }
      }),
    );
  }

  checkHealth(): Promise<void> {
    return checkVaultHealth(this.options.guard, this.options.session);
  }

  close(): Promise<void> {
    this.options.session.close();
    return Promise.resolve();
  }

  /** The broker only renews and revokes leases of its own engine path, never an arbitrary Vault lease. */
  private checkLeaseId(externalLeaseId: string): void {
    if (!externalLeaseId.startsWith(`${this.options.dynamicPath}/`)) {
      throw new BrokerError("invalid_request", `lease does not belong to backend ${this.mount}`);
    }
  }
}

function leaseError(mount: string, error: unknown): unknown {
  const failure = vaultFailure(error);
  if (failure.status !== 400) return error;
  if (failure.errors.some((message) => /not renewable/i.test(message))) {
    return new BrokerError("not_renewable", `the credential's lease on backend ${mount} cannot be renewed`, { detail: failure.errors.join("; ") });
  }
  if (failure.errors.some((message) => /lease not found|invalid lease|lease expired/i.test(message))) {
    return new BrokerError("lease_expired", `the credential's lease on backend ${mount} has expired or was revoked`, { detail: failure.errors.join("; ") });
  }
  return error;
}

function seconds(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

function encodePath(location: string): string {
  return location.split("/").map(encodeURIComponent).join("/");
}
