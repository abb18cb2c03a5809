/**
 * Builds real backends for tests: the local encrypted store on a temporary SQLite file, and
 * remote mounts parsed through the real config schema and built by the real registry, so the
 * defaults tested are the defaults shipped. Logs go to the suite's capture file, which the global
 * teardown scans for leaked secret values.
 */
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { LocalBackend } from "../../src/backends/local.js";
import type { MountTable } from "../../src/backends/mounts.js";
import { createMountTable } from "../../src/backends/registry.js";
import { parseConfig, type BrokerConfigInput } from "../../src/config.js";
import { Envelope } from "../../src/crypto/envelope.js";
import { MasterKeyRing } from "../../src/crypto/master-key.js";
import { REDACTED_PATHS } from "../../src/logger.js";
import { openTempStore } from "../helpers/temp-store.js";
import { captureFile } from "../helpers/log-capture.js";

export { SECRET_MARKER, testSecret } from "../helpers/broker.js";

export type MountInput = NonNullable<BrokerConfigInput["mounts"]>[number];

export const testLogger = () =>
  pino({ level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, pino.destination({ dest: captureFile(), sync: true, append: true }));

export interface OpenLocal {
  local: LocalBackend;
  close(): Promise<void>;
}

/** The local encrypted store as src/main.ts builds it: SQLite file, master key ring, envelope. */
export function openLocal(clock: () => number = Date.now): OpenLocal {
  const { dir, store, close } = openTempStore("backend");
  const envelope = new Envelope(MasterKeyRing.create(join(dir, "master.key")));
  return { local: new LocalBackend(store, envelope, clock), close };
}

export interface TestMounts {
  table: MountTable;
  registry: Registry;
  local: LocalBackend;
  close(): Promise<void>;
}

/** A mount table built by createMountTable from config entries, with credentials from `env`. */
export async function testMounts(
  mounts: MountInput[],
  options: { env?: NodeJS.ProcessEnv; clock?: () => number; files?: Record<string, string>; logger?: ReturnType<typeof testLogger> } = {},
): Promise<TestMounts> {
  const clock = options.clock ?? Date.now;
  const config = parseConfig({ mounts });
  const opened = openLocal(clock);
  const registry = new Registry();
  const files = options.files ?? {};
  const table = await createMountTable(config.mounts, {
    local: opened.local,
    logger: options.logger ?? testLogger(),
    metrics: { registry },
    clock,
    credentials: {
      env: options.env ?? {},
      readFile: (path) => {
        const text = files[path];
        if (text === undefined) throw new Error(`ENOENT: ${path}`);
        return text;
      },
    },
  });
  return {
    table,
    registry,
    local: opened.local,
    async close() {
      await table.close();
      await opened.close();
    },
  };
}

/** A value's bytes as a JSON object: the contract compares parsed JSON (Vault returns its own key order). */
export const json = (bytes: Buffer | undefined): unknown => (bytes === undefined ? undefined : JSON.parse(bytes.toString("utf8")));

/** Awaits a call expected to reject and returns the error (fails the test when it resolves). */
export async function rejection(call: Promise<unknown>): Promise<Error & { code?: string; status?: number; retryAfterSeconds?: number }> {
  try {
    await call;
  } catch (error) {
    return error as Error & { code?: string; status?: number };
  }
  throw new Error("expected the call to fail, it succeeded");
}

/** A metric's value for the given labels, read from the registry as /metrics would. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const base = name.replace(/_(count|sum|bucket)$/, "");
  const metric = registry.getSingleMetric(base);
  if (!metric) return 0;
  const data = await metric.get();
  return data.values
    .filter((value) => base === name || (value as { metricName?: string }).metricName === name)
    .filter((value) => Object.entries(labels).every(([key, wanted]) => String((value.labels as Record<string, unknown>)[key]) === wanted))
    .reduce((sum, value) => sum + value.value, 0);
}

/** A logger that keeps its lines in memory (and still writes them to the capture file), for assertions on what was logged. */
export function memoryLogger(): { logger: ReturnType<typeof testLogger>; lines: string[] } {
  const lines: string[] = [];
  const file = pino.destination({ dest: captureFile(), sync: true, append: true });
  const logger = pino(
    { level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } },
    {
      write(line: string) {
        lines.push(line);
        file.write(line);
      },
    },
  );
  return { logger, lines };
}

/** One clock for the broker and a test server, moved by hand. */
export function sharedClock(start = Date.parse("2030-01-01T00:00:00Z")) {
  let now = start;
  return { now: () => now, advance: (seconds: number) => (now += seconds * 1000) };
}
