/**
 * Policy wiring: holds the policy folder's current set, refuses to start on an invalid folder, and
 * turns every later reload (SIGHUP, the admin API, the folder watcher) into a metric, a log line
 * and an audit record, so a rejected edit shows wherever operators look while the last good
 * policy stays in force.
 */
import { auditEntry } from "../audit/entry.js";
import type { AuditWriter } from "../audit/writer.js";
import type { BrokerConfig } from "../config.js";
import { BrokerError } from "../errors.js";
import type { PolicySource } from "../http/deps.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { PolicyHolder, type ReloadOutcome } from "../policy/watch.js";
import type { Store } from "../store/store.js";

export interface PolicyWiringDeps {
  config: Pick<BrokerConfig, "policies">;
  /** Closed when the initial load fails, since the broker will not start. */
  store: Pick<Store, "close">;
  audit: Pick<AuditWriter, "record">;
  metrics: Pick<Metrics, "policyReloads">;
  logger: Pick<Logger, "info" | "warn" | "error">;
  clock: () => number;
}

export interface PolicyWiring {
  holder: PolicyHolder;
  /**
   * Reloads the folder, or takes the `outcome` of a reload that already happened (the watcher's),
   * and counts, logs and audits it. Auditing is best effort: a failure is logged, not thrown.
   */
  reload(outcome?: ReloadOutcome): ReloadOutcome;
  /** Starts watching the folder, each notable reload going through {@link reload}; returns the stop function. */
  watch(): () => void;
  /** What the HTTP layer sees: the current set, and a reload summarised as text. */
  source: PolicySource;
}

/**
 * Loads the policy folder `config.policies` once.
 *
 * @throws BrokerError `invalid_request` listing every problem when the folder does not load; the
 * store is closed first.
 */
export async function loadPolicies(deps: PolicyWiringDeps): Promise<PolicyWiring> {
  const { config, audit, metrics, logger, clock } = deps;
  const holder = new PolicyHolder({ dir: config.policies });
  const initial = holder.reload();
  if (!initial.ok) {
    await deps.store.close();
    throw new BrokerError("invalid_request", `policies in ${config.policies} are invalid:\n  ${describeProblems(initial).join("\n  ")}`);
  }
  const reload = (outcome: ReloadOutcome = holder.reload()): ReloadOutcome => {
    metrics.policyReloads.inc({ outcome: outcome.ok ? "ok" : "invalid" });
    const reason = outcome.ok ? `${outcome.files.length} file(s) loaded` : `kept last good policy: ${describeProblems(outcome).slice(0, 5).join("; ")}`;
    if (outcome.ok) logger.info({ files: outcome.files }, "policies reloaded");
    else logger.warn({ problems: describeProblems(outcome) }, "policy change rejected; last good policy kept");
    audit
      .record(auditEntry({ id: "system", kind: "system" }, { requestId: null, sourceIp: null }, { action: "policy.reload", resource: config.policies, outcome: outcome.ok ? "allowed" : "error", reason }, clock()))
      .catch((error: unknown) => logger.error({ err: String(error) }, "could not audit policy reload"));
    return outcome;
  };
  return {
    holder,
    reload,
    watch: () => holder.watch((outcome) => reload(outcome)),
    source: {
      current: () => holder.current(),
      reload: () => {
        const outcome = reload();
        return { ok: outcome.ok, problems: describeProblems(outcome) };
      },
    },
  };
}

/** Each problem as `file:line:column: message`; none for a successful reload. */
function describeProblems(outcome: ReloadOutcome): string[] {
  return outcome.ok ? [] : outcome.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`);
}
