/**
 * Audit integrity wiring: the keyed chain (its key handed to the store, the format marker set),
 * the checkpoint key and sinks, the start-up check against the newest checkpoint, and the
 * checkpoint schedule. Called by the composition root before anything can write an audit record.
 */
import { ChainKey } from "../audit/chain.js";
import { establishChainFormat, readChainFormat, type ChainFormat } from "../audit/chain-format.js";
import { CheckpointSigner, type CheckpointPublicKeys, type SignedCheckpoint } from "../audit/checkpoint.js";
import { startCheckpoints, type RunningCheckpoints } from "../audit/checkpoints.js";
import { auditEntry } from "../audit/entry.js";
import { createCheckpointSinks } from "../audit/sinks/registry.js";
import { isCheckpointSource, type CheckpointSink } from "../audit/sinks/sink.js";
import { checkpointDisagreement } from "../audit/start-check.js";
import type { AuditWriter } from "../audit/writer.js";
import type { BrokerConfig } from "../config.js";
import type { SealedMeta } from "../crypto/sealed-meta.js";
import { BrokerError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Store } from "../store/store.js";

/** What verify and archive need to know about the chain and its checkpoints. */
export interface AuditIntegrity {
  key: ChainKey;
  signer: CheckpointSigner;
  publicKeys: CheckpointPublicKeys;
  /** The format as stored now (re-read: an archive moves the anchor), or the problem with it. */
  format(): Promise<ChainFormat | { problem: string }>;
  /** Every checkpoint the broker's readable sinks hold, and lines that could not be read. */
  storedCheckpoints(): Promise<{ checkpoints: SignedCheckpoint[]; problems: string[] }>;
}

/** Keys the store's chain and sets the format marker; the first step after the store opens. */
export async function keyAuditChain(store: Store, sealedMeta: SealedMeta): Promise<{ key: ChainKey; format: ChainFormat }> {
  const key = ChainKey.derive(await sealedMeta.getOrCreate("audit_hmac_key", 32));
  store.useAuditChainKey(key);
  return { key, format: await establishChainFormat(store, key) };
}

export interface IntegrityDeps {
  config: Pick<BrokerConfig, "audit" | "database">;
  store: Store;
  sealedMeta: SealedMeta;
  logger: Logger;
}

/** The integrity parts that need no audit writer yet; runs the start-up check (throws audit_tampered). */
export async function prepareAuditIntegrity(deps: IntegrityDeps, acceptRollback: boolean): Promise<{ integrity: AuditIntegrity; sinks: CheckpointSink[]; rollback: string | undefined }> {
  const { store, logger, config } = deps;
  const { key, format } = await keyAuditChain(store, deps.sealedMeta);
  const signer = new CheckpointSigner(await deps.sealedMeta.getOrCreate("audit_checkpoint_key", 32));
  const publicKeys: CheckpointPublicKeys = new Map([[signer.keyId, signer.publicKey]]);
  const sinks = createCheckpointSinks(config.audit.checkpoint_sinks, {
    database: config.database,
    onDropped: (checkpoint, sink, reason) => logger.error({ sink, seq: checkpoint.seq, reason }, "audit checkpoint not delivered"),
  });
  if (sinks.length === 0) logger.warn("no audit checkpoint sink (audit.checkpoint_sinks): a truncated or rolled-back audit log cannot be detected");
  const rollback = await checkpointDisagreement(store, format, sinks, publicKeys);
  if (rollback && !acceptRollback) {
    throw new BrokerError("audit_tampered", `refusing to start: ${rollback}. Start with --accept-audit-rollback to continue from the database as it is; that is recorded in the audit trail`);
  }
  const integrity: AuditIntegrity = {
    key,
    signer,
    publicKeys,
    async format() {
      const reading = await readChainFormat(store, key);
      return reading.ok ? reading.format : { problem: reading.message };
    },
    async storedCheckpoints() {
      const checkpoints: SignedCheckpoint[] = [];
      const problems: string[] = [];
      for (const sink of sinks) {
        if (!isCheckpointSource(sink)) continue;
        const read = await sink.readAll();
        checkpoints.push(...read.checkpoints);
        problems.push(...read.problems);
      }
      return { checkpoints, problems };
    },
  };
  return { integrity, sinks, rollback };
}

/**
 * Starts the checkpoint schedule. An accepted rollback is recorded (`audit.rollback_accepted`,
 * with what was found) and checkpointed at once, so the next start compares with the chain as
 * it now continues.
 */
export async function startAuditCheckpoints(
  deps: { config: Pick<BrokerConfig, "audit">; audit: AuditWriter; logger: Logger; clock: () => number },
  prepared: { integrity: AuditIntegrity; sinks: CheckpointSink[]; rollback: string | undefined },
): Promise<RunningCheckpoints> {
  const { audit, logger, clock, config } = deps;
  const checkpoints = startCheckpoints(
    {
      audit,
      signer: prepared.integrity.signer,
      sinks: prepared.sinks,
      clock,
      onFailure: (what, error) => logger.error({ sink: what, err: String(error) }, "audit checkpoint not written"),
    },
    { everyRecords: config.audit.checkpoint_every, intervalMs: config.audit.checkpoint_interval * 1000 },
  );
  if (prepared.rollback) {
    logger.warn({ reason: prepared.rollback }, "starting behind an audit checkpoint (--accept-audit-rollback)");
    await audit.record(
      auditEntry({ id: "system", kind: "system" }, { requestId: null, sourceIp: null }, { action: "audit.rollback_accepted", resource: "audit", outcome: "allowed", reason: prepared.rollback }, clock()),
    );
    await checkpoints.checkpoint("rollback accepted");
  }
  return checkpoints;
}
