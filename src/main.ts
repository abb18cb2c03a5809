/**
 * Composition root: config → store → keys → policy → backends → services → HTTP. The only place
 * where concrete implementations are chosen and wired together.
 */
import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { AuditQueries } from "./audit/query.js";
import { auditEntry } from "./audit/entry.js";
import { tokenReference } from "./audit/record.js";
import { AuditWriter } from "./audit/writer.js";
import { ClientCredentials } from "./auth/client-credentials.js";
import { RateLimiter } from "./auth/rate-limit.js";
import { SigningKeys } from "./auth/signing-keys.js";
import { TokenService } from "./auth/tokens.js";
import { LocalBackend } from "./backends/local.js";
import { createMountTable } from "./backends/registry.js";
import type { BrokerConfig } from "./config.js";
import { Envelope } from "./crypto/envelope.js";
import { rotateMasterKey } from "./crypto/key-rotation.js";
import type { MasterKeyRing } from "./crypto/master-key.js";
import { SealedMeta } from "./crypto/sealed-meta.js";
import { BrokerError } from "./errors.js";
import { EventBus } from "./events/bus.js";
import { startPgRelay } from "./events/pg-relay.js";
import { createApp } from "./http/app.js";
import type { AppDeps } from "./http/deps.js";
import { externalLeases } from "./leases/external.js";
import { LeaseService } from "./leases/service.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { OperatorService } from "./operators/service.js";
import { PolicyHolder, type ReloadOutcome } from "./policy/watch.js";
import { SecretAdmin } from "./secrets/admin.js";
import { SecretReader } from "./secrets/read.js";
import { ServerService } from "./servers/service.js";
import { openStore } from "./store/open.js";
import { RowCache } from "./store/row-cache.js";
import type { Store } from "./store/store.js";
import type { Lease } from "./domain.js";

export interface BrokerOptions {
  config: BrokerConfig;
  masterKey: MasterKeyRing;
  logger?: Logger;
  /** Injected for tests with a frozen clock; Date.now otherwise. */
  clock?: () => number;
  /** Watch the policy folder for edits (default true). */
  watchPolicies?: boolean;
}

export interface RunningBroker {
  url: string;
  deps: AppDeps;
  store: Store;
  policy: PolicyHolder;
  /** Reloads policies (SIGHUP) and audits the outcome. */
  reloadPolicies(): ReloadOutcome;
  close(): Promise<void>;
}

function describeProblems(outcome: ReloadOutcome): string[] {
  return outcome.ok ? [] : outcome.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { config } = options;
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? createLogger(config.log_level);
  const metrics = createMetrics();
  const store = await openStore(config.database);
  const envelope = new Envelope(options.masterKey);
  const sealedMeta = new SealedMeta(store, envelope);
  const auditKey = await sealedMeta.getOrCreate("audit_hmac_key", 32);
  // Every request of a token audits the same reference: compute each one once.
  const tokenRefs = new RowCache<string>(50_000);
  const tokenRef = (value: string) => tokenRefs.get(value, () => tokenReference(auditKey, value));
  const audit = new AuditWriter(store, metrics, {
    onCommitFailure: (error, batchSize) => logger.error({ err: String(error), batch: batchSize }, "audit commit failed; requests refused"),
  });

  const policy = new PolicyHolder({ dir: config.policies });
  const initial = policy.reload();
  if (!initial.ok) {
    await store.close();
    throw new BrokerError("invalid_request", `policies in ${config.policies} are invalid:\n  ${describeProblems(initial).join("\n  ")}`);
  }
  const reloadPolicies = (outcome: ReloadOutcome = policy.reload()): ReloadOutcome => {
    metrics.policyReloads.inc({ outcome: outcome.ok ? "ok" : "invalid" });
    const reason = outcome.ok ? `${outcome.files.length} file(s) loaded` : `kept last good policy: ${describeProblems(outcome).slice(0, 5).join("; ")}`;
    if (outcome.ok) logger.info({ files: outcome.files }, "policies reloaded");
    else logger.warn({ problems: describeProblems(outcome) }, "policy change rejected; last good policy kept");
    audit
      .record(auditEntry({ id: "system", kind: "system" }, { requestId: null, sourceIp: null }, { action: "policy.reload", resource: config.policies, outcome: outcome.ok ? "allowed" : "error", reason }, clock()))
      .catch((error: unknown) => logger.error({ err: String(error) }, "could not audit policy reload"));
    return outcome;
  };

  const signingKeys = new SigningKeys(store, envelope, clock);
  await signingKeys.load();
  const identity = { issuer: config.public_url ?? "" };
  const tokens = new TokenService(signingKeys, {
    get issuer() {
      return identity.issuer;
    },
    get audience() {
      return identity.issuer;
    },
    ttlSeconds: config.token_ttl,
    clock,
  });
  const limiter = new RateLimiter({
    ratePerSecond: config.rate_limit.per_second,
    burst: config.rate_limit.burst,
    maxFailures: config.rate_limit.max_failures,
    failureWindowSeconds: config.rate_limit.failure_window,
    lockoutSeconds: config.rate_limit.lockout,
    clock,
  });

  const local = new LocalBackend(store, envelope, clock);
  const mounts = await createMountTable(config.mounts, { local, logger, metrics, clock });
  const leaseConfig = { defaultTtlSeconds: config.lease.default_ttl, maxTtlSeconds: config.lease.max_ttl };
  const events = new EventBus(clock);
  // A value changed through another broker must not be served from this one's remote-mount cache.
  events.subscribe((event) => {
    if (event.type === "secret.version" || event.type === "secret.deleted") mounts.invalidate(event.secret);
  });
  const relay = store.dialect === "postgres" ? await startPgRelay(config.database, (event) => events.deliver(event), logger) : undefined;
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

  const deps: AppDeps = {
    logger,
    metrics,
    maxBodyBytes: config.max_body_bytes,
    trustProxy: config.trust_proxy,
    store,
    audit,
    auditQueries: new AuditQueries(store),
    clientCredentials: new ClientCredentials({
      store,
      tokens,
      limiter,
      audit,
      metrics,
      tokenRef,
      audiences: () => [identity.issuer, `${identity.issuer}/v1/auth/token`],
      clock,
    }),
    tokens,
    signingKeys,
    signingKeyOverlapSeconds: Math.max(config.signing_key_overlap, config.token_ttl),
    secretReader: new SecretReader({
      policy,
      mounts,
      audit,
      leaseConfig,
      metrics,
      clock,
      onRevokeFailure: (mount, error) => logger.error({ mount, err: String(error) }, "could not destroy a dynamic credential of a failed request"),
    }),
    secretAdmin: new SecretAdmin({
      store,
      mounts,
      audit,
      clock,
      onChanged: (secret, version) => events.publish(version === null ? { type: "secret.deleted", secret } : { type: "secret.version", secret, version }),
    }),
    leases: new LeaseService({ store, audit, policy, leaseConfig, clock, external, onRevoked }),
    servers: new ServerService({ store, audit, clock, onRevoked, onServerDisabled: (server) => events.publish({ type: "server.disabled", server }) }),
    operators: new OperatorService({ store, audit, policy, clock }),
    mounts,
    events,
    policy: {
      current: () => policy.current(),
      reload: () => {
        const outcome = reloadPolicies();
        return { ok: outcome.ok, problems: describeProblems(outcome) };
      },
    },
    rotateMasterKey: (onProgress) => rotateMasterKey({ store, envelope, sealedMeta }, onProgress),
    tokenRef,
    clock,
  };

  const app = createApp(deps);
  const [host, port] = splitListen(config.listen);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(started));
    started.once("error", reject);
  });
  // Watch only once serving: a start that fails part-way leaves no watcher behind.
  const stopWatching = options.watchPolicies === false ? () => {} : policy.watch((outcome) => reloadPolicies(outcome));
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  identity.issuer = config.public_url ?? url;
  logger.info({ url, database: config.database.startsWith("sqlite:") ? config.database : "postgres" }, "credbroker listening");

  return {
    url,
    deps,
    store,
    policy,
    reloadPolicies: () => reloadPolicies(),
    async close() {
      stopWatching();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await audit.drain();
      await relay?.close();
      await mounts.close();
      await store.close();
    },
  };
}

function splitListen(listen: string): [string, number] {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return [host, Number(listen.slice(colon + 1))];
}
