/**
 * Where signed checkpoints go: outside the audit table, so whoever rewrites the database cannot
 * rewrite them too. One small interface; a sink that can give its checkpoints back (a file) also
 * implements CheckpointSource, which the start-up check and `GET /v1/audit/verify` read.
 */
import type { SignedCheckpoint } from "../checkpoint.js";

export interface CheckpointSink {
  /** Names the sink in logs and audit records (a file path, a webhook's origin): never a credential. */
  readonly description: string;
  /**
   * Hands one checkpoint over. A file sink resolves once the line is fsynced; a webhook sink
   * queues it and resolves at once (delivery never blocks the broker). Rejects when the
   * checkpoint could not be kept (the caller logs it; requests go on).
   */
  write(checkpoint: SignedCheckpoint): Promise<void>;
  /** Finishes pending deliveries (bounded in time) and releases resources. Idempotent. */
  close(): Promise<void>;
}

/** A sink whose checkpoints can be read back. */
export interface CheckpointSource {
  /**
   * Every checkpoint kept, in the order written (oldest first), and what could not be read (a
   * line that is not a checkpoint). A missing file is no checkpoints, not an error.
   */
  readAll(): Promise<{ checkpoints: SignedCheckpoint[]; problems: string[] }>;
}

export function isCheckpointSource(sink: CheckpointSink): sink is CheckpointSink & CheckpointSource {
  return "readAll" in sink && typeof sink.readAll === "function";
}
