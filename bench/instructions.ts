/**
 * Instructions per secret read, counted by valgrind's callgrind: a figure that does not depend on
 * what else the machine is doing, for judging changes of a few per cent that the throughput bench
 * (bench/hot-path.ts) cannot tell apart from this shared machine's drift.
 *
 * Each target (the calibration and the broker, or the broker from two checkouts with --compare)
 * runs under callgrind with instrumentation off; a warm-up compiles the hot path and fills V8's
 * inline caches; then instrumentation is switched on for a fixed number of reads (every answer
 * checked) and off again, and the count is read from callgrind's dump. All threads count: the
 * event loop, the audit committer, V8's helpers. Valgrind runs one thread at a time and ~50x
 * slower, so batches, timing and anything waiting on the disk differ from a real run: compare
 * counts with each other, never with req/s.
 *
 * By default the targets run with `node --no-opt` (interpreter and baseline code only): with V8's
 * optimizing compiler on, its background work during the window was 17-40% of the count, and the
 * count moved by several per cent between runs of the same code; with it off, runs of the same
 * code agree within half a per cent. The price: the figure is the cost of unoptimized code, so a
 * change that only helps optimized code (escape analysis, inlining) shows less here than in real
 * runs, and cache misses never show. `--optimize` counts with the compiler on.
 *
 *   npm run bench:instructions                      # calibration and broker, this checkout
 *   npm run bench:instructions -- --compare HEAD    # the broker from HEAD and from the working tree
 *   npm run bench:instructions -- --reads 3000 --warmup 4000 --connections 8
 *   npm run bench:instructions -- --keep-dumps     # keep callgrind's files for callgrind_annotate
 *   npm run bench:instructions -- --optimize       # V8's optimizing compiler on (noisier)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest, Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { checkoutRef, type RefCheckout } from "./compare.js";
import type { TargetReady, TargetSpec } from "./protocol.js";
import { REPO_ROOT, TargetProcess } from "./target-process.js";

interface Run {
  label: string;
  spec: TargetSpec;
  root: string;
}

interface Counted {
  label: string;
  reads: number;
  instructions: number;
  perRead: number;
}

/** The `totals:` line of a callgrind dump: instructions executed while instrumented. */
export function callgrindTotal(dump: string): number {
  const line = /^totals:\s+(\d+)/m.exec(dump);
  if (!line) throw new Error("callgrind dump without a totals line");
  return Number(line[1]);
}

/** `reads` GETs of the target's first secret over `connections` keep-alive connections; throws on any wrong answer. */
async function readSecrets(ready: TargetReady, reads: number, connections: number): Promise<void> {
  const broker = ready.broker;
  if (!broker) throw new Error("the target serves no secrets");
  const [name, value] = Object.entries(broker.secrets)[0]!;
  const expected = `"value":${JSON.stringify(value)}`;
  const url = new URL(`/v1/secrets/${name}`, ready.url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let left = reads;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest(url, { agent, headers: { authorization: `Bearer ${broker.token}` } }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => (res.statusCode === 200 && body.includes(expected) ? resolve() : reject(new Error(`read answered ${res.statusCode}: ${body.slice(0, 200)}`))));
      });
      req.on("error", reject);
      req.end();
    });
  const worker = async () => {
    while (left > 0) {
      left -= 1;
      await once();
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    agent.destroy();
  }
}

function callgrindControl(pid: number, ...args: string[]): void {
  execFileSync("callgrind_control", [...args, String(pid)], { stdio: "ignore" });
}

interface CountOptions {
  reads: number;
  warmup: number;
  connections: number;
  /** Leave V8's optimizing compiler on (see the file comment). */
  optimize: boolean;
  keepDumps: boolean;
}

async function count(run: Run, options: CountOptions): Promise<Counted> {
  const dumps = mkdtempSync(join(tmpdir(), "credbroker-callgrind-"));
  const wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", `--callgrind-out-file=${join(dumps, "out.%p")}`];
  const target = await TargetProcess.start(run.spec, options.optimize ? [] : ["--no-opt"], run.root, wrapper);
  try {
    await readSecrets(target.ready, options.warmup, options.connections);
    callgrindControl(target.pid, "--instr=on");
    await readSecrets(target.ready, options.reads, options.connections);
    callgrindControl(target.pid, "--instr=off");
    callgrindControl(target.pid, "--dump");
    // The dump on demand is out.<pid>.1 (the final one, at exit, counts nothing: instrumentation is off).
    const dump = readdirSync(dumps).find((file) => file.endsWith(".1"));
    if (!dump) throw new Error(`callgrind wrote no dump in ${dumps}`);
    const instructions = callgrindTotal(readFileSync(join(dumps, dump), "utf8"));
    if (options.keepDumps) console.log(`  dump: ${join(dumps, dump)} (callgrind_annotate it)`);
    return { label: run.label, reads: options.reads, instructions, perRead: Math.round(instructions / options.reads) };
  } finally {
    await target.stop();
    if (!options.keepDumps) rmSync(dumps, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reads: { type: "string", default: "2000" },
      warmup: { type: "string", default: "3000" },
      connections: { type: "string", default: "8" },
      compare: { type: "string" },
      "keep-dumps": { type: "boolean", default: false },
      optimize: { type: "boolean", default: false },
    },
  });
  const options: CountOptions = {
    reads: Number(values.reads),
    warmup: Number(values.warmup),
    connections: Number(values.connections),
    optimize: values.optimize,
    keepDumps: values["keep-dumps"],
  };
  if (![options.reads, options.warmup, options.connections].every((value) => Number.isInteger(value) && value > 0)) {
    console.error("usage: npm run bench:instructions -- [--reads N] [--warmup N] [--connections N] [--compare REF] [--optimize] [--keep-dumps]");
    process.exitCode = 2;
    return;
  }
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" });
  } catch {
    console.error("valgrind is not installed (Debian: apt-get install valgrind)");
    process.exitCode = 1;
    return;
  }
  const broker: TargetSpec = { kind: "broker", logLevel: "silent", secretCount: 1 };
  let reference: RefCheckout | undefined;
  try {
    if (values.compare !== undefined) reference = checkoutRef(values.compare);
    const runs: Run[] = reference
      ? [
          { label: `broker @ ${values.compare} (${reference.commit.slice(0, 7)})`, spec: broker, root: reference.root },
          { label: "broker @ working tree", spec: broker, root: REPO_ROOT },
        ]
      : [
          { label: "calibration (minimal hot path)", spec: { kind: "minimal" }, root: REPO_ROOT },
          { label: "broker", spec: broker, root: REPO_ROOT },
        ];
    console.log(
      `instructions per GET /v1/secrets/{path} (callgrind, ${options.reads} reads after ${options.warmup}, ${options.connections} connections, ` +
        `${options.optimize ? "optimizing compiler on: counts include its work and vary" : "node --no-opt"})`,
    );
    const counted: Counted[] = [];
    for (const run of runs) {
      const result = await count(run, options);
      counted.push(result);
      console.log(`  ${result.label}: ${result.perRead.toLocaleString("en")} per read (${result.instructions.toLocaleString("en")} in all)`);
    }
    const [first, second] = counted as [Counted, Counted];
    console.log(reference ? `working tree ÷ ${values.compare}: ${(second.perRead / first.perRead).toFixed(3)}` : `broker ÷ calibration: ${(second.perRead / first.perRead).toFixed(3)}`);
  } finally {
    reference?.remove();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
