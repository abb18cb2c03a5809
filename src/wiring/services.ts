/**
 * Service wiring: builds the use cases the HTTP layer calls (token endpoint, secret reads and
 * administration, leases, servers, operators, audit queries, master-key rotation) from the parts
 * the composition root has started, and hands them over as one {@link AppDeps}. Changes made here
 * (a new secret version, a revocation, a disabled server, rotated server credentials) are published on the event bus.
 */
import { AuditArchive } from "../audit/archive.js";
import type { RunningCheckpoints } from "../audit/checkpoints.js";
import { AuditQueries } from "../audit/query.js";
import type { AuditWriter } from "../audit/writer.js";
import { ClientCredentials } from "../auth/client-credentials.js";
import { rotateSigningKey } from "../keys/signing-key-rotation.js";
import type { MountTable } from "../backends/mounts.js";
import type { BrokerConfig } from "../config.js";
import type { Envelope } from "../crypto/envelope.js";
import { rotateMasterKey } from "../keys/master-key-rotation.js";
import type { SealedMeta } from "../crypto/sealed-meta.js";
import type { AppDeps } from "../http/deps.js";
import { LeaseService } from "../leases/service.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { OperatorService } from "../operators/service.js";
import { SecretAdmin } from "../secrets/admin.js";
import { StreamSlots } from "../events/stream-slots.js";
import { deleteSecret } from "../secrets/delete.js";
import { SecretReader } from "../secrets/read.js";
import { storeServerDirectory } from "../servers/directory.js";
import { ServerService } from "../servers/service.js";
import { brokerStatus } from "../status/broker-status.js";
import type { Store } from "../store/store.js";
import { BROKER_VERSION } from "../version.js";
import type { AuditIntegrity } from "./audit-integrity.js";
import type { AuthWiring } from "./auth.js";
import type { EventWiring } from "./events.js";
import type { PolicyWiring } from "./policy.js";
import type { ScrapeToken } from "../http/scrape-token.js";
import { RefusalSummaries } from "../http/refusal-summary.js";

export interface ServiceWiringDeps {
  config: Pick<BrokerConfig, "max_body_bytes" | "trust_proxy" | "lease" | "signing_key_overlap" | "token_ttl" | "metrics" | "events" | "rate_limit">;
  logger: Logger;
  metrics: Metrics;
  store: Store;
  envelope: Envelope;
  sealedMeta: SealedMeta;
  audit: AuditWriter;
  auditIntegrity: AuditIntegrity;
  checkpoints: RunningCheckpoints;
  auth: AuthWiring;
  policy: Pick<PolicyWiring, "holder" | "source">;
  mounts: MountTable;
  events: Pick<EventWiring, "events" | "external" | "onRevoked">;
  /** Read at start from `metrics.token_file`, when set. */
  scrapeToken: ScrapeToken | undefined;
  clock: () => number;
}

/** Builds every service the HTTP app needs; starts nothing and does no I/O. */
export function createAppDeps(deps: ServiceWiringDeps): AppDeps {
  const { config, logger, metrics, store, envelope, sealedMeta, audit, mounts, clock } = deps;
  const { signingKeys, identity, tokens, limiter, requestLimiter, secretHasher, tokenRef } = deps.auth;
  const { events, external, onRevoked } = deps.events;
  const policy = deps.policy.holder;
  const startedAt = clock();
  const leaseConfig = { defaultTtlSeconds: config.lease.default_ttl, maxTtlSeconds: config.lease.max_ttl };
  const secretAdmin = new SecretAdmin({
    store,
    mounts,
    audit,
    clock,
    onChanged: (secret, version) => events.publish(version === null ? { type: "secret.deleted", secret } : { type: "secret.version", secret, version }),
  });
  const leases = new LeaseService({ store, audit, policy, leaseConfig, clock, external, onRevoked });
  const { auditIntegrity, checkpoints } = deps;
  const auditQueries = new AuditQueries(store, auditIntegrity);
  const refusals = new RefusalSummaries({ audit, logger, clock, windowSeconds: config.rate_limit.refusal_window, recordedPerWindow: config.rate_limit.refusals_recorded });
  return {
    logger,
    metrics,
    maxBodyBytes: config.max_body_bytes,
    trustProxy: config.trust_proxy,
    scrapeToken: deps.scrapeToken,
    audit,
    auditQueries,
    auditArchive: new AuditArchive({ store, queries: auditQueries, audit, checkpoints, key: auditIntegrity.key, signer: auditIntegrity.signer, clock }),
    checkpointKey: { keyId: auditIntegrity.signer.keyId, publicKeyPem: auditIntegrity.signer.publicKeyPem() },
    refusals,
    requestLimiter,
    clientCredentials: new ClientCredentials({
      store,
      tokens,
      limiter,
      secretHasher,
      audit,
      throttleAudit: refusals,
      metrics,
      tokenRef,
      audiences: () => [identity.issuer, `${identity.issuer}/v1/auth/token`],
      clock,
    }),
    tokens,
    signingKeys,
    rotateSigningKey: (actor, meta) =>
      rotateSigningKey({ signingKeys, audit, events, overlapSeconds: Math.max(config.signing_key_overlap, config.token_ttl), clock }, actor, meta),
    deleteSecret: (actor, path, meta) => deleteSecret({ secrets: secretAdmin, leases }, actor, path, meta),
    secretReader: new SecretReader({
      policy,
      mounts,
      audit,
      leaseConfig,
      metrics,
      secretLabel: config.metrics.secret_label,
      clock,
      onRevokeFailure: (mount, error) => logger.error({ mount, err: String(error) }, "could not destroy a dynamic credential of a failed request"),
    }),
    secretAdmin,
    leases,
    servers: new ServerService({
      store,
      audit,
      secretHasher,
      clock,
      onRevoked,
      onServerDisabled: (server) => events.publish({ type: "server.disabled", server }),
      onCredentialsRotated: (server) => events.publish({ type: "server.credentials_rotated", server }),
      onKeyAdded: (server, key) => events.publish({ type: "server.key_added", server, ...key }),
    }),
    serverDirectory: storeServerDirectory(store),
    readiness: [
      { name: "storage", check: () => store.ping() },
      // The broker serves nothing it cannot audit: ready only while the audit trail accepts a write.
      { name: "audit", check: cachedForOneSecond(clock, () => store.checkAuditWritable()) },
      ...mounts.all().map((backend) => ({ name: `backend:${backend.mount}`, check: () => backend.checkHealth() })),
    ],
    operators: new OperatorService({ store, audit, policy, clock }),
    events,
    eventStreams: new StreamSlots(config.events.max_streams_per_server),
    policy: deps.policy.source,
    rotateMasterKey: (actor, meta) => rotateMasterKey({ store, envelope, sealedMeta, audit, clock }, actor, meta),
    brokerStatus: () => brokerStatus({ version: BROKER_VERSION, storage: store.dialect, startedAt, mounts, policy, clock }),
    tokenRef,
    clock,
  };
}

/**
 * The audit probe commits a row: its outcome (success or failure) is reused for 1000 ms so that
 * frequent /readyz polling costs at most one write a second.
 */
function cachedForOneSecond(clock: () => number, check: () => Promise<void>): () => Promise<void> {
  let last: { at: number; outcome: Promise<void> } | undefined;
  return () => {
    const now = clock();
    if (last === undefined || now - last.at >= 1000) {
      const outcome = check();
      outcome.catch(() => undefined);
      last = { at: now, outcome };
    }
    return last.outcome;
  };
}
