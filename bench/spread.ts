/**
 * The spread over several bench runs: min, median and max of req/s, latency, ratio to bare and
 * server CPU per request, per scenario. Runs with errors count for nothing (they are left out).
 * On a shared machine one run is one sample; compare runs, not single figures.
 *
 *   npx tsx bench/spread.ts bench/results/hot-path-*.json
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface RunFile {
  profiled: boolean;
  machine: { loadAverage: number[] };
  results: Array<{
    id: string;
    label: string;
    clean: boolean;
    ratioToBare?: number;
    load: { requestsPerSecond: number; latencyMs: { p50: number; p99: number } };
    server: { cpuMicrosPerRequest: number };
  }>;
}

function spread(values: number[], digits: number): string {
  if (values.length === 0) return "";
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const format = (value: number) => value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${format(sorted[0]!)} / ${format(middle)} / ${format(sorted.at(-1)!)}`;
}

const { positionals } = parseArgs({ allowPositionals: true });
if (positionals.length === 0) {
  console.error("usage: tsx bench/spread.ts RESULT.json...");
  process.exit(2);
}
const runs = positionals.map((file) => JSON.parse(readFileSync(file, "utf8")) as RunFile).filter((run) => !run.profiled);
const ids = [...new Set(runs.flatMap((run) => run.results.map((result) => result.id)))];
console.log(`${runs.length} runs (profiled runs left out); load averages at start: ${runs.map((run) => run.machine.loadAverage[0]).join(", ")}`);
console.log("min / median / max");
const header = ["scenario", "runs", "req/s", "p50 ms", "p99 ms", "vs bare", "server CPU µs/req"];
const rows = ids.map((id) => {
  const results = runs.flatMap((run) => run.results.filter((result) => result.id === id && result.clean));
  return [
    results[0]?.label ?? id,
    String(results.length),
    spread(results.map((result) => result.load.requestsPerSecond), 0),
    spread(results.map((result) => result.load.latencyMs.p50), 2),
    spread(results.map((result) => result.load.latencyMs.p99), 2),
    spread(results.flatMap((result) => (result.ratioToBare === undefined ? [] : [result.ratioToBare])), 3),
    spread(results.map((result) => result.server.cpuMicrosPerRequest), 0),
  ];
});
const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
for (const row of [header, ...rows]) console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  "));
