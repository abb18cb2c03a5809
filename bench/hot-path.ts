/**
 * `npm run bench`: the hot-path benchmark. See docs/benchmarks.md for what it measures and why.
 *
 * Each scenario forks a fresh target process (bench/target.ts: a bare hono app, the calibration
 * of bench/minimal-target.ts, or a real broker on a SQLite file with synchronous=FULL) and loads
 * it from this process with autocannon over loopback: a warm-up, then the measured window, same
 * settings for every target.
 * Every response is checked (status and body); every 2xx read must have its audit record
 * committed. Prints a table and writes bench/results/hot-path-<timestamp>.json (git-ignored).
 *
 *   npm run bench                                  # all scenarios, 50 connections, 3 s + 10 s each
 *   npm run bench -- --only bare,secret-get        # a subset
 *   npm run bench -- --profile --only secret-get   # also profile the broker in the measured window
 *   npm run bench -- --paired 3                    # (bare, calibration, read) x 3, bare: median ratios
 *   npm run bench -- --compare HEAD [--paired 4]   # reads from HEAD's checkout vs this tree, A B B A ...
 */
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isClean, runLoad, type LoadFigures, type LoadSpec } from "./load.js";
import { machineFacts, type MachineFacts } from "./machine.js";
import { BARE_RESPONSE, type AuditCounts, type TargetReady, type TargetSpec, type TargetStats } from "./protocol.js";
import { checkoutRef, compareRounds, roundOrder, type CompareFigures, type CompareSide, type CompareSummary, type RefCheckout } from "./compare.js";
import { applyPairedRatios, DISTURBED_BARE_FACTOR, DISTURBED_BARE_SHARE, lowerMedian, machineVerdict, type Targets } from "./paired.js";
import { REPO_ROOT, TargetProcess } from "./target-process.js";

/** The issue's target for the hot path at 50 connections. */
const TARGETS: Targets = { ratioToBare: 0.3, p99Ms: 10 };
const BATCH_SIZE = 5;

type ScenarioId = "bare" | "minimal" | "secret-get" | "secret-batch" | "secret-get-info-log" | "token" | "token-jwt" | "bare-end";

interface Scenario {
  id: ScenarioId;
  label: string;
  target: TargetSpec;
  /** Fewer for the token endpoint, whose issuance signs a JWT. */
  connections: number;
  /** The audit key (`action:outcome`) every 2xx response must have committed, and how many per response. */
  audit?: { key: string; perResponse: number };
  request(ready: TargetReady): Pick<LoadSpec, "url" | "method" | "headers" | "body" | "verify">;
}

interface ScenarioResult {
  id: ScenarioId;
  label: string;
  /** With --compare: which checkout served this run. */
  side?: CompareSide;
  connections: number;
  warmupSeconds: number;
  warmup: { responses: number; clean: boolean };
  load: LoadFigures;
  server: {
    /** CPU used by the target process over the window, in % of one core (user + system). */
    cpuPercent: number;
    /** CPU microseconds per completed request: the cost, independent of fsync waits. */
    cpuMicrosPerRequest: number;
    /** Share of the window the target's event loop was busy (fsync inside SQLite counts as busy). */
    eventLoopUtilization: number;
    rssMiB: number;
    /** Group commit: transactions and audit records committed in the window. */
    auditCommits?: { transactions: number; records: number; meanRecordsPerCommit: number };
    /** Event-loop time blocked inside appendAudit (SQL + fsync), per commit and as a share of the window. */
    auditCommitTime?: { p50Ms: number; p99Ms: number; maxMs: number; shareOfWindow: number };
  };
  durability?: { key: string; committed: number; requiredAtLeast: number; ok: boolean };
  ratioToBare?: number;
  clean: boolean;
  /** With --profile: the V8 CPU profile of the measured window (Chrome DevTools or speedscope open it). */
  profileFile?: string;
  loadAverageBefore: number[];
}

const isTokenAnswer = (body: string) => body.includes('"access_token":"') && body.includes('"token_type":"Bearer"');
const encodeSegment = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

function brokerOf(ready: TargetReady): NonNullable<TargetReady["broker"]> {
  if (!ready.broker) throw new Error("this scenario needs a broker target");
  return ready.broker;
}

function secretGet(ready: TargetReady): ReturnType<Scenario["request"]> {
  const broker = brokerOf(ready);
  const [name, value] = Object.entries(broker.secrets)[0]!;
  const expected = `"value":${JSON.stringify(value)}`;
  return {
    url: `${ready.url}/v1/secrets/${name}`,
    method: "GET",
    headers: { authorization: `Bearer ${broker.token}` },
    verify: (body) => body.includes(expected) && body.includes('"lease_id":"'),
  };
}

const BARE: Scenario = {
  id: "bare",
  label: "bare hono, fixed JSON",
  target: { kind: "bare" },
  connections: 50,
  request: (ready) => {
    const expected = JSON.stringify(BARE_RESPONSE);
    return { url: `${ready.url}/`, method: "GET", verify: (body) => body === expected };
  },
};

/**
 * The calibration: the same read against bench/minimal-target.ts, which does the issue's hot-path
 * list and nothing else. Its ratio to bare is what this machine allows a durable read path at all;
 * the broker's ratio to it is the cost of the product's own work.
 */
const MINIMAL: Scenario = {
  id: "minimal",
  label: "minimal hot path (calibration)",
  target: { kind: "minimal" },
  connections: 50,
  audit: { key: "secret.read:allowed", perResponse: 1 },
  request: secretGet,
};

/**
 * In run order. The bare app runs first and again last: on a shared machine the capacity drifts,
 * and the ratio divides by the mean of the two bare runs that bracket the broker's.
 */
const SCENARIOS: Scenario[] = [
  BARE,
  MINIMAL,
  {
    id: "secret-get",
    label: "GET /v1/secrets/{path}",
    target: { kind: "broker", logLevel: "silent", secretCount: BATCH_SIZE },
    connections: 50,
    audit: { key: "secret.read:allowed", perResponse: 1 },
    request: secretGet,
  },
  {
    id: "secret-batch",
    label: `POST /v1/secrets/read (${BATCH_SIZE} names)`,
    target: { kind: "broker", logLevel: "silent", secretCount: BATCH_SIZE },
    connections: 50,
    audit: { key: "secret.read:allowed", perResponse: BATCH_SIZE },
    request: (ready) => {
      const broker = brokerOf(ready);
      const expected = Object.values(broker.secrets).map((value) => `"value":${JSON.stringify(value)}`);
      return {
        url: `${ready.url}/v1/secrets/read`,
        method: "POST",
        headers: { authorization: `Bearer ${broker.token}`, "content-type": "application/json" },
        body: JSON.stringify({ names: Object.keys(broker.secrets) }),
        verify: (body) => expected.every((fragment) => body.includes(fragment)),
      };
    },
  },
  {
    id: "secret-get-info-log",
    label: "GET /v1/secrets/{path}, info log to /dev/null",
    target: { kind: "broker", logLevel: "info", secretCount: BATCH_SIZE },
    connections: 50,
    audit: { key: "secret.read:allowed", perResponse: 1 },
    request: secretGet,
  },
  {
    id: "token",
    label: "POST /v1/auth/token (client_secret, HMAC)",
    target: { kind: "broker", logLevel: "silent", secretCount: BATCH_SIZE },
    // The same connections for both token scenarios, so their rates compare.
    connections: 4,
    audit: { key: "auth.token:allowed", perResponse: 1 },
    request: (ready) => {
      const broker = brokerOf(ready);
      return {
        url: `${ready.url}/v1/auth/token`,
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: broker.clientId, client_secret: broker.clientSecret }).toString(),
        verify: isTokenAnswer,
      };
    },
  },
  {
    id: "token-jwt",
    label: "POST /v1/auth/token (private_key_jwt, EdDSA)",
    target: { kind: "broker", logLevel: "silent", secretCount: BATCH_SIZE },
    connections: 4,
    audit: { key: "auth.token:allowed", perResponse: 1 },
    request: (ready) => {
      const broker = brokerOf(ready);
      if (broker.assertionKeyPem === undefined) throw new Error("token-jwt needs a broker target with a registered key");
      const key = createPrivateKey(broker.assertionKeyPem);
      const header = encodeSegment({ alg: "EdDSA", typ: "JWT" });
      // A fresh assertion per request: each jti is accepted once. Signing here costs the driver, not the broker.
      const assertion = () => {
        const now = Math.floor(Date.now() / 1000);
        const signingInput = `${header}.${encodeSegment({ iss: broker.clientId, sub: broker.clientId, aud: `${ready.url}/v1/auth/token`, iat: now, exp: now + 120, jti: randomUUID() })}`;
        return `${signingInput}.${sign(null, Buffer.from(signingInput), key).toString("base64url")}`;
      };
      return {
        url: `${ready.url}/v1/auth/token`,
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: () =>
          new URLSearchParams({ grant_type: "client_credentials", client_id: broker.clientId, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion() }).toString(),
        verify: isTokenAnswer,
      };
    },
  },
  { ...BARE, id: "bare-end", label: "bare hono again (end of run)" },
];

function serverFigures(before: TargetStats, after: TargetStats, wallSeconds: number, responses: number): ScenarioResult["server"] {
  const cpuMicros = after.cpuUserMicros - before.cpuUserMicros + (after.cpuSystemMicros - before.cpuSystemMicros);
  const active = after.eluActiveMs - before.eluActiveMs;
  const idle = after.eluIdleMs - before.eluIdleMs;
  const server: ScenarioResult["server"] = {
    cpuPercent: Math.round((cpuMicros / 1e6 / wallSeconds) * 1000) / 10,
    cpuMicrosPerRequest: responses > 0 ? Math.round(cpuMicros / responses) : 0,
    eventLoopUtilization: Math.round((active / Math.max(1, active + idle)) * 1000) / 1000,
    rssMiB: Math.round(after.rssBytes / 2 ** 20),
  };
  if (before.auditBatches && after.auditBatches) {
    const transactions = after.auditBatches.count - before.auditBatches.count;
    const records = after.auditBatches.records - before.auditBatches.records;
    server.auditCommits = { transactions, records, meanRecordsPerCommit: transactions > 0 ? Math.round((records / transactions) * 10) / 10 : 0 };
  }
  if (before.auditCommitTime && after.auditCommitTime) {
    const histogram = after.auditCommitTime.histogram100Micros.map((count, index) => count - (before.auditCommitTime?.histogram100Micros[index] ?? 0));
    const commits = histogram.reduce((sum, count) => sum + count, 0);
    const quantileMs = (q: number) => {
      let seen = 0;
      for (let index = 0; index < histogram.length; index++) {
        seen += histogram[index]!;
        // The last bucket holds everything slower: report the maximum seen rather than its edge.
        if (seen >= Math.ceil(q * commits)) return index === histogram.length - 1 ? Math.round(after.auditCommitTime!.maxMicros / 100) / 10 : ((index + 1) * 100) / 1000;
      }
      return after.auditCommitTime!.maxMicros / 1000;
    };
    const blockedMicros = after.auditCommitTime.totalMicros - before.auditCommitTime.totalMicros;
    server.auditCommitTime = {
      p50Ms: commits ? quantileMs(0.5) : 0,
      p99Ms: commits ? quantileMs(0.99) : 0,
      // Upper edge of the highest bucket hit in the window; the overflow bucket reports the maximum since start.
      maxMs: (() => {
        const top = histogram.findLastIndex((count) => count > 0);
        return top < 0 ? 0 : top === histogram.length - 1 ? Math.round(after.auditCommitTime!.maxMicros / 100) / 10 : ((top + 1) * 100) / 1000;
      })(),
      shareOfWindow: Math.round((blockedMicros / 1e6 / wallSeconds) * 1000) / 1000,
    };
  }
  return server;
}

function auditDelta(before: AuditCounts, after: AuditCounts, key: string): number {
  return (after[key] ?? 0) - (before[key] ?? 0);
}

interface PlannedRun {
  scenario: Scenario;
  /** With --compare: the checkout to start the target from. */
  side?: { name: CompareSide; root: string; label: string };
}

async function runScenario(
  { scenario, side }: PlannedRun,
  options: { durationSeconds: number; warmupSeconds: number; connections?: number; profileDir?: string; stamp: string },
): Promise<ScenarioResult> {
  const connections = scenario.id === "token" || scenario.id === "token-jwt" ? scenario.connections : (options.connections ?? scenario.connections);
  const loadAverageBefore = loadavg().map((value) => Math.round(value * 100) / 100);
  const target = await TargetProcess.start(scenario.target, [], side?.root);
  try {
    const request = scenario.request(target.ready);
    const warmup = await runLoad({ ...request, title: `${scenario.id} warm-up`, connections, durationSeconds: options.warmupSeconds });

    if (options.profileDir) await target.profileStart(500);
    const auditBefore = await target.auditCounts();
    const statsBefore = await target.stats();
    const windowStart = process.hrtime.bigint();
    const load = await runLoad({ ...request, title: scenario.id, connections, durationSeconds: options.durationSeconds });
    const wallSeconds = Number(process.hrtime.bigint() - windowStart) / 1e9;
    const statsAfter = await target.stats();
    let profileFile: string | undefined;
    if (options.profileDir) {
      profileFile = `${options.profileDir}/${scenario.id}${side ? `-${side.name}` : ""}-${options.stamp}.cpuprofile`;
      await target.profileStop(profileFile);
    }
    const auditAfter = await target.auditCounts();

    const result: ScenarioResult = {
      id: scenario.id,
      label: side ? `${scenario.label} ${side.label}` : scenario.label,
      ...(side && { side: side.name }),
      connections,
      warmupSeconds: options.warmupSeconds,
      warmup: { responses: warmup.responses, clean: isClean(warmup, true) },
      load,
      server: serverFigures(statsBefore, statsAfter, wallSeconds, load.responses),
      clean: isClean(warmup, true) && isClean(load),
      loadAverageBefore,
      ...(profileFile && { profileFile }),
    };
    if (scenario.audit) {
      const committed = auditDelta(auditBefore, auditAfter, scenario.audit.key);
      const requiredAtLeast = load.ok2xx * scenario.audit.perResponse;
      // Every 2xx was sent only after its records committed; requests cut off when the window
      // closed may add a few more, never fewer.
      result.durability = { key: scenario.audit.key, committed, requiredAtLeast, ok: committed >= requiredAtLeast };
      result.clean &&= result.durability.ok;
    }
    return result;
  } finally {
    await target.stop();
  }
}

function formatTable(results: ScenarioResult[]): string {
  const header = ["scenario", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "vs bare", "bad", "srv CPU", "CPU µs/req", "audit/commit", "durable in p50/p99 ms", "commit in flight", "durable"];
  const rows = results.map((result) => [
    result.label,
    String(result.connections),
    result.load.requestsPerSecond.toLocaleString("en-US"),
    result.load.latencyMs.p50.toFixed(2),
    result.load.latencyMs.p99.toFixed(2),
    result.load.latencyMs.max.toFixed(1),
    result.ratioToBare === undefined ? "" : result.ratioToBare.toFixed(3),
    String(result.load.non2xx + result.load.errors + result.load.timeouts + result.load.mismatches + (result.warmup.clean ? 0 : 1)),
    `${result.server.cpuPercent}%`,
    String(result.server.cpuMicrosPerRequest),
    result.server.auditCommits ? String(result.server.auditCommits.meanRecordsPerCommit) : "",
    result.server.auditCommitTime ? `${result.server.auditCommitTime.p50Ms.toFixed(1)}/${result.server.auditCommitTime.p99Ms.toFixed(1)}` : "",
    result.server.auditCommitTime ? `${Math.round(result.server.auditCommitTime.shareOfWindow * 100)}%` : "",
    result.durability ? (result.durability.ok ? "yes" : "NO") : "",
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ");
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}

function verdict(results: ScenarioResult[]): string[] {
  const lines: string[] = [];
  // With several read rounds (--paired), the verdict is the median round's.
  const reads = results.filter((result) => result.id === "secret-get");
  const get = reads.length > 0 ? lowerMedian(reads, (result) => result.ratioToBare ?? 0) : undefined;
  const bare = results.filter((result) => result.id === "bare" || result.id === "bare-end");
  if (bare.length === 2) {
    const [first, last] = bare.map((result) => result.load.requestsPerSecond);
    lines.push(`bare app: ${first} req/s at the start, ${last} at the end (drift ${(((last! - first!) / first!) * 100).toFixed(1)}%); ratios divide by their mean`);
  }
  if (get && get.ratioToBare !== undefined) {
    const ratioOk = get.ratioToBare >= TARGETS.ratioToBare;
    const p99Ok = get.load.latencyMs.p99 < TARGETS.p99Ms;
    lines.push(
      `hot path: ${get.ratioToBare.toFixed(3)} of bare throughput (target ≥ ${TARGETS.ratioToBare}: ${ratioOk ? "met" : "MISSED"}), ` +
        `p99 ${get.load.latencyMs.p99.toFixed(2)} ms (target < ${TARGETS.p99Ms} ms: ${p99Ok ? "met" : "MISSED"})`,
    );
  }
  const minimal = results.filter((result) => result.id === "minimal");
  if (get && minimal.length === 1 && minimal[0]!.ratioToBare !== undefined) {
    lines.push(
      `calibration (the issue's list only): ${minimal[0]!.ratioToBare.toFixed(3)} of bare; ` +
        `the broker reaches ${(get.load.requestsPerSecond / minimal[0]!.load.requestsPerSecond).toFixed(3)} of it`,
    );
  }
  const info = results.find((result) => result.id === "secret-get-info-log");
  if (get && info) {
    const rps = (info.load.requestsPerSecond / get.load.requestsPerSecond - 1) * 100;
    const cpu = info.server.cpuMicrosPerRequest - get.server.cpuMicrosPerRequest;
    lines.push(`info logging to /dev/null: ${rps >= 0 ? "+" : ""}${rps.toFixed(1)}% req/s, ${cpu >= 0 ? "+" : ""}${cpu} µs CPU per request`);
  }
  for (const result of results) {
    if (result.clean) continue;
    lines.push(
      `INVALID ${result.id}: non-2xx ${result.load.non2xx} (${JSON.stringify(result.load.statusCodes)}), errors ${result.load.errors}, ` +
        `timeouts ${result.load.timeouts}, body mismatches ${result.load.mismatches}, warm-up clean ${result.warmup.clean}` +
        (result.durability && !result.durability.ok ? `, audit committed ${result.durability.committed} < ${result.durability.requiredAtLeast} required` : ""),
    );
  }
  return lines;
}

/** `--compare`: the runs in order, two per round (one of each side), as tree ÷ ref ratios. */
function compareResults(results: ScenarioResult[]): CompareSummary {
  const rounds: Array<Record<CompareSide, CompareFigures>> = [];
  for (let index = 0; index + 1 < results.length; index += 2) {
    const pair = [results[index]!, results[index + 1]!];
    const figures = (side: CompareSide) => {
      const run = pair.find((result) => result.side === side)!;
      const commitShare = run.server.auditCommitTime?.shareOfWindow;
      return { requestsPerSecond: run.load.requestsPerSecond, cpuMicrosPerRequest: run.server.cpuMicrosPerRequest, ...(commitShare !== undefined && { commitShare }) };
    };
    rounds.push({ ref: figures("ref"), tree: figures("tree") });
  }
  return compareRounds(rounds);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      connections: { type: "string" },
      only: { type: "string" },
      profile: { type: "boolean", default: false },
      out: { type: "string" },
      paired: { type: "string" },
      compare: { type: "string" },
    },
  });
  const durationSeconds = Number(values.duration);
  const warmupSeconds = Number(values.warmup);
  const wanted = values.only?.split(",").map((id) => id.trim());
  const unknown = wanted?.filter((id) => !SCENARIOS.some((scenario) => scenario.id === id)) ?? [];
  if (unknown.length > 0 || !(durationSeconds > 0) || !(warmupSeconds >= 0)) {
    console.error(`usage: npm run bench -- [--duration S] [--warmup S] [--connections N] [--only ${SCENARIOS.map((s) => s.id).join(",")}] [--paired N] [--compare REF] [--profile]`);
    process.exit(2);
  }
  const rounds = values.paired === undefined ? (values.compare === undefined ? 0 : 4) : Number(values.paired);
  // --compare runs one scenario of the broker's (or the calibration's) from both checkouts.
  const comparedScenario = values.compare === undefined ? undefined : SCENARIOS.find((scenario) => scenario.id === (wanted?.[0] ?? "secret-get"))!;
  if (comparedScenario && ((wanted !== undefined && wanted.length !== 1) || comparedScenario.id === "bare" || comparedScenario.id === "bare-end")) {
    console.error("--compare takes at most one scenario with --only, and not the bare app");
    process.exit(2);
  }
  if (values.paired !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) {
    console.error("--paired takes a number of rounds (>= 1)");
    process.exit(2);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const resultsDir = fileURLToPath(new URL("./results", import.meta.url));
  const profileDir = values.profile ? `${resultsDir}/profiles` : undefined;
  mkdirSync(profileDir ?? resultsDir, { recursive: true });

  const machine: MachineFacts = machineFacts();
  console.error(
    `credbroker hot-path bench: ${machine.nproc} CPUs (${machine.cpuModel}), node ${machine.node}, load ${machine.loadAverage.join(" ")}, ` +
      `fsync p50 ${machine.fsyncMicros.p50} µs p99 ${machine.fsyncMicros.p99} µs`,
  );
  console.error(`${durationSeconds} s measured after ${warmupSeconds} s warm-up per scenario${profileDir ? "; PROFILING (figures not comparable)" : ""}`);

  // Checked out last before the runs, so nothing between here and the finally below can leave it behind.
  let reference: RefCheckout | undefined;
  if (values.compare !== undefined) {
    try {
      reference = checkoutRef(values.compare);
    } catch (error) {
      console.error(`--compare ${values.compare}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(2);
    }
  }
  // `--only bare` brings its closing twin along. `--paired N` runs bare, the calibration and
  // secret-get N times and closes with bare: each read is compared with the bare runs on either
  // side, and with the calibration just before it.
  // `--compare REF` runs only reads (or the one scenario --only names), from REF's checkout and
  // from this tree, in A B B A order.
  const byId = (id: ScenarioId) => SCENARIOS.find((scenario) => scenario.id === id)!;
  const sides = reference && {
    ref: { name: "ref" as const, root: reference.root, label: `@ ${values.compare} (${reference.commit.slice(0, 7)})` },
    tree: { name: "tree" as const, root: REPO_ROOT, label: "@ working tree" },
  };
  const plan: PlannedRun[] = sides
    ? Array.from({ length: rounds }, (_, index) => roundOrder(index).map((name) => ({ scenario: comparedScenario!, side: sides[name] }))).flat()
    : (rounds > 0
        ? [...Array.from({ length: rounds }, () => [byId("bare"), byId("minimal"), byId("secret-get")]).flat(), byId("bare-end")]
        : SCENARIOS.filter((scenario) => !wanted || wanted.includes(scenario.id) || (scenario.id === "bare-end" && wanted.includes("bare")))
      ).map((scenario) => ({ scenario }));
  const results: ScenarioResult[] = [];
  try {
    for (const run of plan) {
      console.error(`- ${run.scenario.label}${run.side ? ` ${run.side.label}` : ""} ...`);
      const result = await runScenario(run, {
      durationSeconds,
      warmupSeconds,
      ...(values.connections !== undefined && { connections: Number(values.connections) }),
      ...(profileDir && { profileDir }),
      stamp,
      });
      results.push(result);
      console.error(`  ${result.load.requestsPerSecond} req/s, p99 ${result.load.latencyMs.p99} ms, ${result.clean ? "clean" : "INVALID"}`);
      // Let the previous target's exit and file removal settle before the next one starts.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    reference?.remove();
  }
  const bareRuns = results.filter((result) => result.id === "bare" || result.id === "bare-end");
  if (bareRuns.length > 0) {
    const bareRps = bareRuns.reduce((sum, result) => sum + result.load.requestsPerSecond, 0) / bareRuns.length;
    for (const result of results) result.ratioToBare = Math.round((result.load.requestsPerSecond / bareRps) * 1000) / 1000;
  }
  const paired = rounds > 0 && !reference ? applyPairedRatios(results) : undefined;
  const comparison = reference ? compareResults(results) : undefined;


  console.log("");
  console.log(formatTable(results));
  console.log("");
  for (const line of verdict(results)) console.log(line);
  if (comparison) {
    console.log(
      `working tree vs ${values.compare} (${reference!.commit.slice(0, 7)}), ${rounds} round${rounds === 1 ? "" : "s"}: throughput ${comparison.throughputRatios.join(", ")} (median ${comparison.medianThroughputRatio}); ` +
        `CPU per read ${comparison.cpuRatios.join(", ")} (median ${comparison.medianCpuRatio})`,
    );
    const shares = comparison.medianCommitShare;
    if (shares) console.log(`commit in flight, median round: ${values.compare} ${Math.round(shares.ref * 1000) / 10}%, working tree ${Math.round(shares.tree * 1000) / 10}%`);
  }
  if (paired) {
    for (const index of paired.disturbedBare) {
      const run = results[index]!;
      console.log(
        `left out of the ratios: bare run ${index + 1} (${run.load.requestsPerSecond} req/s at ${run.server.cpuMicrosPerRequest} µs CPU per request and ` +
          `${run.server.cpuPercent}% of a core: more than ${DISTURBED_BARE_FACTOR}x the run's median CPU per request, or under ` +
          `${DISTURBED_BARE_SHARE}x its median CPU share: another tenant on the machine)`,
      );
    }
    console.log(`paired rounds: ratios ${paired.ratios.map((ratio) => ratio.toFixed(3)).join(", ")}; median ${paired.median.toFixed(3)}; median p99 ${paired.medianP99Ms.toFixed(2)} ms`);
    console.log(
      `calibration (minimal hot path) vs bare: ${paired.minimalRatios.map((ratio) => ratio.toFixed(3)).join(", ")}; ` +
        `broker ÷ calibration: ${paired.brokerToMinimal.map((ratio) => ratio.toFixed(3)).join(", ")}` +
        (paired.brokerToMinimal.length > 0 ? ` (median ${lowerMedian(paired.brokerToMinimal, (ratio) => ratio).toFixed(3)})` : ""),
    );
    const reach = machineVerdict(paired, TARGETS);
    if (reach) console.log(reach);
  }
  for (const result of results) if (result.profileFile) console.log(`CPU profile of ${result.id}: ${result.profileFile}`);

  const out = values.out ?? `${resultsDir}/hot-path-${stamp}${profileDir ? "-profiled" : ""}.json`;
  const report = {
    bench: "hot-path",
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    startedAt: new Date().toISOString(),
    profiled: Boolean(profileDir),
    settings: { durationSeconds, warmupSeconds, pipelining: 1, durability: "SQLite WAL, synchronous=FULL, group commit per event-loop turn" },
    targets: TARGETS,
    machine,
    results,
    ...(paired && { paired }),
    ...(comparison && { compare: { ref: values.compare, commit: reference!.commit, ...comparison } }),
  };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
  if (results.some((result) => !result.clean)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
