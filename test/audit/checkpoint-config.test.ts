/** The `audit:` configuration: defaults, strict keys, CREDBROKER_AUDIT__* overrides, and where a file sink writes by default. */
import { describe, expect, it } from "vitest";
import { createCheckpointSinks } from "../../src/audit/sinks/registry.js";
import { loadConfig, parseConfig } from "../../src/config.js";

const noDrops = { onDropped: () => undefined };

describe("audit checkpoint configuration", () => {
  it("defaults to a checkpoint every 1000 records and 5 minutes, to a file beside the SQLite database", () => {
    const config = parseConfig({ database: "sqlite:/var/lib/credbroker/broker.db" });
    expect(config.audit).toEqual({ checkpoint_every: 1000, checkpoint_interval: 300 });
    expect(createCheckpointSinks(config.audit.checkpoint_sinks, { database: config.database, ...noDrops }).map((sink) => sink.description)).toEqual([
      "file /var/lib/credbroker/audit-checkpoints.jsonl",
    ]);
  });

  it("has no default sink with PostgreSQL, and refuses a file sink there without checkpoint_file", () => {
    expect(createCheckpointSinks(undefined, { database: "postgres://db/credbroker", ...noDrops })).toEqual([]);
    expect(() => parseConfig({ database: "postgres://db/credbroker", audit: { checkpoint_sinks: [{ type: "file" }] } })).toThrow(/a file sink needs checkpoint_file when the database is PostgreSQL/);
  });

  it("rejects unknown keys and bad values, every problem at once", () => {
    const attempt = () => parseConfig({ audit: { checkpoint_every: 0, checkpoint_evry: 5, checkpoint_sinks: [{ type: "webhook", url: "ftp://x" }] } });
    expect(attempt).toThrow(/audit\.checkpoint_every: Too small/);
    expect(attempt).toThrow(/audit\.checkpoint_sinks\.0\.url: a webhook url is http:\/\/ or https:\/\//);
    expect(attempt).toThrow(/audit: Unrecognized key: "checkpoint_evry"/);
  });

  it("takes CREDBROKER_AUDIT__* from the environment like every other key", () => {
    const config = loadConfig(undefined, {
      CREDBROKER_AUDIT__CHECKPOINT_EVERY: "50",
      CREDBROKER_AUDIT__CHECKPOINT_INTERVAL: "30s",
      CREDBROKER_AUDIT__CHECKPOINT_SINKS: "[{type: webhook, url: 'https://audit.example/checkpoints', max_attempts: 3}]",
    });
    expect(config.audit).toEqual({
      checkpoint_every: 50,
      checkpoint_interval: 30,
      checkpoint_sinks: [{ type: "webhook", url: "https://audit.example/checkpoints", max_attempts: 3, timeout_ms: 5000 }],
    });
    expect(createCheckpointSinks(config.audit.checkpoint_sinks, { database: config.database, ...noDrops }).map((sink) => sink.description)).toEqual(["webhook https://audit.example"]);
  });
});
