/**
 * The process under load. Forked by bench/hot-path.ts with one TargetSpec as its argument, it
 * starts either a bare hono app answering a fixed JSON, or a real credbroker (startBroker, SQLite
 * file in a temp folder, synchronous=FULL, a policy granting the bench server its secrets, a
 * registered server and a broker token). It reports `ready` over IPC, answers `stats`,
 * `audit-counts` and `profile-start`/`profile-stop`, and on `stop` closes and exits normally.
 */
import { Hono } from "hono";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { initialiseStore } from "../src/wiring/bootstrap.js";
import { parseConfig } from "../src/config.js";
import { MasterKeyRing } from "../src/crypto/master-key.js";
import { createLogger } from "../src/logger.js";
import { startBroker, type RunningBroker } from "../src/main.js";
import { openSqliteStore } from "../src/store/sqlite.js";
import { startMinimal } from "./minimal-target.js";
import { BARE_RESPONSE, BENCH_SERVER_ID, type TargetReady, type TargetReply, type TargetRequest, type TargetSpec, type TargetStats } from "./protocol.js";
import { closeServer, committedAuditCounts, listen, processStats, type Running } from "./target-kit.js";

async function startBare(): Promise<Running> {
  const app = new Hono();
  app.get("/", (c) => c.json(BARE_RESPONSE));
  const { server, url } = await listen(app.fetch);
  return {
    ready: { type: "ready", url, pid: process.pid },
    stats: async () => processStats(),
    auditCounts: () => ({}),
    stop: () => closeServer(server),
  };
}

const COMMIT_BUCKETS = 2000;

/**
 * Wraps the store's appendAudit (the one call the audit writer makes per group commit) with a
 * clock, so the bench can say how long a batch takes to become durable and what share of the
 * window a commit was in flight. The writer calls it through the same store object, so patching
 * the instance is enough; the cost is two hrtime reads per commit.
 */
function timeAuditCommits(broker: RunningBroker): { snapshot(): NonNullable<TargetStats["auditCommitTime"]> } {
  const store = broker.store;
  const original = store.appendAudit.bind(store);
  const histogram = new Array<number>(COMMIT_BUCKETS).fill(0);
  let count = 0;
  let totalMicros = 0;
  let maxMicros = 0;
  const settle = (started: bigint) => {
    const micros = Number(process.hrtime.bigint() - started) / 1000;
    count += 1;
    totalMicros += micros;
    if (micros > maxMicros) maxMicros = micros;
    histogram[Math.min(COMMIT_BUCKETS - 1, Math.floor(micros / 100))]! += 1;
  };
  store.appendAudit = (...args: Parameters<typeof original>) => {
    const started = process.hrtime.bigint();
    // Timed until the batch is durable: on SQLite the fsync happens on the committer thread, so
    // this is how long each batch's requests wait for their audit records, not event-loop time.
    const result = original(...args);
    void result.then(
      () => settle(started),
      () => settle(started),
    );
    return result;
  };
  return { snapshot: () => ({ count, totalMicros: Math.round(totalMicros), maxMicros: Math.round(maxMicros), histogram100Micros: [...histogram] }) };
}

function benchPolicy(secretNames: string[]): string {
  return [
    "# Written by bench/target.ts: one server, granted exactly the bench secrets.",
    "servers:",
    `  ${BENCH_SERVER_ID}:`,
    "    description: benchmark client",
    "    allow:",
    `      - secrets: [${secretNames.map((name) => JSON.stringify(name)).join(", ")}]`,
    "        actions: [read]",
    "        max_ttl: 15m",
    "    deny:",
    '      - secrets: ["bench/admin/**"]',
    "",
  ].join("\n");
}

async function call<T>(url: string, path: string, init: { token?: string; body: unknown }): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(init.token && { authorization: `Bearer ${init.token}` }) },
    body: JSON.stringify(init.body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`bench setup: POST ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

type BrokerSpec = Extract<TargetSpec, { kind: "broker" }>;

/** A broker in a fresh temp folder; the folder goes away on stop, or at once if setup fails. */
async function startBenchBroker(spec: BrokerSpec): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "credbroker-bench-"));
  try {
    return await startBenchBrokerIn(dir, spec);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startBenchBrokerIn(dir: string, spec: BrokerSpec): Promise<Running> {
  const policiesDir = join(dir, "policies");
  mkdirSync(policiesDir);
  const secretNames = Array.from({ length: spec.secretCount }, (_, index) => `bench/secret-${index + 1}`);
  writeFileSync(join(policiesDir, "bench.yaml"), benchPolicy(secretNames));
  const databaseFile = join(dir, "broker.db");
  const config = parseConfig({
    listen: "127.0.0.1:0",
    database: `sqlite:${databaseFile}`,
    policies: policiesDir,
    master_key_file: join(dir, "master.key"),
    log_level: spec.logLevel,
    // Every route and the token endpoint are rate-limited per address; the bench hammers them on
    // purpose (the limiter still runs: its cost is part of what is measured).
    rate_limit: { per_second: 1_000_000, burst: 1_000_000, max_failures: 1_000_000, requests: { per_second: 1_000_000, burst: 1_000_000 } },
  });
  const ring = MasterKeyRing.create(join(dir, "master.key"));
  const setupStore = openSqliteStore({ file: databaseFile });
  const adminToken = await initialiseStore(setupStore, ring, "admin");
  await setupStore.close();

  const logger = spec.logLevel === "silent" ? createLogger("silent") : createLogger("info", pino.destination({ dest: "/dev/null", sync: false }));
  const broker: RunningBroker = await startBroker({ config, masterKey: ring, logger, watchPolicies: false });
  const commitTime = timeAuditCommits(broker);

  const { client_secret: clientSecret } = await call<{ client_secret: string }>(broker.url, "/v1/admin/servers", { token: adminToken, body: { id: BENCH_SERVER_ID } });
  // A key beside the secret, so the token scenarios can compare client_secret with private_key_jwt.
  const assertionKey = generateKeyPairSync("ed25519");
  await call(broker.url, `/v1/admin/servers/${BENCH_SERVER_ID}/rotate-credentials`, { token: adminToken, body: { public_jwk: assertionKey.publicKey.export({ format: "jwk" }), mode: "add" } });
  const assertionKeyPem = assertionKey.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const secrets: Record<string, string> = {};
  for (const name of secretNames) {
    const value = `ghp_${randomBytes(27).toString("base64url")}`;
    await call(broker.url, "/v1/admin/secrets", { token: adminToken, body: { path: name, value } });
    secrets[name] = value;
  }
  const { access_token: token } = await call<{ access_token: string }>(broker.url, "/v1/auth/token", {
    body: { grant_type: "client_credentials", client_id: BENCH_SERVER_ID, client_secret: clientSecret },
  });

  return {
    ready: { type: "ready", url: broker.url, pid: process.pid, broker: { token, clientId: BENCH_SERVER_ID, clientSecret, assertionKeyPem, secrets, database: databaseFile } },
    async stats() {
      const metric = await broker.deps.metrics.auditBatchSize.get();
      const value = (suffix: string) => metric.values.find((entry) => entry.metricName === `credbroker_audit_batch_size${suffix}`)?.value ?? 0;
      return { ...processStats(), auditBatches: { count: value("_count"), records: value("_sum") }, auditCommitTime: commitTime.snapshot() };
    },
    auditCounts: () => committedAuditCounts(databaseFile),
    async stop() {
      await broker.close();
      logger.flush();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function send(message: TargetReady | TargetReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

/** The sampling profiler, attached to this process through node:inspector. */
class Profiler {
  private session: Session | undefined;

  async start(samplingIntervalMicros: number): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.session.post("Profiler.enable");
    await this.session.post("Profiler.setSamplingInterval", { interval: samplingIntervalMicros });
    await this.session.post("Profiler.start");
  }

  async stop(file: string): Promise<void> {
    if (!this.session) throw new Error("the profiler was not started");
    const { profile } = await this.session.post("Profiler.stop");
    this.session.disconnect();
    this.session = undefined;
    writeFileSync(file, JSON.stringify(profile));
  }
}

async function main(): Promise<void> {
  if (!process.send) throw new Error("bench/target.ts is forked by bench/hot-path.ts (it talks over IPC)");
  const spec = JSON.parse(process.argv[2] ?? "") as TargetSpec;
  const running = spec.kind === "bare" ? await startBare() : spec.kind === "minimal" ? await startMinimal() : await startBenchBroker(spec);
  const profiler = new Profiler();
  process.on("message", (raw) => {
    const request = raw as TargetRequest;
    void (async () => {
      try {
        switch (request.op) {
          case "stats":
            await send({ id: request.id, op: "stats", stats: await running.stats() });
            break;
          case "audit-counts":
            await send({ id: request.id, op: "audit-counts", counts: running.auditCounts() });
            break;
          case "profile-start":
            await profiler.start(request.samplingIntervalMicros);
            await send({ id: request.id, op: "profile-start" });
            break;
          case "profile-stop":
            await profiler.stop(request.file);
            await send({ id: request.id, op: "profile-stop", file: request.file });
            break;
          case "stop":
            await running.stop();
            await send({ id: request.id, op: "stop" });
            process.disconnect();
            // A normal exit (not a signal), so that a --cpu-prof run also writes its profile.
            process.exit(0);
        }
      } catch (error) {
        await send({ id: request.id, op: "error", message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
  await send(running.ready);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
