/**
 * Composition root: config → store → keys → policy → backends → services → HTTP. The only place
 * where concrete implementations are chosen and wired together; each step's wiring lives in
 * src/wiring/, and this file keeps the order of start and shutdown in one view.
 */
import { AuditWriter } from "./audit/writer.js";
import { LocalBackend } from "./backends/local.js";
import { createMountTable } from "./backends/registry.js";
import type { BrokerConfig } from "./config.js";
import { Envelope } from "./crypto/envelope.js";
import type { MasterKeyRing } from "./crypto/master-key.js";
import { SealedMeta } from "./crypto/sealed-meta.js";
import type { AppDeps } from "./http/deps.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import type { PolicyHolder, ReloadOutcome } from "./policy/watch.js";
import { openStore } from "./store/open.js";
import type { Store } from "./store/store.js";
import { createAuth } from "./wiring/auth.js";
import { createEvents } from "./wiring/events.js";
import { createJobs } from "./wiring/jobs.js";
import type { JobRunner } from "./jobs/runner.js";
import { serveHttp } from "./wiring/listen.js";
import { loadPolicies } from "./wiring/policy.js";
import { createAppDeps } from "./wiring/services.js";
import { ScrapeToken } from "./http/scrape-token.js";
import type { RunningCheckpoints } from "./audit/checkpoints.js";
import { prepareAuditIntegrity, startAuditCheckpoints } from "./wiring/audit-integrity.js";

export interface BrokerOptions {
  config: BrokerConfig;
  masterKey: MasterKeyRing;
  logger?: Logger;
  /** Injected for tests with a frozen clock; Date.now otherwise. */
  clock?: () => number;
  /** Watch the policy folder for edits (default true). */
  watchPolicies?: boolean;
  /**
   * Start even though the database is behind (or differs from) the newest audit checkpoint; the
   * start is recorded as `audit.rollback_accepted` (default false: such a start is refused).
   */
  acceptAuditRollback?: boolean;
}

export interface RunningBroker {
  url: string;
  deps: AppDeps;
  store: Store;
  policy: PolicyHolder;
  /** The background jobs' runner (started; stopped by close). */
  jobs: JobRunner;
  /** Reloads policies (SIGHUP) and audits the outcome. */
  reloadPolicies(): ReloadOutcome;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { config } = options;
  // First: a bad token file stops the start before anything is opened.
  const scrapeToken = config.metrics.token_file === undefined ? undefined : ScrapeToken.fromFile(config.metrics.token_file);
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? createLogger(config.log_level);
  const metrics = createMetrics();
  // What a start that fails part-way (a busy port, a backend misconfigured) must close again, so
  // the process can report the failure and exit instead of hanging on an open database or thread.
  const opened: Array<() => Promise<void>> = [];
  try {
    return await startOpened(options, { clock, logger, metrics, scrapeToken }, opened);
  } catch (error) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw error;
  }
}

async function startOpened(
  options: BrokerOptions,
  { clock, logger, metrics, scrapeToken }: { clock: () => number; logger: Logger; metrics: Metrics; scrapeToken: ScrapeToken | undefined },
  opened: Array<() => Promise<void>>,
): Promise<RunningBroker> {
  const { config } = options;
  const store = await openStore(config.database);
  opened.push(() => store.close());
  const envelope = new Envelope(options.masterKey);
  const sealedMeta = new SealedMeta(store, envelope);
  // Before any audit record: the chain's key, its format marker, the check against the newest checkpoint.
  const prepared = await prepareAuditIntegrity({ config, store, sealedMeta, logger }, options.acceptAuditRollback ?? false);
  const auditKey = await sealedMeta.getOrCreate("audit_hmac_key", 32);
  let checkpoints: RunningCheckpoints | undefined;
  const audit = new AuditWriter(store, metrics, {
    onCommitFailure: (error, batchSize) => logger.error({ err: String(error), batch: batchSize }, "audit commit failed; requests refused"),
    onCommitted: (count) => checkpoints?.noteCommitted(count),
  });
  checkpoints = await startAuditCheckpoints({ config, audit, logger, clock }, prepared);
  const runningCheckpoints = checkpoints;
  opened.push(() => runningCheckpoints.stop());
  const policy = await loadPolicies({ config, store, audit, metrics, logger, clock });
  const clientSecretKey = await sealedMeta.getOrCreate("client_secret_hmac_key", 32);
  const auth = await createAuth({ config, store, logger, envelope, auditKey, clientSecretKey, clock });
  const mounts = await createMountTable(config.mounts, { local: new LocalBackend(store, envelope, clock), logger, metrics, clock });
  opened.push(() => mounts.close());
  const events = await createEvents({ config, store, mounts, logger, clock });
  opened.push(() => events.close());
  // A rotation on another broker sharing the store: sign and verify with its keys at once.
  events.events.subscribe((event) => {
    if (event.type !== "signing_keys.changed") return;
    auth.signingKeys.refresh().catch((error: unknown) => logger.error({ err: String(error) }, "could not reload signing keys"));
  });
  const deps = createAppDeps({ config, logger, metrics, store, envelope, sealedMeta, audit, auditIntegrity: prepared.integrity, checkpoints: runningCheckpoints, auth, policy, mounts, events, scrapeToken, clock });
  opened.push(() => audit.drain());
  opened.push(() => deps.refusals.close());

  const http = await serveHttp(deps, config.listen);
  // Watch only once serving: a start that fails part-way leaves no watcher behind.
  const stopWatching = options.watchPolicies === false ? () => {} : policy.watch();
  const jobs = createJobs({ config, store, logger, metrics, clock });
  jobs.start();
  auth.identity.issuer = config.public_url ?? http.url;
  logger.info({ url: http.url, database: config.database.startsWith("sqlite:") ? config.database : "postgres" }, "credbroker listening");

  return {
    url: http.url,
    deps,
    store,
    policy: policy.holder,
    jobs,
    reloadPolicies: () => policy.reload(),
    async close() {
      stopWatching();
      // Before the store closes: a running job finishes its step and hands its lock back.
      await jobs.stop();
      await http.close();
      // The counts of refusals still in their window, before the audit trail closes.
      await deps.refusals.close();
      await audit.drain();
      // After the last request's record: the clean-shutdown checkpoint covers everything written.
      await runningCheckpoints.stop();
      await events.close();
      await mounts.close();
      await store.close();
    },
  };
}
