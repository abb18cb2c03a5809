/**
 * The start-up check against the newest checkpoint: a broker whose database is behind what it
 * signed (records removed from the tail, a database file restored from an older copy) or whose
 * record at that seq differs must not continue the chain from there as if nothing happened.
 */
import type { Store } from "../store/store.js";
import type { ChainFormat } from "./chain-format.js";
import { checkpointSignatureValid, type CheckpointPublicKeys, type SignedCheckpoint } from "./checkpoint.js";
import { isCheckpointSource, type CheckpointSink } from "./sinks/sink.js";

/** Undefined when the database agrees with every sink's newest checkpoint; else why not. */
export async function checkpointDisagreement(
  store: Pick<Store, "queryAudit">,
  format: Pick<ChainFormat, "anchor">,
  sinks: readonly CheckpointSink[],
  publicKeys: CheckpointPublicKeys,
): Promise<string | undefined> {
  for (const sink of sinks) {
    if (!isCheckpointSource(sink)) continue;
    const { checkpoints } = await sink.readAll();
    // Forged lines are verify's to report; the newest genuine one is what the broker signed last.
    const newest = checkpoints.filter((checkpoint) => checkpointSignatureValid(checkpoint, publicKeys)).at(-1);
    if (!newest) continue;
    const problem = await disagreement(store, format, newest);
    if (problem) return `${problem} (newest checkpoint in ${sink.description})`;
  }
  return undefined;
}

async function disagreement(store: Pick<Store, "queryAudit">, format: Pick<ChainFormat, "anchor">, checkpoint: SignedCheckpoint): Promise<string | undefined> {
  const anchor = format.anchor;
  if (anchor && checkpoint.seq <= anchor.seq) {
    return checkpoint.seq === anchor.seq && checkpoint.hash !== anchor.hash ? `the archive anchor at seq ${anchor.seq} is not the record the checkpoint of ${checkpoint.time} signed` : undefined;
  }
  const [record] = await store.queryAudit({ afterSeq: checkpoint.seq - 1, limit: 1 });
  if (record?.seq === checkpoint.seq) {
    return record.hash === checkpoint.hash ? undefined : `audit record ${checkpoint.seq} is not the record the checkpoint of ${checkpoint.time} signed: the database was altered or rolled back`;
  }
  if (record) return `audit record ${checkpoint.seq}, which the checkpoint of ${checkpoint.time} signed, is missing from the database`;
  const [head] = await store.queryAudit({ order: "desc", limit: 1 });
  return `the audit log ends at seq ${head?.seq ?? 0} but the checkpoint of ${checkpoint.time} signed seq ${checkpoint.seq}: the newest records were removed or the database was rolled back`;
}
