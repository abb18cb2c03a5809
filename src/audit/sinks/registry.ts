/**
 * The checkpoint sink kinds: each kind's configuration schema (the `audit.checkpoint_sinks`
 * entries in the broker config) and its factory, in one exhaustive map.
 */
import { dirname, join } from "node:path";
import { z } from "zod";
import { BrokerError } from "../../errors.js";
import type { SignedCheckpoint } from "../checkpoint.js";
import { FileCheckpointSink } from "./file.js";
import type { CheckpointSink } from "./sink.js";
import { WebhookCheckpointSink } from "./webhook.js";

const fileSinkSchema = z
  .object({
    type: z.literal("file"),
    /** Default: `audit-checkpoints.jsonl` beside the SQLite database; required with PostgreSQL. */
    checkpoint_file: z.string().min(1).optional(),
  })
  .strict();

const webhookSinkSchema = z
  .object({
    type: z.literal("webhook"),
    url: z.url().refine((value) => /^https?:\/\//.test(value), "a webhook url is http:// or https://"),
    /** Per attempt, milliseconds. */
    timeout_ms: z.number().int().min(100).max(60_000).default(5_000),
    max_attempts: z.number().int().min(1).max(20).default(5),
    /** Sent with every POST, e.g. `authorization`; never logged. */
    headers: z.record(z.string(), z.string()).optional(),
  })
  .strict();

/** One `audit.checkpoint_sinks` entry. */
export const checkpointSinkSchema = z.discriminatedUnion("type", [fileSinkSchema, webhookSinkSchema]);
export type CheckpointSinkConfig = z.output<typeof checkpointSinkSchema>;
type SinkKind = CheckpointSinkConfig["type"];

export interface SinkContext {
  /** The broker's `database` setting: where a file sink's default file goes. */
  database: string;
  onDropped: (checkpoint: SignedCheckpoint, sink: string, reason: string) => void;
}

/** The default file of a file sink: beside the SQLite database. */
export function defaultCheckpointFile(database: string): string | undefined {
  return database.startsWith("sqlite:") && database !== "sqlite::memory:" ? join(dirname(database.slice("sqlite:".length)), "audit-checkpoints.jsonl") : undefined;
}

const factories: { [K in SinkKind]: (config: Extract<CheckpointSinkConfig, { type: K }>, context: SinkContext) => CheckpointSink } = {
  file(config, context) {
    const file = config.checkpoint_file ?? defaultCheckpointFile(context.database);
    if (!file) throw new BrokerError("invalid_request", "audit.checkpoint_sinks: a file sink needs checkpoint_file when the database is not a SQLite file");
    return new FileCheckpointSink(file);
  },
  webhook(config, context) {
    const sink: CheckpointSink = new WebhookCheckpointSink({
      url: config.url,
      timeoutMs: config.timeout_ms,
      maxAttempts: config.max_attempts,
      ...(config.headers && { headers: config.headers }),
      onDropped: (checkpoint, reason) => context.onDropped(checkpoint, sink.description, reason),
    });
    return sink;
  },
};

/** The sinks `configs` describe (default: one file sink beside a SQLite database; none for PostgreSQL). */
export function createCheckpointSinks(configs: readonly CheckpointSinkConfig[] | undefined, context: SinkContext): CheckpointSink[] {
  const chosen = configs ?? (defaultCheckpointFile(context.database) ? [{ type: "file" as const }] : []);
  return chosen.map((config) => (config.type === "file" ? factories.file(config, context) : factories.webhook(config, context)));
}
