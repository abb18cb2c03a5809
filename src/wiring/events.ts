/**
 * Event wiring: the in-process bus that event streams read, kept consistent with the remote-mount
 * caches and, on PostgreSQL, relayed to the other brokers of the same database; and what a lease
 * revocation sets off: an event per lease, then the destruction of dynamic credentials in their
 * backends.
 */
import type { MountTable } from "../backends/mounts.js";
import type { BrokerConfig } from "../config.js";
import type { Lease } from "../domain.js";
import { EventBus } from "../events/bus.js";
import { startPgRelay } from "../events/pg-relay.js";
import { externalLeases, type ExternalLeases } from "../leases/external.js";
import type { Logger } from "../logger.js";
import type { Store } from "../store/store.js";

export interface EventWiringDeps {
  config: Pick<BrokerConfig, "database">;
  store: Pick<Store, "dialect">;
  mounts: Pick<MountTable, "invalidate" | "resolve">;
  logger: Logger;
  clock: () => number;
}

export interface EventWiring {
  events: EventBus;
  /** Renews and revokes the backend leases behind dynamic credentials. */
  external: ExternalLeases;
  /** Publishes `lease.revoked` for each lease, then revokes their backend leases (failures are logged). */
  onRevoked: (leases: Lease[]) => Promise<void>;
  /** Stops relaying to other brokers; nothing to do on SQLite. */
  close(): Promise<void>;
}

/** Creates the event bus; on PostgreSQL, connects the relay first (rejects when it cannot). */
export async function createEvents(deps: EventWiringDeps): Promise<EventWiring> {
  const { config, mounts, logger } = deps;
  const events = new EventBus(deps.clock);
  // A value changed through another broker must not be served from this one's remote-mount cache.
  events.subscribe((event) => {
    if (event.type === "secret.version" || event.type === "secret.deleted") mounts.invalidate(event.secret);
  });
  const relay = deps.store.dialect === "postgres" ? await startPgRelay(config.database, (event) => events.deliver(event), logger) : undefined;
  if (relay) events.relayTo((event) => relay.send(event));
  const external = externalLeases(mounts, (lease, error) =>
    logger.error({ lease_id: lease.id, secret: lease.secretPath, err: String(error) }, "could not revoke the backend lease of a dynamic credential"),
  );
  const onRevoked = async (leases: Lease[]) => {
    for (const lease of leases) {
      events.publish({ type: "lease.revoked", server: lease.serverId, lease_id: lease.id, secret: lease.secretPath, reason: lease.revokeReason ?? "revoked" });
    }
    await external.revoke(leases);
  };
  return {
    events,
    external,
    onRevoked,
    async close() {
      await relay?.close();
    },
  };
}
